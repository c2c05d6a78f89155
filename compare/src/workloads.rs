//! The workload suite: each a pattern an agent host really has, and the
//! one operation a worker thread repeats for it.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use clap::ValueEnum;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::PutOptions;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::fixture::Fixture;
use crate::runner::{Driver, Exec, Subject, ready};

/// One workload of the suite, in the order the suite runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Workload {
    /// `get` of present keys, uniformly over all rows.
    GetUniform,
    /// `get` of present keys, Zipf-skewed (s = 1).
    GetZipf,
    /// `get` of keys absent from an existing conversation.
    GetAbsent,
    /// 90% `get`, 10% overwriting `put`, Zipf-skewed.
    #[value(name = "mixed-90-10")]
    Mixed90,
    /// 50% `get`, 50% overwriting `put`, Zipf-skewed.
    #[value(name = "mixed-50-50")]
    Mixed50,
    /// `list` of one whole conversation.
    List,
    /// `list` of a conversation's keys under a prefix (up to 10 of them).
    ListPrefix,
    /// `list_namespaces` under a tenant.
    ListNsTenant,
    /// `list_namespaces` under an agent.
    ListNsAgent,
    /// `put` of new keys with 1–50 ms TTLs while one more thread calls
    /// `evict_expired` every 10 ms.
    TtlChurn,
    /// `put` of new keys with 1–50 ms TTLs into a store that starts empty
    /// (no filled rows beside them: rate-limit keys, dedupe markers),
    /// spread over the `--namespaces` conversations, while one more thread
    /// calls `evict_expired` every 10 ms.
    TtlChurnEmpty,
    /// One `evict_expired` call with 1% of the rows expired.
    EvictExpired,
    /// `put` of new keys into an empty store.
    Fill,
    /// One page of 10 keys of a conversation after a random cursor:
    /// `SkipStore::list_page`. The baseline has no paginated listing; its
    /// closest equivalent is `list`, sort, then take the 10 after the cursor.
    ListPage,
    /// A read-modify-write of a Zipf-skewed row: `get_versioned` then
    /// `compare_and_swap`, retried on conflict. The baseline has no
    /// conditional write; its closest equivalent is `get` then `put` (which
    /// can lose updates).
    CasCounter,
    /// `get` of rows written with a 1 h sliding TTL (each read pushes the
    /// expiry forward), Zipf-skewed. The baseline has no sliding TTL; it
    /// reads the same rows written with a plain 1 h TTL.
    GetSliding,
    /// `put` of new keys into a store bounded to half the fixture's rows
    /// (`max_entries`), which evicts once full. The baseline has no bound:
    /// it fills an unbounded store.
    BoundedFill,
    /// One writer grows an empty store to `--grow-rows` rows, every `put`
    /// timed: the longest put, p99.9 and p99 (see `crate::grow`). Run only
    /// when named, apart from the suite.
    Grow,
}

impl Workload {
    /// The default suite: the trait's workloads, in suite order (about 45 s
    /// on 2 cores with the default settings).
    pub const DEFAULT: [Self; 13] = [
        Self::GetUniform,
        Self::GetZipf,
        Self::GetAbsent,
        Self::Mixed90,
        Self::Mixed50,
        Self::List,
        Self::ListPrefix,
        Self::ListNsTenant,
        Self::ListNsAgent,
        Self::TtlChurn,
        Self::TtlChurnEmpty,
        Self::EvictExpired,
        Self::Fill,
    ];

    /// Workloads of SkipStore's inherent API (beyond the trait), run only
    /// when named in `--workloads`; each is measured against the baseline's
    /// closest equivalent.
    #[cfg(test)]
    pub const INHERENT: [Self; 4] = [
        Self::ListPage,
        Self::CasCounter,
        Self::GetSliding,
        Self::BoundedFill,
    ];

