//! The results, as an aligned table for people and one JSON document for
//! harnesses.

use std::fmt::Write as _;

use serde::Serialize;

use crate::fixture::Shape;
use crate::memory::Footprint;
use crate::runner::StoreKind;

/// Everything one run measured, and with what.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The arguments the run used.
    pub params: Params,
    /// The machine it ran on.
    pub machine: Machine,
    /// Bytes each store held per row after the fill.
    pub memory: Vec<Footprint>,
    /// One row per workload and thread count.
    pub rows: Vec<Row>,
    /// Wall time of the whole run, fills included.
    pub elapsed_seconds: f64,
}

/// The arguments of a run.
#[derive(Debug, Serialize)]
pub struct Params {
    /// The data shape (rows, tenants, agents, conversations).
    pub shape: Shape,
    /// Thread counts measured.
    pub threads: Vec<u32>,
    /// Seconds per measured round.
    pub seconds: f64,
    /// Rounds per measurement (the median is reported).
    pub rounds: u32,
    /// Workloads run, by name.
    pub workloads: Vec<&'static str>,
    /// Seed of every random choice.
    pub seed: u64,
    /// How the workers drove each call (`poll` or `tokio`).
    pub driver: crate::runner::Driver,
}

/// Where the run happened.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// `std::thread::available_parallelism`.
    pub cores: usize,
    /// Thread counts above `cores`: measured, but oversubscribed.
    pub oversubscribed_threads: Vec<u32>,
    /// Operating system and architecture.
    pub target: String,
}

/// One workload at one thread count, every store measured.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Workload name.
    pub workload: &'static str,
    /// What is counted per second.
    pub unit: &'static str,
    /// Worker threads.
    pub threads: u32,
    /// More worker threads than cores.
    pub oversubscribed: bool,
    /// entelix's `InMemoryStore`, the reference of every ratio.
    pub baseline: Side,
    /// `SkipStore`, when measured (it is by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipstore: Option<Side>,
    /// `skipstore.median / baseline.median` (above 1: skipstore is faster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The peers measured (`--stores moka,dashmap,scc`), in that order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Peer>,
    /// Workload-specific observations (rows held, time per call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A peer's measurements of one row.
#[derive(Debug, Serialize)]
pub struct Peer {
    /// Which peer.
    pub store: StoreKind,
    /// Its measurements.
    #[serde(flatten)]
    pub side: Side,
    /// `side.median / baseline.median` (above 1: the peer is faster).
    pub ratio: f64,
}

impl Row {
    /// A row from each store's measurements (the baseline's among them),
    /// in store order.
    pub fn new(
        workload: &'static str,
        unit: &'static str,
        threads: u32,
        oversubscribed: bool,
        sides: Vec<(StoreKind, Side)>,
        note: Option<String>,
    ) -> Self {
        let mut baseline = Side::default();
        let mut skipstore = None;
        let mut others = Vec::new();
        for (kind, side) in sides {
            match kind {
                StoreKind::Baseline => baseline = side,
                StoreKind::SkipStore => skipstore = Some(side),
                _ => others.push((kind, side)),
            }
        }
        let ratio_of = |side: &Side| {
            if baseline.median > 0.0 {
                side.median / baseline.median
            } else {
                f64::NAN
            }
        };
        let ratio = skipstore.as_ref().map(ratio_of);
        let peers = others
            .into_iter()
            .map(|(store, side)| Peer {
                store,
                ratio: ratio_of(&side),
                side,
            })
            .collect();
        Self {
            workload,
            unit,
            threads,
            oversubscribed,
            baseline,
            skipstore,
            ratio,
            peers,
            note,
        }
    }

    /// Every store's measurements in store order, each with its ratio to
    /// the baseline (none for the baseline itself).
    pub fn stores(&self) -> Vec<(StoreKind, &Side, Option<f64>)> {
        let mut all = vec![(StoreKind::Baseline, &self.baseline, None)];
        if let (Some(side), Some(ratio)) = (&self.skipstore, self.ratio) {
            all.push((StoreKind::SkipStore, side, Some(ratio)));
        }
        all.extend(self.peers.iter().map(|p| (p.store, &p.side, Some(p.ratio))));
        all
    }
}

