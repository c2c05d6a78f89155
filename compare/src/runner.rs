//! Driving a store: the subjects (the baseline, skipstore, its peers), a minimal executor for their
//! futures, and timed runs on N OS threads with a shared stop flag.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use entelix_core::Result;
use entelix_memory::{InMemoryStore, Store};
use skipstore::SkipStore;
use skipstore_compare::peers::{DashMapStore, MokaStore, SccStore};

/// Which store a measurement is of, in the order the table shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// entelix-memory's `InMemoryStore`: one mutex over a `HashMap`.
    Baseline,
    /// This crate's lock-free store.
    #[value(name = "skipstore")]
    SkipStore,
    /// moka's sync `Cache` (see `skipstore_compare::peers::MokaStore`).
    Moka,
    /// A `DashMap` (see `skipstore_compare::peers::DashMapStore`).
    #[value(name = "dashmap")]
    DashMap,
    /// scc's `HashMap` and `TreeIndex` (see `skipstore_compare::peers::SccStore`).
    Scc,
}

impl StoreKind {
    /// Baseline and skipstore, baseline first: the default `--stores`.
    pub const BOTH: [Self; 2] = [Self::Baseline, Self::SkipStore];

    /// The name used on the command line, in tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::SkipStore => "skipstore",
            Self::Moka => "moka",
            Self::DashMap => "dashmap",
            Self::Scc => "scc",
        }
    }
}

/// A store under test: the trait object every workload drives, plus the
/// inherent `total_entries` that the trait lacks, and for `SkipStore` the
/// concrete store, for the workloads of its inherent API.
#[derive(Clone)]
pub struct Subject {
    /// The store, as an agent host holds it.
    pub store: Arc<dyn Store<String>>,
    rows: Arc<dyn Fn() -> usize + Send + Sync>,
    skip: Option<SkipStore<String>>,
}

impl Subject {
    /// An empty store of `kind` (system clock, no background sweeper).
    pub fn new(kind: StoreKind) -> Self {
        Self::bounded(kind, None)
    }

    /// An empty store of `kind`; a `SkipStore` bounded to `max_entries` rows
    /// if given (the others have no bound and ignore it).
    pub fn bounded(kind: StoreKind, max_entries: Option<usize>) -> Self {
        match kind {
            StoreKind::Baseline => {
                let store = InMemoryStore::<String>::new();
                let view = store.clone();
                Self {
                    store: Arc::new(store),
                    rows: Arc::new(move || view.total_entries()),
                    skip: None,
                }
            }
            StoreKind::SkipStore => {
                let builder = SkipStore::<String>::builder();
                let store = match max_entries {
                    Some(max) => builder.max_entries(max).build(),
                    None => builder.build(),
                };
                let view = store.clone();
                Self {
                    store: Arc::new(store.clone()),
                    rows: Arc::new(move || view.total_entries()),
                    skip: Some(store),
                }
            }
            StoreKind::Moka => {
                let store = Arc::new(MokaStore::<String>::new());
                let view = Arc::clone(&store);
                Self::peer(store, move || view.total_entries())
            }
            StoreKind::DashMap => {
                let store = Arc::new(DashMapStore::<String>::new());
                let view = Arc::clone(&store);
                Self::peer(store, move || view.total_entries())
            }
            StoreKind::Scc => {
                let store = Arc::new(SccStore::<String>::new());
                let view = Arc::clone(&store);
                Self::peer(store, move || view.total_entries())
            }
        }
    }

    fn peer(
        store: Arc<dyn Store<String>>,
        rows: impl Fn() -> usize + Send + Sync + 'static,
    ) -> Self {
        Self {
            store,
            rows: Arc::new(rows),
            skip: None,
        }
    }

    /// Rows held, expired-but-unswept included.
    pub fn total_entries(&self) -> usize {
        (self.rows)()
    }

    /// The `SkipStore` itself (a clone sharing the store), for workloads of
    /// its inherent API; `None` for the baseline, which has no such API.
    pub fn skipstore(&self) -> Option<&SkipStore<String>> {
        self.skip.as_ref()
    }
}

/// Runs a store's future to completion on this thread.
///
/// Both stores are in-memory and finish every call in its first poll, so
/// this polls with a no-op waker and, should a future ever be pending,
/// simply polls again: no runtime, and no executor cost in the figures.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// How workers drive each store call's future (`--driver`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Poll once with a no-op waker ([`ready`]), one `ExecutionContext` and
    /// one reused key buffer per worker: the store's own cost, nothing else.
    #[default]
    Poll,
    /// As a host's request handler: each call through a tokio current-thread
    /// runtime's `block_on` (one runtime per worker thread), with a fresh
    /// `ExecutionContext` and, for writes of new keys, a freshly formatted
    /// key per call.
    Tokio,
}

/// A worker's executor, built from its [`Driver`].
pub enum Exec {
    /// [`ready`].
    Poll,
    /// `block_on` of this thread's current-thread runtime.
    Tokio(tokio::runtime::Runtime),
}