    /// The name on the command line, in the table and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::GetUniform => "get-uniform",
            Self::GetZipf => "get-zipf",
            Self::GetAbsent => "get-absent",
            Self::Mixed90 => "mixed-90-10",
            Self::Mixed50 => "mixed-50-50",
            Self::List => "list",
            Self::ListPrefix => "list-prefix",
            Self::ListNsTenant => "list-ns-tenant",
            Self::ListNsAgent => "list-ns-agent",
            Self::TtlChurn => "ttl-churn",
            Self::TtlChurnEmpty => "ttl-churn-empty",
            Self::EvictExpired => "evict-expired",
            Self::Fill => "fill",
            Self::ListPage => "list-page",
            Self::CasCounter => "cas-counter",
            Self::GetSliding => "get-sliding",
            Self::BoundedFill => "bounded-fill",
            Self::Grow => "grow",
        }
    }

    /// What one counted operation is.
    pub fn unit(self) -> &'static str {
        match self {
            Self::GetUniform | Self::GetZipf | Self::GetAbsent | Self::GetSliding => "gets/s",
            Self::Mixed90 | Self::Mixed50 => "ops/s",
            Self::List | Self::ListPrefix => "lists/s",
            Self::ListNsTenant | Self::ListNsAgent => "lists/s",
            Self::TtlChurn | Self::TtlChurnEmpty | Self::Fill | Self::BoundedFill | Self::Grow => {
                "puts/s"
            }
            Self::EvictExpired => "evicted/s",
            Self::ListPage => "pages/s",
            Self::CasCounter => "updates/s",
        }
    }

    /// Whether the workload runs once, not once per thread count (a single
    /// `evict_expired` call has no worker threads to scale).
    pub fn single_threaded(self) -> bool {
        self == Self::EvictExpired
    }

    /// Whether the workload writes into a fresh, empty store of its own
    /// rather than the shared filled one.
    pub fn needs_empty_store(self) -> bool {
        matches!(self, Self::Fill | Self::BoundedFill | Self::TtlChurnEmpty)
    }

    /// The entry bound of the fresh store of `BoundedFill`: half the rows.
    pub fn bound(self, fixture: &Fixture) -> Option<usize> {
        (self == Self::BoundedFill).then(|| (fixture.shape.entries / 2).max(1) as usize)
    }

    /// Whether the workload reads the sliding-TTL fill ([`fill_sliding`])
    /// instead of the shared filled store.
    pub fn needs_sliding_store(self) -> bool {
        self == Self::GetSliding
    }
}

/// Keys per page of `ListPage`.
const PAGE: usize = 10;

/// The TTL of the rows `GetSliding` reads: long enough that none expires
/// during a run.
const SLIDING_TTL: Duration = Duration::from_secs(3600);

/// Per-thread state of a worker: its seeded RNG, context, key buffer and
/// the executor of its calls.
pub struct Worker<'a> {
    fixture: &'a Fixture,
    subject: &'a Subject,
    exec: Exec,
    ctx: ExecutionContext,
    rng: SmallRng,
    key: String,
    thread: usize,
    seq: u64,
}

