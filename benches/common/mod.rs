//! Fixtures shared by the criterion benches: an agent host's namespaces
//! (tenant > agent > conversation), both stores filled with the same rows,
//! seeded choices over them, and the per-size criterion settings.
//!
//! Every bench measures entelix's `InMemoryStore` (the mutex baseline) and
//! `SkipStore` in the same group, through `Arc<dyn Store<String>>`, the way
//! an agent host holds a store.

#![allow(dead_code, clippy::disallowed_types)] // each bench uses a part; std Arc is fine outside the library

use std::cell::OnceCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{InMemoryStore, Namespace, NamespacePrefix, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use skipstore::SkipStore;

/// Store sizes (rows) every bench runs at.
pub const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Rows per conversation namespace (1M rows are 10k namespaces).
pub const ROWS_PER_NAMESPACE: u64 = 100;
/// Conversations per agent, agents per tenant.
pub const CONVERSATIONS_PER_AGENT: u64 = 50;
pub const AGENTS_PER_TENANT: u64 = 10;
/// The seed of every random choice.
pub const SEED: u64 = 0x5eed;

/// Bench groups' settings by size: the 1M-row points take few samples so
/// that `cargo bench` finishes in minutes, not hours.
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>, rows: u64) {
    let (samples, warm_up, measure) = match rows {
        r if r <= 10_000 => (40, 500, 2_000),
        r if r <= 100_000 => (20, 500, 1_500),
        _ => (10, 300, 1_000),
    };
    group
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(warm_up))
        .measurement_time(Duration::from_millis(measure));
}

/// One criterion group measuring both stores side by side: `bench` runs
/// against the baseline, then skipstore (each filled on its first use), and
/// each iteration counts as `elements` operations.
pub fn side_by_side<'s>(
    c: &mut Criterion,
    name: &str,
    stores: &'s Stores<'_>,
    elements: u64,
    mut bench: impl FnMut(&mut Bencher<'_>, &'s Arc<dyn Store<String>>),
) {
    let rows = stores.data.rows;
    let mut group = c.benchmark_group(name);
    configure(&mut group, rows);
    group.throughput(Throughput::Elements(elements));
    for (store_name, i) in stores.each() {
        group.bench_function(BenchmarkId::new(store_name, rows), |b| {
            bench(b, stores.get(i))
        });
    }
    group.finish();
}

/// Runs a store's future on this thread. Both stores finish every call in
/// its first poll, so a no-op waker is all the executor needed.
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

/// Both stores under test, each filled with every row of `data` the
/// first time a benchmark asks for it, so a filtered run
/// (`cargo bench -- skipstore/10000`) builds only what it measures.
pub struct Stores<'a> {
    data: &'a Data,
    filled: [OnceCell<Arc<dyn Store<String>>>; 2],
}

