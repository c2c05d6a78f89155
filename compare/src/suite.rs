//! Runs the suite: fills every chosen store (measuring its memory), then
//! every workload at every thread count for every round, rotating which
//! store goes first, and gathers the [`Report`].

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::Args;
use crate::fixture::Fixture;
use crate::memory::{Footprint, measure};
use crate::report::{Machine, Params, Report, Row, Side};
use crate::runner::{Background, StoreKind, Subject, release_freed_memory, run_timed};
use crate::workloads::{self, Worker, Workload};

/// A run's settings, resolved from the arguments.
pub struct Suite<'a> {
    args: &'a Args,
    fixture: &'a Fixture,
    cores: usize,
    progress: ProgressBar,
}

impl<'a> Suite<'a> {
    /// A suite over `fixture`, as `args` ask.
    pub fn new(args: &'a Args, fixture: &'a Fixture) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let runs: u64 = args
            .workloads
            .iter()
            .map(|w| {
                if w.single_threaded() {
                    1
                } else {
                    args.threads.len() as u64
                }
            })
            .sum::<u64>()
            * u64::from(args.rounds)
            * args.stores.len() as u64;
        let progress = ProgressBar::new(runs + args.stores.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise:.dim} [{bar:32.cyan/blue}] {pos}/{len} {msg}",
        ) {
            progress.set_style(style.progress_chars("=> "));
        }
        Self {
            args,
            fixture,
            cores,
            progress,
        }
    }

    /// Runs everything and returns the report.
    pub fn run(&self) -> Result<Report, String> {
        let began = Instant::now();
        let mut memory = Vec::new();
        let mut filled = Vec::new();
        for &kind in &self.args.stores {
            self.progress
                .set_message(format!("filling {}", kind.name()));
            let (subject, footprint) = self.fill_measured(kind)?;
            memory.push(footprint);
            filled.push(subject);
            self.progress.inc(1);
        }
        let mut rows = Vec::new();
        for &workload in &self.args.workloads {
            let counts = if workload.single_threaded() {
                vec![1]
            } else {
                self.args.threads.clone()
            };
            for threads in counts {
                rows.push(self.measure_row(workload, threads, &filled)?);
            }
        }
        self.progress.finish_and_clear();
        Ok(Report {
            params: self.params(),
            machine: self.machine(),
            memory,
            rows,
            elapsed_seconds: began.elapsed().as_secs_f64(),
        })
    }

    fn fill_measured(&self, kind: StoreKind) -> Result<(Subject, Footprint), String> {
        let started = Instant::now();
        let (filled, bytes) = measure(|| {
            let subject = Subject::new(kind);
            workloads::fill(self.fixture, &subject).map(|()| subject)
        });
        let fill_seconds = started.elapsed().as_secs_f64();
        let subject = filled.map_err(|e| format!("filling {}: {e}", kind.name()))?;
        workloads::verify_fill(self.fixture, &subject)
            .map_err(|e| format!("{} lost data after the fill: {e}", kind.name()))?;
        let rows = self.fixture.shape.entries;
        // The baseline keeps nothing for its lists (and listing each of its
        // namespaces scans the whole store), so only SkipStore is listed.
        let listed = match subject.skipstore() {
            Some(_) => {
                let (done, grown) =
                    measure(|| workloads::list_every_namespace(self.fixture, &subject));
                done.map_err(|e| format!("listing {}: {e}", kind.name()))?;
                Some((bytes + grown) as f64 / rows as f64)
            }
            None => None,
        };
        let footprint = Footprint {
            store: kind,
            rows,
            bytes: bytes as i64,
            bytes_per_entry: bytes as f64 / rows as f64,
            listed_bytes_per_entry: listed,
            fill_seconds,
        };
        Ok((subject, footprint))
    }

    fn measure_row(
        &self,
        workload: Workload,
        threads: u32,
        filled: &[Subject],
    ) -> Result<Row, String> {
        let stores = &self.args.stores;
        let mut sides: Vec<Side> = stores.iter().map(|_| Side::default()).collect();
        let sliding;
        let filled = if workload.needs_sliding_store() {
            sliding = self.fill_sliding()?;
            &sliding[..]
        } else {
            filled
        };
        for round in 0..self.args.rounds {
            let seed = self.args.seed
                ^ u64::from(round).wrapping_mul(0x2545_f491_4f6c_dd1d)
                ^ (workload as u64) << 48;
            // Each round starts with the next store, so none always runs
            // first (or last) on a warm or cooling machine.
            for step in 0..stores.len() {
                let i = (round as usize + step) % stores.len();
                let kind = stores[i];
                self.progress.set_message(format!(
                    "{} x{threads} {}",
                    workload.name(),
                    kind.name()
                ));
                self.round(workload, threads, &filled[i], kind, seed, &mut sides[i])
                    .map_err(|e| format!("{} on {}: {e}", workload.name(), kind.name()))?;
                // A round on a fresh store drops it after the clock stops;
                // without this, the next round's first large allocation
                // (the next store's, whichever it is) would pay for merging
                // the hundreds of thousands of small blocks it freed (glibc
                // consolidates them then): a stall of 0.1-0.2 s inside a
                // 0.3 s round, the harness's, not the store's (the `grow`
                // workload found it first).
                release_freed_memory();
                self.progress.inc(1);
            }
        }
        let sides: Vec<(StoreKind, Side)> = stores
            .iter()
            .copied()
            .zip(sides)
            .map(|(kind, mut side)| {
                side.finish();
                (kind, side)
            })
            .collect();
        let note = note(workload, self.fixture, &sides);
        Ok(Row::new(
            workload.name(),
            workload.unit(),
            threads,
            threads as usize > self.cores,
            sides,
            note,
        ))
    }

    /// One measured round of `workload` on one store, into `side`.
    fn round(
        &self,
        workload: Workload,
        threads: u32,
        filled: &Subject,
        kind: StoreKind,
        seed: u64,
        side: &mut Side,
    ) -> entelix_core::Result<()> {
        let seconds = self.args.seconds;
        let fx = self.fixture;
        match workload {
            Workload::EvictExpired => {
                let batch = self.args.expired.unwrap_or(fx.shape.entries / 100).max(1);
                let r = workloads::evict_round(fx, filled, seed, seconds, batch)?;
                side.rounds.push(r.rate());
                side.seconds_per_call
                    .push(r.in_calls.as_secs_f64() / r.calls.max(1) as f64);
                side.evicted_share
                    .push(r.evicted as f64 / r.expected.max(1) as f64);
            }
            Workload::TtlChurnEmpty => {
                let fresh = Subject::new(kind);
                let sweeper = |stop: &_| workloads::churn_sweeper(&fresh, stop);
                let rate = self.timed(&fresh, workload, threads, seed, Some(&sweeper))?;
                side.rounds.push(rate);
                side.rows_held_at_end.push(fresh.total_entries());
            }
            Workload::TtlChurn => {
                let sweeper = |stop: &_| workloads::churn_sweeper(filled, stop);
                let rate = self.timed(filled, workload, threads, seed, Some(&sweeper))?;
                side.rounds.push(rate);
                side.rows_held_at_end.push(
                    filled
                        .total_entries()
                        .saturating_sub(fx.shape.entries as usize),
                );
                workloads::clean_after_churn(filled)?;
            }
            _ if workload.needs_empty_store() => {
                let fresh = Subject::bounded(kind, workload.bound(fx));
                side.rounds
                    .push(self.timed(&fresh, workload, threads, seed, None)?);
                if workload == Workload::BoundedFill {
                    side.rows_held_at_end.push(fresh.total_entries());
                }
                self.progress
                    .set_message(format!("dropping the {} fill", kind.name()));
            }
            _ => side
                .rounds
                .push(self.timed(filled, workload, threads, seed, None)?),
        }
        Ok(())
    }

    /// A timed multi-threaded run of `workload` on `subject`, one round
    /// long, its calls driven as `--driver` says.
    fn timed(
        &self,
        subject: &Subject,
        workload: Workload,
        threads: u32,
        seed: u64,
        background: Option<Background<'_>>,
    ) -> entelix_core::Result<f64> {
        let (fx, driver) = (self.fixture, self.args.driver);
        run_timed(
            threads as usize,
            self.args.seconds,
            |t| {
                let mut worker = Worker::new(fx, subject, seed, t, driver)?;
                Ok(move || worker.step(workload))
            },
            background,
        )
    }

    /// Every chosen store filled with every row under a 1 h TTL, sliding on
    /// SkipStore (for `GetSliding`), in store order.
    fn fill_sliding(&self) -> Result<Vec<Subject>, String> {
        self.args
            .stores
            .iter()
            .map(|&kind| {
                self.progress
                    .set_message(format!("filling {} with sliding rows", kind.name()));
                workloads::fill_sliding(self.fixture, kind)
                    .map_err(|e| format!("filling {} with sliding rows: {e}", kind.name()))
            })
            .collect()
    }

    fn params(&self) -> Params {
        Params {
            shape: self.fixture.shape,
            threads: self.args.threads.clone(),
            seconds: self.args.seconds.as_secs_f64(),
            rounds: self.args.rounds,
            workloads: self.args.workloads.iter().map(|w| w.name()).collect(),
            seed: self.args.seed,
            driver: self.args.driver,
        }
    }

    fn machine(&self) -> Machine {
        Machine {
            cores: self.cores,
            oversubscribed_threads: self
                .args
                .threads
                .iter()
                .copied()
                .filter(|&t| t as usize > self.cores)
                .collect(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        }
    }
}

