//! [`NearCache<V>`]: a [`SkipStore`](crate::SkipStore) in front of a
//! [`RedisStore`], kept coherent across replicas by Redis's client-side
//! caching protocol (`CLIENT TRACKING ... BCAST`).
//!
//! ```no_run
//! # async fn demo() -> entelix_core::Result<()> {
//! use std::sync::Arc;
//! use entelix_core::{ExecutionContext, TenantId};
//! use entelix_memory::{Namespace, Store};
//! use skipstore::redis::NearCache;
//!
//! let store: Arc<dyn Store<String>> =
//!     Arc::new(NearCache::<String>::connect("redis://127.0.0.1:6379/").await?);
//! let ctx = ExecutionContext::new();
//! let ns = Namespace::new(TenantId::new("acme")).with_scope("agent-a");
//! store.put(&ctx, &ns, "profile", "likes tea".to_owned()).await?;
//! // A miss: read from Redis, then kept locally.
//! assert_eq!(store.get(&ctx, &ns, "profile").await?.as_deref(), Some("likes tea"));
//! // A local hit: no network round trip.
//! assert_eq!(store.get(&ctx, &ns, "profile").await?.as_deref(), Some("likes tea"));
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! * **Reads.** A `get` whose key is held locally (and whose copy is of the
//!   current tracking epoch) returns it without awaiting anything. A miss
//!   reads Redis and installs the answer locally for the row's remaining
//!   TTL, capped by the local cap (default 60 s). `list` and
//!   `list_namespaces` always read Redis: they must be exact. Absent keys
//!   are not cached (a miss on an absent key is a round trip).
//! * **Writes.** `put` and `delete` write Redis first, then invalidate the
//!   local copy (even when the write failed or was abandoned, since it may
//!   have run); they never install the written value, which could be older
//!   than another replica's later write.
//! * **Invalidation.** Dedicated RESP3 connections run
//!   `CLIENT TRACKING ON BCAST PREFIX <prefix>`: one to the server, or on a
//!   Redis Cluster one to every master (each master sends the
//!   invalidations of its own keys only). Redis pushes the name of every
//!   key changed under the prefix, whoever changed it (a replica,
//!   `redis-cli`, expiry, eviction), and the cache maps it back to its row
//!   through the [layout](crate::redis::layout)'s inverse. Index keys are
//!   ignored; a `null` invalidation (`FLUSHALL`, `FLUSHDB`, on any master)
//!   clears the local tier.
//! * **The fill/invalidation race.** A miss takes a ticket (the tracking
//!   epoch and its key's stripe generation) before its request, and
//!   installs its answer only if neither moved: an answer overtaken by an
//!   invalidation is dropped (counted in [`NearStats::fills_discarded`]).
//!   Concurrent misses of one key with the same ticket share one request,
//!   so installs of a key follow Redis's order.
//! * **Losing the stream.** The tracking connections form one session,
//!   all or nothing. When any of them drops, a heartbeat `PING` on any
//!   fails or is late, Redis (or one master) restarts, or, on a cluster,
//!   the masters named by `CLUSTER SLOTS` (re-read every heartbeat) are no
//!   longer the ones tracked (a master added, removed or failed over), the
//!   cache drops every local copy at once (a new epoch) and serves every
//!   read from Redis until a new session has tracking on for every master;
//!   then it fills again. A read served from Redis that way invalidates
//!   its key when it returns, as a write does: it may have been sent after
//!   a fill of the new session took its ticket, and return a newer value
//!   than that fill would install. While Redis is unreachable, reads fail:
//!   a local copy is never served in its place.
//!
//! # Guarantees
//!
//! * A replica reads its own writes: once `put` or `delete` has returned,
//!   that cache's reads see it (or a later write).
//! * Across replicas, a read may return a value that another replica has
//!   replaced: while the tracking links are up, until the invalidation
//!   arrives (a loopback round trip or so); when the link dies silently,
//!   until the heartbeat notices (at most two heartbeats); and never for
//!   longer than the local cap.
//! * Reads on one replica do not go back in time while its link stays up: a
//!   fill cannot install a value older than one whose invalidation was
//!   already processed, nor keep one older than an answer it handed out
//!   without installing it (that answer invalidates its key).
//! * On a Redis Cluster the same holds per master, and the fill ticket is
//!   global (any link's loss starts a new epoch for every key), so a fill
//!   is checked against the link that owns its key whichever it is.
//! * Not promised: linearizability across replicas (two replicas may see
//!   two writes' effects at different moments); Redis replication is
//!   asynchronous, so a failover can lose acknowledged writes, and a cache
//!   cannot bring them back. On a cluster, a change of masters that keeps
//!   every tracked connection alive (a master added and given slots, a
//!   manual failover that demotes a master without closing connections) is
//!   noticed at the next heartbeat, not at once: until then, writes to the
//!   slots now served by a master that is not tracked may be missed. A
//!   failover that kills the old master is noticed when its link drops.

mod builder;
mod fill;
mod link;
mod stats;
#[cfg(test)]
mod tests;
mod tier;
mod topology;
mod tracking;

use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use builder::{
    DEFAULT_HEARTBEAT, DEFAULT_LOCAL_TTL_CAP, DEFAULT_MAX_LOCAL_ENTRIES, NearCacheBuilder,
};
pub use link::TRACKING_CLIENT_NAME;
pub use stats::NearStats;

use super::RedisStore;
use crate::sync::Arc;
use fill::Role;
use tier::Tier;
use tracking::TrackerHandle;

/// A [`Store<V>`] that keeps local copies of what it reads from a
/// [`RedisStore`] and drops them when Redis says they changed. See the
/// [module docs](self) for how, and what it guarantees.
///
/// Clones share the local tier, the connections and the statistics.
pub struct NearCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    inner: Arc<NearInner<V>>,
}