/// One store's measurements of one row.
#[derive(Debug, Default, Serialize)]
pub struct Side {
    /// Median of `rounds`.
    pub median: f64,
    /// Throughput of each round, in the unit of the row.
    pub rounds: Vec<f64>,
    /// TTL churn: rows held (`total_entries`) when the writers stopped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows_held_at_end: Vec<usize>,
    /// Expiry: seconds per `evict_expired` call, per round.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seconds_per_call: Vec<f64>,
    /// Expiry: share of the expired rows the timed calls removed, per round.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evicted_share: Vec<f64>,
}

impl Side {
    /// Sets `median` from `rounds`.
    pub fn finish(&mut self) {
        self.median = median(&self.rounds);
    }
}

/// The median (mean of the middle two for an even count; 0 when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `1234567.0` as `1.23 M`, and so on.
pub fn human(x: f64) -> String {
    let (scaled, suffix) = if x >= 1e9 {
        (x / 1e9, " G")
    } else if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " k")
    } else {
        (x, "  ")
    };
    let digits = if scaled >= 100.0 { 1 } else { 2 };
    format!("{scaled:.digits$}{suffix}")
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| format!("cannot encode the report: {e}"))
    }

    /// The report as an aligned table, with a header and a memory line.
    pub fn to_table(&self) -> String {
        let p = &self.params;
        let s = &p.shape;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} rows in {} conversation namespaces (tenants: {}, agents: {}, conversations \
             per agent: {}), {} rounds x {:.2} s, median shown; calls driven by {:?}; {} cores, {}",
            s.entries,
            s.namespaces,
            s.tenants,
            s.agents,
            s.conversations_per_agent,
            p.rounds,
            p.seconds,
            p.driver,
            self.machine.cores,
            self.machine.target,
        );
        out.push('\n');
        let stores: Vec<StoreKind> = self
            .rows
            .first()
            .map(|row| row.stores().iter().map(|(kind, ..)| *kind).collect())
            .unwrap_or_default();
        let mut header = vec!["workload", "threads", "unit"];
        for kind in &stores {
            header.push(kind.name());
            if *kind != StoreKind::Baseline {
                header.push("ratio");
            }
        }
        header.push("note");
        let mut lines = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
        for row in &self.rows {
            let star = if row.oversubscribed { "*" } else { "" };
            let mut line = vec![
                row.workload.to_owned(),
                format!("{}{star}", row.threads),
                row.unit.to_owned(),
            ];
            for (_, side, ratio) in row.stores() {
                line.push(human(side.median));
                if let Some(ratio) = ratio {
                    line.push(format!("{ratio:.2}x"));
                }
            }
            line.push(row.note.clone().unwrap_or_default());
            lines.push(line);
        }
        push_aligned(&mut out, &lines);
        out.push('\n');
        for m in &self.memory {
            let listed = m
                .listed_bytes_per_entry
                .map(|b| format!("; {b:.1} B/entry once every namespace is listed"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "memory  {:<9}  {:>7.1} B/entry  ({:.1} MB for {} rows, filled in {:.2} s{listed})",
                m.store.name(),
                m.bytes_per_entry,
                m.bytes as f64 / 1e6,
                m.rows,
                m.fill_seconds,
            );
        }
        if !self.machine.oversubscribed_threads.is_empty() {
            let _ = writeln!(
                out,
                "* oversubscribed: more threads than the machine's {} cores (shows behaviour under contention)",
                self.machine.cores
            );
        }
        let explained = if stores == StoreKind::BOTH {
            "ratio = skipstore / baseline; above 1.00x skipstore is faster."
        } else {
            "each ratio = the store on its left / baseline; above 1.00x that store is faster."
        };
        let _ = writeln!(out, "{explained} Ran in {:.1} s.", self.elapsed_seconds);
        out
    }
}