/// What the table says beside a row's numbers, if anything; figures of
/// several stores are given in store order, joined by "vs".
fn note(workload: Workload, fx: &Fixture, sides: &[(StoreKind, Side)]) -> Option<String> {
    use crate::report::{human, median};
    let each = |figure: &dyn Fn(&Side) -> String| {
        sides
            .iter()
            .map(|(_, side)| figure(side))
            .collect::<Vec<_>>()
            .join(" vs ")
    };
    let held = |s: &Side| {
        let v: Vec<f64> = s.rows_held_at_end.iter().map(|&n| n as f64).collect();
        human(median(&v)).trim_end().to_owned()
    };
    match workload {
        Workload::TtlChurn => Some(format!("expiring rows held at end: {}", each(&held))),
        Workload::TtlChurnEmpty => Some(format!(
            "from an empty store; rows held at end: {}",
            each(&held)
        )),
        Workload::EvictExpired => {
            let per_call = |s: &Side| format!("{:.2} ms", median(&s.seconds_per_call) * 1e3);
            let share = |s: &Side| format!("{:.0}%", median(&s.evicted_share) * 100.0);
            Some(format!(
                "per call {}, evicted {}",
                each(&per_call),
                each(&share)
            ))
        }
        Workload::Fill => Some("into an empty store".to_owned()),
        Workload::ListPage => Some("baseline: list + sort + take 10".to_owned()),
        Workload::CasCounter => Some("baseline: get + put, no version check".to_owned()),
        Workload::GetSliding => Some("baseline: plain TTL rows (no sliding)".to_owned()),
        Workload::BoundedFill => Some(format!(
            "bound {} (baseline unbounded); rows held at end: {}",
            workload.bound(fx).unwrap_or(0),
            each(&held)
        )),
        _ => None,
    }
}
