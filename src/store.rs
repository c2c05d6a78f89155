//! [`SkipStore`], its builder, and the thin async adapter to entelix's
//! [`Store`] trait.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

use crate::clock::{Clock, SharedClock, SystemClock, share};
#[cfg(doc)]
use crate::engine::RemovalCause;
use crate::engine::{Engine, Hooks, Listener, Removal, listener_of};
use crate::sync::StdArc;

/// A lock-free, ordered, TTL-aware in-memory [`Store`].
///
/// A drop-in replacement for entelix-memory's `InMemoryStore`: the same
/// constructor, `Default`, `Clone` (clones share one store) and
/// [`total_entries`](Self::total_entries), and the same trait.
///
/// ```
/// use std::sync::Arc;
/// use entelix_core::{ExecutionContext, TenantId};
/// use entelix_memory::{Namespace, Store};
/// use skipstore::SkipStore;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store: Arc<dyn Store<String>> = Arc::new(SkipStore::new());
/// let ctx = ExecutionContext::new();
/// let ns = Namespace::new(TenantId::new("acme")).with_scope("agent-a");
/// store.put(&ctx, &ns, "greeting", "hello".to_owned()).await?;
/// assert_eq!(store.get(&ctx, &ns, "greeting").await?.as_deref(), Some("hello"));
/// # Ok::<(), entelix_core::Error>(())
/// # }).unwrap();
/// ```
///
/// # Expiry
///
/// Reads never return an entry past its expiry. Expired rows are removed by
/// a hierarchical timing wheel, advanced in small bounded steps by writers
/// (so memory stays bounded under TTL churn with no caller of
/// `evict_expired`), fully by [`Store::evict_expired`], and optionally by a
/// background thread ([`SkipStoreBuilder::background_sweep`]).
pub struct SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    pub(crate) inner: StdArc<Inner<V>>,
}

pub(crate) struct Inner<V>
where
    V: Clone + Send + Sync + 'static,
{
    pub(crate) engine: Engine<V>,
    #[cfg(not(skipstore_loom))]
    sweeper: std::sync::OnceLock<crate::sweeper::SweeperHandle>,
}

impl<V> SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// An empty store on the system clock, swept by its writers.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for a store with another clock or a background sweeper.
    pub fn builder() -> SkipStoreBuilder<V> {
        SkipStoreBuilder {
            clock: None,
            sweep_every: None,
            listener: None,
            max_entries: None,
            _values: PhantomData,
        }
    }

    /// Rows held across all namespaces, including expired rows not yet
    /// swept, as `InMemoryStore::total_entries` counts them.
    #[must_use]
    pub fn total_entries(&self) -> usize {
        self.inner.engine.total_entries()
    }

    /// Checks the store's internal invariants: both indexes agree, no dead
    /// row or empty namespace stays linked, counts are exact, the timing wheel
    /// is well formed. O(rows). Meaningful only while no other operation is in
    /// flight; for tests, fuzzing and debugging.
    ///
    /// # Errors
    ///
    /// A description of the first broken invariant found.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        self.inner.engine.validate()
    }
}

impl<V> Default for SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Clone for SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn clone(&self) -> Self {
        Self {
            inner: StdArc::clone(&self.inner),
        }
    }
}

impl<V> fmt::Debug for SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipStore")
            .field("total_entries", &self.total_entries())
            .finish_non_exhaustive()
    }
}

/// Configures a [`SkipStore`].
///
/// ```
/// use std::time::Duration;
/// use skipstore::{ManualClock, SkipStore};
///
/// let clock = ManualClock::new();
/// let store: SkipStore<u64> = SkipStore::builder().clock(clock.clone()).build();
/// # let _ = store;
/// ```
#[must_use]
pub struct SkipStoreBuilder<V> {
    clock: Option<SharedClock>,
    sweep_every: Option<Duration>,
    listener: Option<Listener<V>>,
    max_entries: Option<usize>,
    _values: PhantomData<fn() -> V>,
}

