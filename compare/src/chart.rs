//! `--svg`: a grouped bar chart of throughput by workload (one bar per store,
//! baseline first, each other store's ratio to the baseline on top), one
//! panel per thread count, drawn with plotters' SVG backend (which writes
//! text as `<text>`, needing no fonts).

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::{Report, Row, human};
use crate::runner::StoreKind;

const PANEL_HEIGHT: u32 = 440;
/// The chart's width with two stores; each further store widens it.
const WIDTH: u32 = 1280;
const WIDTH_PER_EXTRA_STORE: u32 = 130;
/// The widest a bar gets, in workload slots (two stores' bars fill 0.72).
const BAR_WIDTH: f64 = 0.36;
/// The most a workload's group of bars spans, in workload slots.
const GROUP_WIDTH: f64 = 0.86;

/// A store's bar colour and legend entry.
fn style(kind: StoreKind) -> (RGBColor, &'static str) {
    match kind {
        StoreKind::Baseline => (RGBColor(150, 150, 150), "baseline (InMemoryStore)"),
        StoreKind::SkipStore => (RGBColor(31, 119, 180), "skipstore"),
        StoreKind::Moka => (RGBColor(255, 127, 14), "moka (sync Cache)"),
        StoreKind::DashMap => (RGBColor(44, 160, 44), "dashmap (DashMap)"),
        StoreKind::Scc => (RGBColor(148, 103, 189), "scc (HashMap + TreeIndex)"),
    }
}

/// Writes the chart of `report` to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    let mut counts: Vec<u32> = report.rows.iter().map(|r| r.threads).collect();
    counts.sort_unstable();
    counts.dedup();
    if counts.is_empty() {
        return Err("no rows to chart".to_owned());
    }
    let stores = report.rows.first().map_or(0, |r| r.stores().len()) as u32;
    let width = WIDTH + WIDTH_PER_EXTRA_STORE * stores.saturating_sub(2);
    let height = PANEL_HEIGHT * counts.len() as u32;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
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
        .flat_map(|r| r.stores().into_iter().map(|(_, side, _)| side.median));
    let positive: Vec<f64> = values.filter(|v| *v > 0.0 && v.is_finite()).collect();
    // Headroom above the tallest bar: for its ratio label, and with more
    // than two stores for the upright labels and a five-line legend.
    let headroom = if rows.first().is_some_and(|r| r.stores().len() > 2) {
        300.0
    } else {
        4.0
    };
    let top = positive.iter().copied().fold(1.0, f64::max) * headroom;
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
    let kinds: Vec<StoreKind> = rows
        .first()
        .map(|r| r.stores().iter().map(|(kind, ..)| *kind).collect())
        .unwrap_or_default();
    let bar = BAR_WIDTH.min(GROUP_WIDTH / kinds.len().max(1) as f64);
    let offset = |j: usize| (j as f64 - (kinds.len() as f64 - 1.0) / 2.0) * bar;
    for (j, &kind) in kinds.iter().enumerate() {
        let (color, name) = style(kind);
        let bars = rows.iter().enumerate().map(move |(i, r)| {
            let centre = i as f64 + offset(j);
            let top = median_of(r, kind).max(floor);
            Rectangle::new(
                [(centre - bar / 2.0, floor), (centre + bar / 2.0, top)],
                color.filled(),
            )
        });
        chart
            .draw_series(bars)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    if kinds == StoreKind::BOTH {
        draw_pair_ratios(&mut chart, rows, floor)?;
    } else {
        draw_upright_ratios(&mut chart, rows, floor, (bar, &offset))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A panel's chart: slots of workloads across, rates on a log scale up.
type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// Two stores: skipstore's ratio above each pair, level.
fn draw_pair_ratios(chart: &mut Panel<'_, '_>, rows: &[&Row], floor: f64) -> DrawResult<()> {
    let ratios = rows.iter().enumerate().map(|(i, r)| {
        let highest = r
            .stores()
            .iter()
            .map(|(_, s, _)| s.median)
            .fold(0.0, f64::max);
        let above = highest.max(floor) * 1.4;
        let ratio = r.ratio.unwrap_or(f64::NAN);
        Text::new(
            format!("{ratio:.2}x"),
            (i as f64 - 0.2, above),
            ("sans-serif", 13),
        )
    });
    chart.draw_series(ratios)?;
    Ok(())
}

/// More than two stores: each store's ratio upright above its own bar
/// (`bar` wide, the `j`th of a slot at `offset(j)` from its centre).
fn draw_upright_ratios(
    chart: &mut Panel<'_, '_>,
    rows: &[&Row],
    floor: f64,
    (bar, offset): (f64, &dyn Fn(usize) -> f64),
) -> DrawResult<()> {
    let upright = ("sans-serif", 11)
        .into_font()
        .transform(FontTransform::Rotate270);
    for (i, r) in rows.iter().enumerate() {
        let labels = r
            .stores()
            .into_iter()
            .enumerate()
            .filter_map(|(j, (_, side, ratio))| {
                let ratio = ratio?;
                let x = i as f64 + offset(j) - bar / 4.0;
                let y = side.median.max(floor) * 1.15;
                Some(Text::new(format!("{ratio:.2}x"), (x, y), upright.clone()))
            });
        chart.draw_series(labels)?;
    }
    Ok(())
}

/// The median of `kind` in `row` (0 if it was not measured).
fn median_of(row: &Row, kind: StoreKind) -> f64 {
    row.stores()
        .into_iter()
        .find(|(k, ..)| *k == kind)
        .map_or(0.0, |(_, side, _)| side.median)
}