impl<'a> Worker<'a> {
    /// Worker `thread` of a run seeded with `seed`, driving its calls as
    /// `driver` says; fails only if a tokio runtime cannot be built.
    pub fn new(
        fixture: &'a Fixture,
        subject: &'a Subject,
        seed: u64,
        thread: usize,
        driver: Driver,
    ) -> Result<Self> {
        let stream = seed ^ (thread as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Ok(Self {
            fixture,
            subject,
            exec: Exec::new(driver)?,
            ctx: ExecutionContext::new(),
            rng: SmallRng::seed_from_u64(stream),
            key: String::with_capacity(32),
            thread,
            seq: 0,
        })
    }

    /// Does one operation of `workload`; returns how many it counts for.
    ///
    /// `EvictExpired` is not a worker loop (see [`evict_round`]).
    pub fn step(&mut self, workload: Workload) -> Result<u64> {
        if self.exec.host_like() {
            // As a host's request handler: a context of its own per call.
            self.ctx = ExecutionContext::new();
        }
        let store = &*self.subject.store;
        let (fx, ctx, rng) = (self.fixture, &self.ctx, &mut self.rng);
        match workload {
            Workload::GetUniform => {
                let (ns, key) = fx.uniform_row(rng);
                black_box(self.exec.run(store.get(ctx, ns, key))?);
            }
            Workload::GetZipf => {
                let (ns, key) = fx.zipf_row(rng);
                black_box(self.exec.run(store.get(ctx, ns, key))?);
            }
            Workload::GetAbsent => {
                let (ns, key) = fx.absent_row(rng);
                black_box(self.exec.run(store.get(ctx, ns, key))?);
            }
            Workload::Mixed90 => self.mixed(90)?,
            Workload::Mixed50 => self.mixed(50)?,
            Workload::List => {
                let ns = fx.any_conversation(rng);
                black_box(self.exec.run(store.list(ctx, ns, None))?);
            }
            Workload::ListPrefix => {
                let ns = fx.any_conversation(rng);
                let prefix = fx.any_prefix(rng);
                black_box(self.exec.run(store.list(ctx, ns, Some(prefix)))?);
            }
            Workload::ListNsTenant => {
                black_box(
                    self.exec
                        .run(store.list_namespaces(ctx, fx.any_tenant(rng)))?,
                );
            }
            Workload::ListNsAgent => {
                black_box(
                    self.exec
                        .run(store.list_namespaces(ctx, fx.any_agent(rng)))?,
                );
            }
            Workload::TtlChurn | Workload::TtlChurnEmpty => self.put_new("tmp", Some(1..=50))?,
            Workload::Fill | Workload::BoundedFill => self.put_new("new", None)?,
            Workload::EvictExpired | Workload::Grow => return Ok(0),
            Workload::ListPage => self.list_page()?,
            Workload::CasCounter => self.read_modify_write()?,
            Workload::GetSliding => {
                // Same operation as `GetZipf`: the suite hands this worker
                // the sliding-TTL store.
                let (ns, key) = fx.zipf_row(rng);
                black_box(self.exec.run(store.get(ctx, ns, key))?);
            }
        }
        Ok(1)
    }

    /// One page of `PAGE` keys after a random present key of a random
    /// conversation.
    fn list_page(&mut self) -> Result<()> {
        let (fx, rng) = (self.fixture, &mut self.rng);
        let ns = fx.any_conversation(rng);
        let after = fx.any_present_key(rng);
        if let Some(skip) = self.subject.skipstore() {
            black_box(skip.list_page(ns, None, Some(after), PAGE));
            return Ok(());
        }
        // The baseline's closest equivalent: everything, sorted, cut.
        let mut keys = self
            .exec
            .run(self.subject.store.list(&self.ctx, ns, None))?;
        keys.sort_unstable();
        let from = keys.partition_point(|k| k.as_str() <= after);
        let page: Vec<String> = keys.drain(from..).take(PAGE).collect();
        black_box(page);
        Ok(())
    }

    /// Replaces a Zipf-skewed row's value after reading it: with a version
    /// check and retries on SkipStore, as a plain `get` + `put` on the
    /// baseline. Each attempt writes a freshly allocated value.
    fn read_modify_write(&mut self) -> Result<()> {
        let (fx, rng) = (self.fixture, &mut self.rng);
        let (ns, key) = fx.zipf_row(rng);
        let Some(skip) = self.subject.skipstore() else {
            let store = &*self.subject.store;
            black_box(self.exec.run(store.get(&self.ctx, ns, key))?);
            return self.exec.run(store.put(&self.ctx, ns, key, fx.value(rng)));
        };
        // Every fixture row is present, so the loop ends at the first
        // attempt that no other writer raced.
        while let Some((current, seen)) = skip.get_versioned(ns, key) {
            black_box(current);
            if skip
                .compare_and_swap(ns, key, seen, fx.value(rng), None)
                .is_ok()
            {
                break;
            }
        }
        Ok(())
    }

    fn mixed(&mut self, read_percent: u32) -> Result<()> {
        let store = &*self.subject.store;
        let (fx, ctx, rng) = (self.fixture, &self.ctx, &mut self.rng);
        let (ns, key) = fx.zipf_row(rng);
        if rng.random_range(0..100) < read_percent {
            black_box(self.exec.run(store.get(ctx, ns, key))?);
        } else {
            let value = fx.value(rng);
            self.exec.run(store.put(ctx, ns, key, value))?;
        }
        Ok(())
    }

    /// Puts a key no one wrote before (`{tag}-{thread}-{seq}`) into a random
    /// conversation, with a TTL drawn from `ttl_ms` if given.
    fn put_new(&mut self, tag: &str, ttl_ms: Option<std::ops::RangeInclusive<u64>>) -> Result<()> {
        if self.exec.host_like() {
            // As a host would: a key string of its own per call.
            self.key = format!("{tag}-{:03}-{:010}", self.thread, self.seq);
        } else {
            self.key.clear();
            let _ = write!(self.key, "{tag}-{:03}-{:010}", self.thread, self.seq);
        }
        self.seq += 1;
        let ns = self.fixture.any_conversation(&mut self.rng);
        let value = self.fixture.value(&mut self.rng);
        let mut options = PutOptions::default();
        if let Some(range) = ttl_ms {
            options = options.with_ttl(Duration::from_millis(self.rng.random_range(range)));
        }
        let store = &*self.subject.store;
        self.exec
            .run(store.put_with_options(&self.ctx, ns, &self.key, value, options))
    }
}

/// Fills `subject` with every row of `fixture`, from one thread.
pub fn fill(fixture: &Fixture, subject: &Subject) -> Result<()> {
    let ctx = ExecutionContext::new();
    for row in 0..fixture.shape.entries {
        let (ns, key) = fixture.row(row);
        ready(subject.store.put(&ctx, ns, key, fixture.value_of(row)))?;
    }
    Ok(())
}

/// Lists every namespace of `fixture` once (SkipStore orders a namespace's
/// buffered rows when a list meets enough of them, so its footprint after
/// this is the one a host that lists its namespaces sees).
pub fn list_every_namespace(fixture: &Fixture, subject: &Subject) -> Result<()> {
    let ctx = ExecutionContext::new();
    for c in 0..fixture.shape.namespaces {
        ready(subject.store.list(&ctx, fixture.conversation(c), None))?;
    }
    Ok(())
}

/// A fresh store of `kind` holding every row of `fixture` with a 1 h TTL:
/// sliding on SkipStore (`put_sliding`), plain on the baseline.
pub fn fill_sliding(fixture: &Fixture, kind: crate::runner::StoreKind) -> Result<Subject> {
    let subject = Subject::new(kind);
    let ctx = ExecutionContext::new();
    for row in 0..fixture.shape.entries {
        let (ns, key) = fixture.row(row);
        let value = fixture.value_of(row);
        match subject.skipstore() {
            Some(skip) => {
                skip.put_sliding(ns, key, value, SLIDING_TTL, None);
            }
            None => {
                let options = PutOptions::default().with_ttl(SLIDING_TTL);
                ready(
                    subject
                        .store
                        .put_with_options(&ctx, ns, key, value, options),
                )?;
            }
        }
    }
    Ok(subject)
}

/// Spot-checks a filled store: sampled rows are present with their value,
/// and the first conversations list exactly their messages.
pub fn verify_fill(fixture: &Fixture, subject: &Subject) -> std::result::Result<(), String> {
    let ctx = ExecutionContext::new();
    let entries = fixture.shape.entries;
    let step = (entries / 1_000).max(1);
    for row in (0..entries).step_by(step as usize) {
        let (ns, key) = fixture.row(row);
        let got = ready(subject.store.get(&ctx, ns, key)).map_err(|e| e.to_string())?;
        if got.as_deref() != Some(fixture.value_of(row).as_str()) {
            return Err(format!("row {row} ({}, {key}) reads {got:?}", ns.render()));
        }
    }
    for c in 0..fixture.shape.namespaces.min(8) {
        let ns = fixture.conversation(c);
        let keys = ready(subject.store.list(&ctx, ns, None)).map_err(|e| e.to_string())?;
        if keys.len() as u64 != fixture.rows_in(c) {
            return Err(format!(
                "{} lists {} keys, expected {}",
                ns.render(),
                keys.len(),
                fixture.rows_in(c)
            ));
        }
    }
    Ok(())
}

/// The TTL-churn sweeper: `evict_expired` every 10 ms until `stop`.
pub fn churn_sweeper(subject: &Subject, stop: &std::sync::atomic::AtomicBool) -> Result<()> {
    let ctx = ExecutionContext::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
        ready(subject.store.evict_expired(&ctx))?;
    }
    Ok(())
}