impl<V> fmt::Debug for SkipStoreBuilder<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipStoreBuilder")
            .field("clock", &self.clock)
            .field("sweep_every", &self.sweep_every)
            .field("listener", &self.listener.is_some())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl<V> SkipStoreBuilder<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Reads time from `clock` instead of the system clock (for tests and
    /// simulations: a [`crate::ManualClock`] makes TTLs deterministic).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(share(clock));
        self
    }

    /// Also runs `evict_expired` every `interval` on a background thread.
    ///
    /// Off by default: writers already sweep in bounded steps, which keeps
    /// memory bounded wherever rows are being written, with no thread. The
    /// sweeper is for hosts that want expired rows (and their values) freed
    /// promptly even when writes stop. It holds no strong reference to the
    /// store and is stopped and joined when the last clone is dropped.
    pub fn background_sweep(mut self, interval: Duration) -> Self {
        self.sweep_every = Some(interval);
        self
    }

    /// Calls `listener` for every entry that leaves the store or is
    /// replaced: its namespace, key, value (a clone) and [`RemovalCause`].
    ///
    /// The listener runs on the thread whose operation removed the entry,
    /// after that operation is done and outside every lock and flag
    /// (expirations found by a sweep are delivered chunk by chunk, each
    /// once the sweep has released the wheel), and never on a read. The
    /// value is cloned then too, not while the entry is being removed: a
    /// `Clone` that panics costs that one notice, and a panic in the
    /// listener is caught and ignored. With no listener, removals clone
    /// nothing.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use skipstore::{RemovalCause, SkipStore};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let store: SkipStore<String> = SkipStore::builder()
    ///     .on_removal(move |r| log.lock().unwrap().push((r.key.to_owned(), r.cause)))
    ///     .build();
    /// # let _ = store;
    /// ```
    pub fn on_removal(mut self, listener: impl Fn(Removal<'_, V>) + Send + Sync + 'static) -> Self {
        self.listener = Some(listener_of(listener));
        self
    }

    /// Bounds the store to about `max` entries (off by default).
    ///
    /// A write that takes the store over the bound evicts, in this order:
    /// rows that have expired; then the rows closest to expiry (the earliest
    /// timers of the wheel); then, for rows without a TTL, an approximation
    /// of least-recently-read: a clock hand sweeps the ordered index, giving
    /// each row read since its last pass (a reference bit that reads set
    /// only in bounded stores) a second chance. The clock visits one
    /// namespace at a time and chooses there up to 16 such rows for the
    /// writes that follow to evict, one each (passing over any read or
    /// removed meanwhile), so that it finds and drains a namespace once for
    /// all of them. Each write evicts at most a few rows, so concurrent
    /// writers can overshoot the bound briefly.
    /// Evictions reach the removal listener as [`RemovalCause::Evicted`].
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = Some(max);
        self
    }

    /// Builds the store. If the sweeper thread cannot be spawned (the OS
    /// refused a thread), the store is built without it; writers still sweep.
    pub fn build(self) -> SkipStore<V> {
        let clock = self.clock.unwrap_or_else(|| share(SystemClock::new()));
        let inner = StdArc::new(Inner {
            engine: Engine::new(clock, Hooks::new(self.listener, self.max_entries)),
            #[cfg(not(skipstore_loom))]
            sweeper: std::sync::OnceLock::new(),
        });
        #[cfg(not(skipstore_loom))]
        if let Some(interval) = self.sweep_every
            && let Ok(handle) = crate::sweeper::spawn(
                StdArc::downgrade(&inner),
                interval.max(Duration::from_millis(1)),
                |inner: &Inner<V>| {
                    inner.engine.evict_expired();
                },
            )
        {
            let _ = inner.sweeper.set(handle);
        }
        SkipStore { inner }
    }
}

#[async_trait]
impl<V> Store<V> for SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    async fn put_with_options(
        &self,
        _ctx: &ExecutionContext,
        ns: &Namespace,
        key: &str,
        value: V,
        options: PutOptions,
    ) -> Result<()> {
        self.inner.engine.put(ns, key, value, options.ttl);
        Ok(())
    }

    async fn get(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        Ok(self.inner.engine.get(ns, key))
    }

    async fn delete(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        self.inner.engine.delete(ns, key);
        Ok(())
    }

    async fn list(
        &self,
        _ctx: &ExecutionContext,
        ns: &Namespace,
        prefix: Option<&str>,
    ) -> Result<Vec<String>> {
        Ok(self.inner.engine.list(ns, prefix.unwrap_or("")))
    }

    async fn list_namespaces(
        &self,
        _ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        Ok(self.inner.engine.list_namespaces(prefix))
    }

    async fn evict_expired(&self, _ctx: &ExecutionContext) -> Result<usize> {
        Ok(self.inner.engine.evict_expired())
    }
}