pub(crate) struct NearInner<V>
where
    V: Clone + Send + Sync + 'static,
{
    store: RedisStore<V>,
    tier: Arc<Tier<V>>,
    _tracker: TrackerHandle,
}

impl<V> Clone for NearCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V> std::fmt::Debug for NearCache<V>
where
    V: Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("store", &self.inner.store)
            .field("stats", &self.inner.tier.stats())
            .finish_non_exhaustive()
    }
}

impl<V> NearCache<V>
where
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Connects to one server (`redis://host:port/db`, Redis 6 or later)
    /// with the defaults: prefix [`super::DEFAULT_PREFIX`], JSON values,
    /// 100,000 local copies for at most 60 s each, a 1 s heartbeat.
    ///
    /// # Errors
    ///
    /// As [`NearCacheBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder().url(url).build().await
    }

    /// A builder for the other settings.
    pub fn builder() -> NearCacheBuilder<V> {
        NearCacheBuilder::default()
    }

    pub(crate) fn from_inner(inner: NearInner<V>) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The counters: local hits, misses, fills, fills discarded by the race
    /// check, invalidations, full clears, reconnects, and whether tracking
    /// is up.
    #[must_use]
    pub fn stats(&self) -> NearStats {
        self.inner.tier.stats()
    }

    /// Local copies held right now (copies already dead, waiting for their
    /// local TTL or the entry bound, included).
    #[must_use]
    pub fn local_entries(&self) -> usize {
        self.inner.tier.local_entries()
    }

    /// The Redis store underneath (same connection, no local tier): its
    /// writes are seen by this cache through tracking, like anyone else's.
    #[must_use]
    pub fn remote(&self) -> &RedisStore<V> {
        &self.inner.store
    }

    /// A miss: joins the fill of the key in flight, or reads Redis and
    /// installs the answer if nothing invalidated it meanwhile.
    async fn fetch(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        let store = &self.inner.store;
        loop {
            match self.inner.tier.join_or_lead(ns, key) {
                Role::Bypass => {
                    let row = store.get_row(ctx, ns, key).await?;
                    // A read made while tracking was down can be answered
                    // after a fill that took its ticket once tracking came
                    // back (the reader was descheduled between its look at
                    // the link and its request), so it may return a newer
                    // value than that fill installs. Failing such fills and
                    // dropping the local copy keeps this reader's next read
                    // from going back to the older value.
                    self.inner.tier.invalidate(ns, key);
                    return Ok(row.map(|(v, _)| v));
                }
                Role::Follow(answer) => {
                    if let Some(value) = fill::follow(ctx, answer).await? {
                        return Ok(value);
                    }
                }
                Role::Lead(lead) => {
                    let row = store.get_row(ctx, ns, key).await?;
                    #[cfg(test)]
                    if let Some(gate) = self.inner.tier.take_gate() {
                        gate.reached.notify_one();
                        gate.release.notified().await;
                    }
                    return Ok(lead.finish(ns, key, row));
                }
            }
        }
    }
}

/// Invalidates a key when dropped: after a write returns, fails, or is
/// abandoned mid-flight (it may have run on the server).
struct InvalidateOnDrop<'a, V>
where
    V: Clone + Send + Sync + 'static,
{
    tier: &'a Tier<V>,
    ns: &'a Namespace,
    key: &'a str,
}

impl<V> Drop for InvalidateOnDrop<'_, V>
where
    V: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        self.tier.invalidate(self.ns, self.key);
    }
}

#[async_trait]
impl<V> Store<V> for NearCache<V>
where
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    async fn put_with_options(
        &self,
        ctx: &ExecutionContext,
        ns: &Namespace,
        key: &str,
        value: V,
        options: PutOptions,
    ) -> Result<()> {
        let _invalidate = InvalidateOnDrop {
            tier: &self.inner.tier,
            ns,
            key,
        };
        self.inner
            .store
            .put_with_options(ctx, ns, key, value, options)
            .await
    }

    async fn get(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        if let Some(value) = self.inner.tier.hit(ns, key) {
            return Ok(Some(value));
        }
        self.fetch(ctx, ns, key).await
    }

    async fn delete(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        let _invalidate = InvalidateOnDrop {
            tier: &self.inner.tier,
            ns,
            key,
        };
        self.inner.store.delete(ctx, ns, key).await
    }

    async fn list(
        &self,
        ctx: &ExecutionContext,
        ns: &Namespace,
        prefix: Option<&str>,
    ) -> Result<Vec<String>> {
        self.inner.store.list(ctx, ns, prefix).await
    }

    async fn list_namespaces(
        &self,
        ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        self.inner.store.list_namespaces(ctx, prefix).await
    }

    async fn evict_expired(&self, ctx: &ExecutionContext) -> Result<usize> {
        // Local copies never outlive their row's deadline, so only Redis
        // holds expired rows.
        self.inner.store.evict_expired(ctx).await
    }
}