/// Waits out the longest churn TTL and sweeps, so the filled store holds
/// exactly its rows again.
pub fn clean_after_churn(subject: &Subject) -> Result<()> {
    std::thread::sleep(Duration::from_millis(55));
    ready(subject.store.evict_expired(&ExecutionContext::new()))?;
    Ok(())
}

/// Outcome of the expiry measurement in one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvictRound {
    /// Rows the `evict_expired` calls removed.
    pub evicted: u64,
    /// Rows that had expired when the calls ran.
    pub expected: u64,
    /// Calls made.
    pub calls: u64,
    /// Time spent inside the calls.
    pub in_calls: Duration,
}

impl EvictRound {
    /// Rows removed per second of `evict_expired`.
    pub fn rate(&self) -> f64 {
        self.evicted as f64 / self.in_calls.as_secs_f64().max(1e-9)
    }
}

/// Repeats, for about `budget`: add `batch` rows with a short TTL, wait
/// until all of them expired, and time one `evict_expired`.
///
/// Only calls whose batch was written within its TTL count (the TTL
/// starts at 20 ms and grows if a refill takes longer), so no row expired
/// while the others were written and no store swept part of the batch
/// before the timed call.
pub fn evict_round(
    fixture: &Fixture,
    subject: &Subject,
    seed: u64,
    budget: Duration,
    batch: u64,
) -> Result<EvictRound> {
    let ctx = ExecutionContext::new();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ttl = Duration::from_millis(20);
    let mut out = EvictRound::default();
    let began = std::time::Instant::now();
    while out.calls == 0 || began.elapsed() < budget {
        let refill = std::time::Instant::now();
        for i in 0..batch {
            let ns = fixture.any_conversation(&mut rng);
            let key = format!("exp-{i:09}");
            let options = PutOptions::default().with_ttl(ttl);
            ready(subject.store.put_with_options(
                &ctx,
                ns,
                &key,
                fixture.value(&mut rng),
                options,
            ))?;
        }
        let refill_took = refill.elapsed();
        std::thread::sleep(ttl + Duration::from_millis(1));
        let timed = std::time::Instant::now();
        let evicted = ready(subject.store.evict_expired(&ctx))?;
        let call_took = timed.elapsed();
        if refill_took >= ttl {
            // Rows began expiring before the batch was written, so the
            // store may have swept some already: not a fair call. Retry
            // with a longer TTL.
            ttl = refill_took * 3;
            continue;
        }
        out.in_calls += call_took;
        out.evicted += evicted as u64;
        out.expected += batch;
        out.calls += 1;
    }
    Ok(out)
}
