//! The results, as an aligned table for people and one JSON document for
//! harnesses.

use std::fmt::Write as _;

use serde::Serialize;

use crate::fixture::Shape;
use crate::memory::Footprint;

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

/// One workload at one thread count, both stores.
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
    /// entelix's `InMemoryStore`.
    pub baseline: Side,
    /// `SkipStore`.
    pub skipstore: Side,
    /// `skipstore.median / baseline.median` (above 1: skipstore is faster).
    pub ratio: f64,
    /// Workload-specific observations (rows held, time per call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
             per agent: {}), {} rounds x {:.2} s, median shown; {} cores, {}",
            s.entries,
            s.namespaces,
            s.tenants,
            s.agents,
            s.conversations_per_agent,
            p.rounds,
            p.seconds,
            self.machine.cores,
            self.machine.target,
        );
        out.push('\n');
        let header = [
            "workload",
            "threads",
            "unit",
            "baseline",
            "skipstore",
            "ratio",
            "note",
        ];
        let mut lines = vec![header.map(str::to_owned).to_vec()];
        for row in &self.rows {
            let star = if row.oversubscribed { "*" } else { "" };
            lines.push(vec![
                row.workload.to_owned(),
                format!("{}{star}", row.threads),
                row.unit.to_owned(),
                human(row.baseline.median),
                human(row.skipstore.median),
                format!("{:.2}x", row.ratio),
                row.note.clone().unwrap_or_default(),
            ]);
        }
        push_aligned(&mut out, &lines);
        out.push('\n');
        for m in &self.memory {
            let _ = writeln!(
                out,
                "memory  {:<9}  {:>7.1} B/entry  ({:.1} MB for {} rows, filled in {:.2} s)",
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
        let _ = writeln!(
            out,
            "ratio = skipstore / baseline; above 1.00x skipstore is faster. Ran in {:.1} s.",
            self.elapsed_seconds
        );
        out
    }
}

/// Left-aligns text columns and right-aligns numeric ones (2 to 5).
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
            let numeric = c == 1 || (3..=5).contains(&c);
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
}
