//! `MokaStore`: moka's sync `Cache` (moka 0.12) behind `Store<V>`.
//! `put` inserts a row holding the value and its deadline under
//! `(rendered namespace, key)`, and moka's per-entry TTL comes from that
//! deadline through its `Expiry` trait; `get` is the cache's `get`, which
//! hides a row from its deadline on; `delete` is `invalidate`; `list` and
//! `list_namespaces` iterate the whole cache (moka has no order), keep what
//! matches (the namespace and the literal key prefix, or a structural
//! namespace match) and sort it. `evict_expired` cannot lean on moka alone:
//! moka drops expired rows by itself, but only when its timer wheel passes
//! the next tick (about a second), and its iterator skips expired rows, so
//! they cannot be found by scanning. The adapter therefore keeps each TTL'd
//! key in a deadline heap (one of 64, chosen by the key's hash, each behind a
//! mutex that `put` also takes, so a sweep never removes a row re-put under
//! it), and `evict_expired` pops the heaps' due keys and removes those still
//! expired; it returns those, plus the rows moka expired by itself since the
//! last call (counted by an eviction listener), so every expired row is
//! counted once. What it gives up: listings scan and clone every row of the
//! cache; every `put` takes a striped mutex and every TTL'd `put` pushes a
//! copy of its key, which stays in its heap until its deadline even when the
//! row was overwritten or deleted; moka's own bookkeeping (its write log,
//! access order, the eviction listener) runs on the callers' threads.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ::moka::Expiry;
use ::moka::notification::RemovalCause;
use ::moka::sync::Cache;
use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

use super::{Row, RowKey, has_prefix, namespaces_under, rendered_prefix, row_key};

/// Deadline heaps (and `put` locks): enough that two writers rarely meet.
const STRIPES: usize = 64;

/// Keys of TTL'd rows by deadline, earliest first.
type DeadlineHeap = BinaryHeap<Reverse<(Instant, RowKey)>>;

/// `Store<V>` over moka's sync `Cache`; see the module documentation.
pub struct MokaStore<V> {
    cache: Cache<RowKey, Row<V>>,
    stripes: Box<[Mutex<DeadlineHeap>]>,
    hasher: RandomState,
    /// Rows moka removed by itself for their TTL, not yet reported.
    expired_by_moka: Arc<AtomicUsize>,
}

/// moka's per-entry TTL: the time left until the row's own deadline.
struct RowDeadline;

impl RowDeadline {
    fn left<V>(row: &Row<V>, at: Instant) -> Option<Duration> {
        row.expires_at
            .map(|deadline| deadline.saturating_duration_since(at))
    }
}

impl<V> Expiry<RowKey, Row<V>> for RowDeadline {
    fn expire_after_create(
        &self,
        _key: &RowKey,
        row: &Row<V>,
        created_at: Instant,
    ) -> Option<Duration> {
        Self::left(row, created_at)
    }

    fn expire_after_update(
        &self,
        _key: &RowKey,
        row: &Row<V>,
        updated_at: Instant,
        _left_before: Option<Duration>,
    ) -> Option<Duration> {
        // A re-put replaces the TTL, shorter or longer, or removes it.
        Self::left(row, updated_at)
    }
}

impl<V> Default for MokaStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<V> MokaStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// An empty, unbounded store.
    #[must_use]
    pub fn new() -> Self {
        let expired_by_moka = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&expired_by_moka);
        let cache = Cache::builder()
            .expire_after(RowDeadline)
            .eviction_listener(move |_key, _row, cause| {
                if cause == RemovalCause::Expired {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            cache,
            stripes: (0..STRIPES).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            expired_by_moka,
        }
    }

    /// Rows held, expired-but-unswept ones included (after moka applies its
    /// pending writes, so the count is exact).
    #[must_use]
    pub fn total_entries(&self) -> usize {
        self.cache.run_pending_tasks();
        usize::try_from(self.cache.entry_count()).unwrap_or(usize::MAX)
    }

    fn stripe(&self, key: &RowKey) -> MutexGuard<'_, DeadlineHeap> {
        let index = self.hasher.hash_one(key) as usize % STRIPES;
        // A panic while a heap was held leaves it whole (push and pop are
        // all that happen under it): keep using it.
        self.stripes[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the due keys' rows that are still expired; returns how many.
    fn sweep(&self, now: Instant) -> usize {
        let mut removed = 0;
        for stripe in &self.stripes {
            let mut heap = stripe.lock().unwrap_or_else(PoisonError::into_inner);
            while heap
                .peek()
                .is_some_and(|Reverse((deadline, _))| *deadline <= now)
            {
                let Some(Reverse((_, key))) = heap.pop() else {
                    break;
                };
                // `contains_key` is false for an expired row (and for none);
                // `remove` then says whether one was held. A row re-put since
                // is live and stays: its `put` waited for this stripe.
                if !self.cache.contains_key(&key) && self.cache.remove(&key).is_some() {
                    removed += 1;
                }
            }
        }
        removed
    }
}

#[async_trait]
impl<V> Store<V> for MokaStore<V>
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
        let row = Row::new(value, options.ttl, Instant::now());
        let key = row_key(ns, key);
        let mut heap = self.stripe(&key);
        if let Some(deadline) = row.expires_at {
            heap.push(Reverse((deadline, key.clone())));
        }
        self.cache.insert(key, row);
        Ok(())
    }

    async fn get(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        // moka hides the row from the deadline `RowDeadline` gave it on.
        Ok(self.cache.get(&row_key(ns, key)).map(|row| row.value))
    }

    async fn delete(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        self.cache.invalidate(&row_key(ns, key));
        Ok(())
    }

    async fn list(
        &self,
        _ctx: &ExecutionContext,
        ns: &Namespace,
        prefix: Option<&str>,
    ) -> Result<Vec<String>> {
        let rendered = ns.render();
        // The iterator skips expired rows.
        let mut keys: Vec<String> = self
            .cache
            .iter()
            .filter(|(key, _)| key.0 == rendered && has_prefix(&key.1, prefix))
            .map(|(key, _)| key.1.clone())
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    async fn list_namespaces(
        &self,
        _ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        let under = rendered_prefix(prefix);
        let mut rendered = BTreeSet::new();
        for (key, _) in &self.cache {
            if key.0.starts_with(&under) && !rendered.contains(&key.0) {
                rendered.insert(key.0.clone());
            }
        }
        namespaces_under(rendered, prefix)
    }

    async fn evict_expired(&self, _ctx: &ExecutionContext) -> Result<usize> {
        let swept = self.sweep(Instant::now());
        Ok(swept + self.expired_by_moka.swap(0, Ordering::Relaxed))
    }
}