impl Exec {
    /// The executor `driver` names; fails only if the runtime cannot be
    /// built (the OS refused its resources).
    pub fn new(driver: Driver) -> Result<Self> {
        match driver {
            Driver::Poll => Ok(Self::Poll),
            Driver::Tokio => tokio::runtime::Builder::new_current_thread()
                .build()
                .map(Self::Tokio)
                .map_err(|e| {
                    entelix_core::Error::config(format!("cannot build a tokio runtime: {e}"))
                }),
        }
    }

    /// Runs `future` to completion on this thread.
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        match self {
            Self::Poll => ready(future),
            Self::Tokio(runtime) => runtime.block_on(future),
        }
    }

    /// Whether calls get what a host's handler would make per call (a fresh
    /// context, a freshly formatted key).
    pub fn host_like(&self) -> bool {
        matches!(self, Self::Tokio(_))
    }
}

/// A task run beside the workers until the stop flag is set.
pub type Background<'a> = &'a (dyn Fn(&AtomicBool) -> Result<()> + Sync);

/// What one worker thread did in a timed run.
struct WorkerResult {
    ops: u64,
    elapsed: Duration,
}

/// Returns freed heap memory to the system (glibc's `malloc_trim`, which
/// first consolidates the free blocks).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: `malloc_trim` takes a plain integer and only reorganises the
    // allocator's own free lists; it is safe to call at any time.
    unsafe {
        malloc_trim(0);
    }
}

/// Elsewhere, nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() {}

/// Runs `threads` workers for `duration` and returns the total rate
/// (operations per second, summed over threads).
///
/// `make_worker(thread_index)` builds a thread's state before the clock
/// starts (an error there ends that worker and is returned); the step it returns does one operation and says how many it
/// counts for. Workers start together at a barrier and stop at a shared
/// flag; each rate is that worker's own operations over its own elapsed
/// time, so the last operation running past the deadline is counted
/// fairly. `background`, if any, runs beside the workers on its own thread
/// until the flag is set (the TTL-churn sweeper).
pub fn run_timed<M, S>(
    threads: usize,
    duration: Duration,
    make_worker: M,
    background: Option<Background<'_>>,
) -> Result<f64>
where
    M: Fn(usize) -> Result<S> + Sync,
    S: FnMut() -> Result<u64>,
{
    let stop = AtomicBool::new(false);
    let start = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, start, make_worker) = (&stop, &start, &make_worker);
                scope.spawn(move || {
                    let step = make_worker(t);
                    // Wait at the barrier even on error, or the others
                    // would wait for this thread forever.
                    start.wait();
                    worker_loop(&mut step?, stop)
                })
            })
            .collect();
        let sweeper = background.map(|bg| {
            let stop = &stop;
            scope.spawn(move || bg(stop))
        });
        start.wait();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let mut rate = 0.0;
        let mut first_error = None;
        for worker in workers {
            match join(worker) {
                Ok(r) => rate += r.ops as f64 / r.elapsed.as_secs_f64().max(1e-9),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(sweeper) = sweeper
            && let Err(e) = join(sweeper)
        {
            first_error = first_error.or(Some(e));
        }
        first_error.map_or(Ok(rate), Err)
    })
}

fn worker_loop<S>(step: &mut S, stop: &AtomicBool) -> Result<WorkerResult>
where
    S: FnMut() -> Result<u64>,
{
    let begun = Instant::now();
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        ops += step()?;
    }
    Ok(WorkerResult {
        ops,
        elapsed: begun.elapsed(),
    })
}

/// Joins a scoped thread; a panic in it (a bug in a store) becomes an
/// error instead of tearing the tool down mid-table.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle.join().unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a worker thread panicked".to_owned());
        Err(entelix_core::Error::config(msg))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn timed_run_counts_every_thread() {
        let total = AtomicU64::new(0);
        let rate = run_timed(
            2,
            Duration::from_millis(20),
            |_| {
                Ok(|| {
                    total.fetch_add(1, Ordering::Relaxed);
                    Ok(1)
                })
            },
            None,
        )
        .expect("no error");
        assert!(rate > 0.0);
        assert!(total.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn ready_runs_store_calls() {
        let subject = Subject::new(StoreKind::SkipStore);
        let ctx = entelix_core::ExecutionContext::new();
        let ns = entelix_memory::Namespace::new(entelix_core::TenantId::new("t"));
        ready(subject.store.put(&ctx, &ns, "k", "v".to_owned())).expect("put");
        assert_eq!(subject.total_entries(), 1);
        let skip = subject.skipstore().expect("a SkipStore subject");
        assert_eq!(skip.list_page(&ns, None, None, 10).keys, ["k"]);
        assert!(Subject::new(StoreKind::Baseline).skipstore().is_none());
    }

    #[test]
    fn bounded_subjects_bound_only_skipstore() {
        let ctx = entelix_core::ExecutionContext::new();
        let ns = entelix_memory::Namespace::new(entelix_core::TenantId::new("t"));
        for (kind, rows) in [(StoreKind::Baseline, 10), (StoreKind::SkipStore, 4)] {
            let subject = Subject::bounded(kind, Some(4));
            for i in 0..10 {
                ready(
                    subject
                        .store
                        .put(&ctx, &ns, &format!("k{i}"), String::new()),
                )
                .expect("put");
            }
            assert_eq!(subject.total_entries(), rows, "{}", kind.name());
        }
    }
}