impl<'a> Stores<'a> {
    /// The names the bench ids use, in order.
    pub const NAMES: [&'static str; 2] = ["baseline", "skipstore"];

    /// Stores for `data`, not yet built.
    pub fn new(data: &'a Data) -> Self {
        Self {
            data,
            filled: [OnceCell::new(), OnceCell::new()],
        }
    }

    /// `(name, index)` of each store.
    pub fn each(&self) -> impl Iterator<Item = (&'static str, usize)> {
        Self::NAMES.into_iter().zip(0..)
    }

    /// Store `index` (0: the baseline, 1: skipstore), filled.
    pub fn get(&self, index: usize) -> &Arc<dyn Store<String>> {
        self.filled[index].get_or_init(|| {
            let store = empty_store(index);
            self.data.fill(&*store);
            store
        })
    }
}

/// An empty store: 0 is the baseline, 1 is skipstore.
pub fn empty_store(index: usize) -> Arc<dyn Store<String>> {
    if index == 0 {
        Arc::new(InMemoryStore::<String>::new())
    } else {
        Arc::new(SkipStore::<String>::new())
    }
}

/// The rows of one size: row `r` is key `msg-{r / namespaces}` in
/// conversation `r % namespaces`.
pub struct Data {
    pub rows: u64,
    pub conversations: Vec<Namespace>,
    pub tenants: Vec<NamespacePrefix>,
    pub agents: Vec<NamespacePrefix>,
    /// Present keys first (`ROWS_PER_NAMESPACE`), then as many absent ones.
    pub keys: Vec<String>,
    /// Prefixes matching 10 keys of a conversation each.
    pub prefixes: Vec<String>,
    pub zipf: Zipf<f64>,
    pub ctx: ExecutionContext,
}

impl Data {
    /// The rows and namespaces of a store of `rows` rows.
    pub fn new(rows: u64) -> Self {
        let namespaces = rows.div_ceil(ROWS_PER_NAMESPACE);
        let agents = namespaces.div_ceil(CONVERSATIONS_PER_AGENT);
        let tenants = agents.div_ceil(AGENTS_PER_TENANT);
        let keys: Vec<String> = (0..2 * ROWS_PER_NAMESPACE)
            .map(|j| format!("msg-{j:06}"))
            .collect();
        let prefixes = (0..ROWS_PER_NAMESPACE / 10)
            .map(|p| format!("msg-{p:05}"))
            .collect();
        Self {
            rows,
            conversations: (0..namespaces).map(conversation).collect(),
            tenants: (0..tenants)
                .map(|t| NamespacePrefix::new(tenant(t)))
                .collect(),
            agents: (0..agents).map(agent).collect(),
            keys,
            prefixes,
            zipf: Zipf::new(rows as f64, 1.0).unwrap_or_else(|e| panic!("zipf over {rows}: {e}")),
            ctx: ExecutionContext::new(),
        }
    }

    /// A seeded RNG for one benchmark.
    pub fn rng() -> StdRng {
        StdRng::seed_from_u64(SEED)
    }

    /// Row `r`'s namespace and key.
    pub fn row(&self, r: u64) -> (&Namespace, &str) {
        let n = self.conversations.len() as u64;
        (
            &self.conversations[(r % n) as usize],
            &self.keys[(r / n) as usize],
        )
    }

    /// A present row, uniformly.
    pub fn uniform(&self, rng: &mut StdRng) -> (&Namespace, &str) {
        self.row(rng.random_range(0..self.rows))
    }

    /// A present row, Zipf-skewed (s = 1), hot rows scattered over the
    /// conversations.
    pub fn zipf(&self, rng: &mut StdRng) -> (&Namespace, &str) {
        let rank = (self.zipf.sample(rng) as u64).saturating_sub(1);
        self.row(rank.wrapping_mul(2_654_435_761) % self.rows)
    }

    /// An existing conversation and a key it does not hold.
    pub fn absent(&self, rng: &mut StdRng) -> (&Namespace, &str) {
        let key =
            &self.keys[(ROWS_PER_NAMESPACE + rng.random_range(0..ROWS_PER_NAMESPACE)) as usize];
        (self.conversation(rng), key)
    }

    /// A conversation, uniformly.
    pub fn conversation(&self, rng: &mut StdRng) -> &Namespace {
        &self.conversations[rng.random_range(0..self.conversations.len())]
    }

    /// The 32-byte value of row `r` (a fresh allocation, as a write makes).
    pub fn value(r: u64) -> String {
        format!("value-{:010}-of-agent-memory", r % 1_000_000_000)
    }

    /// Fills `store` with every row.
    pub fn fill(&self, store: &dyn Store<String>) {
        for r in 0..self.rows {
            let (ns, key) = self.row(r);
            ready(store.put(&self.ctx, ns, key, Self::value(r)))
                .unwrap_or_else(|e| panic!("filling row {r}: {e}"));
        }
    }
}

fn tenant(t: u64) -> TenantId {
    TenantId::new(format!("tenant-{t:04}"))
}

fn agent(a: u64) -> NamespacePrefix {
    NamespacePrefix::new(tenant(a / AGENTS_PER_TENANT))
        .with_scope(format!("agent-{:03}", a % AGENTS_PER_TENANT))
}

fn conversation(c: u64) -> Namespace {
    let a = c / CONVERSATIONS_PER_AGENT;
    Namespace::new(tenant(a / AGENTS_PER_TENANT))
        .with_scope(format!("agent-{:03}", a % AGENTS_PER_TENANT))
        .with_scope(format!("conv-{:04}", c % CONVERSATIONS_PER_AGENT))
}
