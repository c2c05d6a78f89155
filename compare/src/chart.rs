//! `--svg`: a grouped bar chart of throughput by workload (baseline beside
//! skipstore, ratio on top), one panel per thread count, drawn with
//! plotters' SVG backend (which writes text as `<text>`, needing no fonts).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{Report, Row, human};

const PANEL_HEIGHT: u32 = 440;
const WIDTH: u32 = 1280;
const BASELINE_COLOR: RGBColor = RGBColor(150, 150, 150);
const SKIPSTORE_COLOR: RGBColor = RGBColor(31, 119, 180);
/// Half the width of one bar, in workload slots.
const BAR_HALF: f64 = 0.18;

/// Writes the chart of `report` to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    let mut counts: Vec<u32> = report.rows.iter().map(|r| r.threads).collect();
    counts.sort_unstable();
    counts.dedup();
    if counts.is_empty() {
        return Err("no rows to chart".to_owned());
    }
    let height = PANEL_HEIGHT * counts.len() as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    for (panel, &threads) in root.split_evenly((counts.len(), 1)).iter().zip(&counts) {
        let rows: Vec<&Row> = report
            .rows
            .iter()
            .filter(|r| r.threads == threads)
            .collect();
        let oversubscribed = rows.iter().any(|r| r.oversubscribed);
        let title = format!(
            "{threads} thread{}{} - {} rows in {} conversations",
            if threads == 1 { "" } else { "s" },
            if oversubscribed {
                " (oversubscribed)"
            } else {
                ""
            },
            report.params.shape.entries,
            report.params.shape.namespaces,
        );
        draw_panel(panel, &title, &rows).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

type DrawResult<T> =
    Result<T, DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    rows: &[&Row],
) -> DrawResult<()> {
    let values = rows
        .iter()
        .flat_map(|r| [r.baseline.median, r.skipstore.median]);
    let positive: Vec<f64> = values.filter(|v| *v > 0.0 && v.is_finite()).collect();
    let top = positive.iter().copied().fold(1.0, f64::max) * 4.0;
    let floor = positive.iter().copied().fold(top, f64::min).max(0.01) / 3.0;
    let slots = rows.len() as f64;
    let names: Vec<&str> = rows.iter().map(|r| r.workload).collect();
    let x = -0.5..slots - 0.5;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(x, (floor..top).log_scale())?;
    // Ticks fall on whole and half slots; only whole ones name a workload.
    let label = |x: &f64| {
        let slot = x.round();
        let whole = (x - slot).abs() < 1e-6 && slot >= 0.0;
        let name = whole.then(|| names.get(slot as usize)).flatten();
        name.map_or_else(String::new, |n| (*n).to_owned())
    };
    let y_label = |y: &f64| human(*y).trim_end().to_owned();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * rows.len() + 1)
        .x_label_formatter(&label)
        .x_label_style(("sans-serif", 13))
        .y_label_formatter(&y_label)
        .y_desc("per second (log scale)")
        .draw()?;
    for (name, color, offset, pick) in [
        (
            "baseline (InMemoryStore)",
            BASELINE_COLOR,
            -BAR_HALF,
            pick_baseline as fn(&Row) -> f64,
        ),
        ("skipstore", SKIPSTORE_COLOR, BAR_HALF, pick_skipstore),
    ] {
        let bars = rows.iter().enumerate().map(move |(i, r)| {
            let centre = i as f64 + offset;
            let top = pick(r).max(floor);
            Rectangle::new(
                [(centre - BAR_HALF, floor), (centre + BAR_HALF, top)],
                color.filled(),
            )
        });
        chart
            .draw_series(bars)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    let ratios = rows.iter().enumerate().map(|(i, r)| {
        let above = r.baseline.median.max(r.skipstore.median).max(floor) * 1.4;
        Text::new(
            format!("{:.2}x", r.ratio),
            (i as f64 - 0.2, above),
            ("sans-serif", 13),
        )
    });
    chart.draw_series(ratios)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn pick_baseline(row: &Row) -> f64 {
    row.baseline.median
}

fn pick_skipstore(row: &Row) -> f64 {
    row.skipstore.median
}