/// Left-aligns text columns (workload, unit, note) and right-aligns the
/// numeric ones (threads, then every figure and ratio).
fn push_aligned(out: &mut String, lines: &[Vec<String>]) {
    let cols = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in lines {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            let w = widths[c];
            let numeric = c == 1 || (3..cols.saturating_sub(1)).contains(&c);
            if numeric {
                let _ = write!(text, "{cell:>w$}  ");
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1_234_567.0), "1.23 M");
        assert_eq!(human(123_456.0), "123.5 k");
        assert_eq!(human(12.0), "12.00  ");
    }

    fn report(stores: &[StoreKind]) -> Report {
        let side = |median: f64| Side {
            median,
            rounds: vec![median],
            ..Side::default()
        };
        let sides = stores
            .iter()
            .enumerate()
            .map(|(i, &kind)| (kind, side(100.0 * (i + 1) as f64)))
            .collect();
        Report {
            params: Params {
                shape: Shape::new(10, 2),
                threads: vec![1],
                seconds: 0.1,
                rounds: 1,
                workloads: vec!["get-uniform"],
                seed: 1,
                driver: crate::runner::Driver::Poll,
            },
            machine: Machine {
                cores: 2,
                oversubscribed_threads: vec![],
                target: "test".to_owned(),
            },
            memory: vec![],
            rows: vec![Row::new("get-uniform", "gets/s", 1, false, sides, None)],
            elapsed_seconds: 1.0,
        }
    }

    fn header(table: &str) -> Vec<&str> {
        let line = table.lines().nth(2).unwrap_or_default();
        line.split_whitespace().collect()
    }

    #[test]
    fn the_default_report_keeps_its_shape() {
        let report = report(&StoreKind::BOTH);
        let table = report.to_table();
        assert_eq!(
            header(&table),
            [
                "workload",
                "threads",
                "unit",
                "baseline",
                "skipstore",
                "ratio",
                "note"
            ]
        );
        assert!(table.contains("ratio = skipstore / baseline;"));
        let json: serde_json::Value =
            serde_json::from_str(&report.to_json().unwrap_or_default()).unwrap_or_default();
        let row = &json["rows"][0];
        assert_eq!(row["ratio"], 2.0);
        assert_eq!(row["skipstore"]["median"], 200.0);
        assert!(row.get("peers").is_none(), "{row}");
    }

    #[test]
    fn peers_get_a_figure_and_a_ratio_each() {
        let all = [
            StoreKind::Baseline,
            StoreKind::SkipStore,
            StoreKind::Moka,
            StoreKind::DashMap,
            StoreKind::Scc,
        ];
        let report = report(&all);
        let table = report.to_table();
        assert_eq!(
            header(&table),
            [
                "workload",
                "threads",
                "unit",
                "baseline",
                "skipstore",
                "ratio",
                "moka",
                "ratio",
                "dashmap",
                "ratio",
                "scc",
                "ratio",
                "note"
            ]
        );
        let figures: Vec<&str> = table
            .lines()
            .nth(3)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            figures[3..],
            [
                "100.0", "200.0", "2.00x", "300.0", "3.00x", "400.0", "4.00x", "500.0", "5.00x"
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&report.to_json().unwrap_or_default()).unwrap_or_default();
        let peers = &json["rows"][0]["peers"];
        assert_eq!(peers[0]["store"], "moka");
        assert_eq!(peers[1]["store"], "dashmap");
        assert_eq!(peers[2]["store"], "scc");
        assert_eq!(peers[2]["median"], 500.0);
        assert_eq!(peers[2]["ratio"], 5.0);
        // Without skipstore, the row has no skipstore side and no ratio.
        let report = super::tests::report(&[StoreKind::Baseline, StoreKind::Scc]);
        let json: serde_json::Value =
            serde_json::from_str(&report.to_json().unwrap_or_default()).unwrap_or_default();
        assert!(json["rows"][0].get("skipstore").is_none());
        assert!(json["rows"][0].get("ratio").is_none());
        assert_eq!(json["rows"][0]["peers"][0]["ratio"], 2.0);
    }
}
