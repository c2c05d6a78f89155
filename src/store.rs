//! [`SkipStore`], its builder, and the thin async adapter to entelix's
//! [`Store`] trait.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

use crate::clock::{Clock, SharedClock, SystemClock, share};
use crate::engine::Engine;
use crate::stats::Stats;
use crate::sync::Arc;

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
    pub(crate) inner: Arc<Inner<V>>,
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

    /// A snapshot of what the store holds (rows, namespaces, pending
    /// expiry timers).
    #[must_use]
    pub fn stats(&self) -> Stats {
        let engine = &self.inner.engine;
        Stats {
            rows: engine.total_entries(),
            namespaces: engine.namespace_nodes(),
            pending_timers: engine.pending_timers(),
        }
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
            inner: Arc::clone(&self.inner),
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
#[derive(Debug)]
#[must_use]
pub struct SkipStoreBuilder<V> {
    clock: Option<SharedClock>,
    sweep_every: Option<Duration>,
    _values: PhantomData<fn() -> V>,
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

    /// Builds the store. If the sweeper thread cannot be spawned (the OS
    /// refused a thread), the store is built without it; writers still sweep.
    pub fn build(self) -> SkipStore<V> {
        let clock = self.clock.unwrap_or_else(|| share(SystemClock::new()));
        let inner = Arc::new(Inner {
            engine: Engine::new(clock),
            #[cfg(not(skipstore_loom))]
            sweeper: std::sync::OnceLock::new(),
        });
        #[cfg(not(skipstore_loom))]
        if let Some(interval) = self.sweep_every
            && let Ok(handle) = crate::sweeper::spawn(
                Arc::downgrade(&inner),
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
