//! The `grow` workload: one writer grows an empty store to `--grow-rows`
//! rows over [`NAMESPACES`] namespaces, and every `put` is timed on its
//! own. Throughput hides a writer stalled for a whole index resize (one
//! put in a million); the longest put, p99.9 and p99 show it.
//!
//! Each round grows a fresh store of each kind (alternating which goes
//! first); the table shows every round and the median of each column.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::Namespace;

use crate::cli::Args;
use crate::runner::{StoreKind, Subject, ready, release_freed_memory};

/// Namespaces the rows are spread over, round-robin.
pub const NAMESPACES: usize = 1_000;

/// One grown store: the latency profile of its puts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Growth {
    /// Which store.
    pub store: StoreKind,
    /// The longest single put, in milliseconds.
    pub max_ms: f64,
    /// 99.9th percentile put, in microseconds.
    pub p999_us: f64,
    /// 99th percentile put, in microseconds.
    pub p99_us: f64,
    /// Puts per second over the whole growth (timing included).
    pub puts_per_second: f64,
}

/// Every round of both stores, and the parameters.
#[derive(Debug, serde::Serialize)]
pub struct GrowReport {
    /// Rows each store grows to.
    pub rows: u64,
    /// Namespaces the rows are spread over.
    pub namespaces: usize,
    /// Each round, baseline and skipstore.
    pub rounds: Vec<[Growth; 2]>,
}

/// Grows a store of `kind` to `rows` rows and profiles its puts.
fn grow(kind: StoreKind, rows: u64) -> Result<Growth, String> {
    let subject = Subject::new(kind);
    let ctx = ExecutionContext::new();
    let spaces: Vec<Namespace> = (0..NAMESPACES)
        .map(|i| Namespace::new(TenantId::new("grow")).with_scope(format!("ns-{i:04}")))
        .collect();
    let mut took: Vec<u64> = Vec::with_capacity(rows as usize);
    let mut key = String::with_capacity(16);
    let began = Instant::now();
    for row in 0..rows {
        key.clear();
        let _ = write!(key, "k{row:010}");
        let ns = &spaces[row as usize % NAMESPACES];
        let value = format!("value of row {row}");
        let start = Instant::now();
        ready(subject.store.put(&ctx, ns, &key, value))
            .map_err(|e| format!("grow on {}: {e}", kind.name()))?;
        took.push(start.elapsed().as_nanos() as u64);
    }
    let elapsed = began.elapsed();
    if subject.total_entries() as u64 != rows {
        return Err(format!(
            "grow on {}: {} rows held, {rows} written",
            kind.name(),
            subject.total_entries()
        ));
    }
    took.sort_unstable();
    let at = |q: f64| {
        let i = ((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1));
        took.get(i).copied().unwrap_or(0) as f64
    };
    Ok(Growth {
        store: kind,
        max_ms: took.last().copied().unwrap_or(0) as f64 / 1e6,
        p999_us: at(0.999) / 1e3,
        p99_us: at(0.99) / 1e3,
        puts_per_second: rows as f64 / elapsed.as_secs_f64().max(1e-9),
    })
}

/// Runs `args.rounds` rounds of both stores.
pub fn run(args: &Args) -> Result<GrowReport, String> {
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut sides: [Option<Growth>; 2] = [None, None];
        for i in order {
            eprintln!(
                "grow: round {}/{} {} to {} rows",
                round + 1,
                args.rounds,
                StoreKind::BOTH[i].name(),
                args.grow_rows
            );
            sides[i] = Some(grow(StoreKind::BOTH[i], args.grow_rows)?);
            // Let the dropped store's memory go back before the next one:
            // otherwise the next store's first large allocation pays for
            // merging the millions of small blocks the last one freed
            // (glibc consolidates them then), a stall that is the
            // harness's, not the store's.
            release_freed_memory();
            std::thread::sleep(Duration::from_millis(100));
        }
        if let [Some(baseline), Some(skipstore)] = sides {
            rounds.push([baseline, skipstore]);
        }
    }
    Ok(GrowReport {
        rows: args.grow_rows,
        namespaces: NAMESPACES,
        rounds,
    })
}

impl GrowReport {
    /// The report as one JSON document.
    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| format!("cannot encode the report: {e}"))
    }

    /// The report as a table: each round, then the medians.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "grow: one writer, empty to {} rows over {} namespaces, every put timed\n\n",
            self.rows, self.namespaces
        );
        let _ = writeln!(
            out,
            "{:<8} {:>20} {:>20} {:>20} {:>22}",
            "round", "longest put (ms)", "p99.9 (us)", "p99 (us)", "puts/s"
        );
        let _ = writeln!(
            out,
            "{:<8} {:>20} {:>20} {:>20} {:>22}",
            "", "base / skip", "base / skip", "base / skip", "base / skip"
        );
        let line = |out: &mut String, label: &str, r: [[f64; 2]; 4]| {
            let _ = writeln!(
                out,
                "{label:<8} {:>9.2} / {:<8.2} {:>9.1} / {:<8.1} {:>9.1} / {:<8.1} {:>10.0} / {:<9.0}",
                r[0][0], r[0][1], r[1][0], r[1][1], r[2][0], r[2][1], r[3][0], r[3][1]
            );
        };
        let cols = |g: &[Growth; 2]| {
            [
                [g[0].max_ms, g[1].max_ms],
                [g[0].p999_us, g[1].p999_us],
                [g[0].p99_us, g[1].p99_us],
                [g[0].puts_per_second, g[1].puts_per_second],
            ]
        };
        for (i, g) in self.rounds.iter().enumerate() {
            line(&mut out, &format!("{}", i + 1), cols(g));
        }
        let mut medians = [[0.0; 2]; 4];
        for (c, col) in medians.iter_mut().enumerate() {
            for (s, cell) in col.iter_mut().enumerate() {
                let mut v: Vec<f64> = self.rounds.iter().map(|g| cols(g)[c][s]).collect();
                v.sort_by(f64::total_cmp);
                *cell = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
            }
        }
        line(&mut out, "median", medians);
        out
    }
}
