//! Configuring and connecting a [`NearCache`].

use std::time::Duration;

use entelix_core::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tier::Tier;
use super::topology::Target;
use super::tracking::{self, LinkConfig};
use super::{NearCache, NearInner};
use crate::redis::layout::Layout;
use crate::redis::{Codec, RedisStore, RedisStoreBuilder};
use crate::sync::Arc;

/// How many local copies a near cache holds unless told otherwise.
pub const DEFAULT_MAX_LOCAL_ENTRIES: usize = 100_000;

/// How long a local copy may live unless told otherwise.
pub const DEFAULT_LOCAL_TTL_CAP: Duration = Duration::from_secs(60);

/// How often the tracking connections are checked unless told otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);

/// Builds a [`NearCache`]: the Redis settings of the [`RedisStore`] under
/// it (URL, key prefix, codec, timeouts) and the local tier's (entry bound,
/// lifetime cap, heartbeat).
///
/// ```no_run
/// # async fn demo() -> entelix_core::Result<()> {
/// use std::time::Duration;
/// use skipstore::redis::NearCache;
///
/// let cache: NearCache<String> = NearCache::builder()
///     .url("redis://127.0.0.1:6379/")
///     .key_prefix("agents:")            // the same rows as a RedisStore with this prefix
///     .max_local_entries(50_000)
///     .local_ttl_cap(Duration::from_secs(30))
///     .heartbeat(Duration::from_millis(500))
///     .build()
///     .await?;
/// # let _ = cache; Ok(()) }
/// ```
#[must_use]
pub struct NearCacheBuilder<V> {
    /// The Redis settings (URL, cluster nodes, prefix, codec, timeouts),
    /// kept as the builder of the store under the cache.
    redis: RedisStoreBuilder<V>,
    max_local_entries: usize,
    local_ttl_cap: Duration,
    heartbeat: Duration,
}

impl<V> std::fmt::Debug for NearCacheBuilder<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCacheBuilder")
            .field("url", &self.redis.url)
            .field("prefix", &self.redis.prefix)
            .field("codec", &self.redis.codec)
            .field("max_local_entries", &self.max_local_entries)
            .field("local_ttl_cap", &self.local_ttl_cap)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl<V> Default for NearCacheBuilder<V> {
    fn default() -> Self {
        Self {
            redis: RedisStoreBuilder::default(),
            max_local_entries: DEFAULT_MAX_LOCAL_ENTRIES,
            local_ttl_cap: DEFAULT_LOCAL_TTL_CAP,
            heartbeat: DEFAULT_HEARTBEAT,
        }
    }
}

impl<V> NearCacheBuilder<V>
where
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// The server, as a `redis://host:port/db` URL (Redis 6 or later).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.redis = self.redis.url(url);
        self
    }

    /// A Redis Cluster, by some of its nodes' URLs (the others are found
    /// from them); takes precedence over [`Self::url`]. The cache opens one
    /// tracking link to every master (each master sends the invalidations
    /// of its own keys) and re-reads the masters every heartbeat; see the
    /// [module docs](super) for what a topology change does.
    pub fn cluster_nodes<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redis = self.redis.cluster_nodes(nodes);
        self
    }

    /// The key prefix (default
    /// [`DEFAULT_PREFIX`](crate::redis::DEFAULT_PREFIX)): the cache reads
    /// and writes the rows of a [`RedisStore`] with the same prefix, and
    /// tracks every key under it.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis = self.redis.key_prefix(prefix);
        self
    }

    /// How values are encoded in Redis (default [`Codec::Json`]).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.redis = self.redis.codec(codec);
        self
    }

    /// How long one connection attempt may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](crate::redis::DEFAULT_CONNECT_TIMEOUT),
    /// 5 s), for the data and the tracking connections.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.redis = self.redis.connect_timeout(timeout);
        self
    }

    /// How long one request may wait for its reply (default
    /// [`DEFAULT_RESPONSE_TIMEOUT`](crate::redis::DEFAULT_RESPONSE_TIMEOUT),
    /// 5 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.redis = self.redis.response_timeout(timeout);
        self
    }

    /// How many times the data connection retries before a call gives up
    /// (see [`RedisStoreBuilder::retries`] for the defaults): with the
    /// defaults a read while Redis is down fails after about 6 s; lower it
    /// with a short [`Self::connect_timeout`] to fail fast. The tracking
    /// links do not retry: a lost link is reopened by the cache, with
    /// backoff, while reads go to Redis.
    pub fn retries(mut self, retries: u32) -> Self {
        self.redis = self.redis.retries(retries);
        self
    }

    /// At most this many local copies (default
    /// [`DEFAULT_MAX_LOCAL_ENTRIES`]); beyond it the local tier evicts, and
    /// evicted keys are read from Redis again.
    pub fn max_local_entries(mut self, max: usize) -> Self {
        self.max_local_entries = max;
        self
    }

    /// The longest a local copy lives (default 60 s), whatever the row's
    /// own TTL: the bound on staleness if an invalidation were ever lost
    /// without the link noticing. `Duration::ZERO` keeps nothing locally.
    pub fn local_ttl_cap(mut self, cap: Duration) -> Self {
        self.local_ttl_cap = cap;
        self
    }

    /// How often the tracking connections are sent a `PING` (default 1 s),
    /// and a cluster's masters re-read; a `PING` that fails, checks that
    /// take longer than this, or a change of masters clear the local tier.
    /// A silently dead link is noticed within two heartbeats.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(1));
        self
    }

    /// Connects the data and tracking connections and returns the cache,
    /// with tracking on.
    ///
    /// # Errors
    ///
    /// `Error::Config` for a bad URL or prefix, neither a URL nor cluster
    /// nodes, a server that refuses `CLIENT TRACKING` (older than Redis 6),
    /// or no tokio runtime; `Error::Provider` (network) when the server (or
    /// a cluster's master) cannot be reached within the connect timeout.
    pub async fn build(self) -> Result<NearCache<V>> {
        if let Some(why) = Layout::check_prefix(&self.redis.prefix) {
            return Err(Error::config(format!("near cache: {why}")));
        }
        let target = if self.redis.cluster_nodes.is_empty() {
            let url =
                self.redis.url.clone().ok_or_else(|| {
                    Error::config("near cache: give a server URL or cluster nodes")
                })?;
            Target::Server(url)
        } else {
            Target::Cluster(self.redis.cluster_nodes.clone())
        };
        let prefix = self.redis.prefix.clone();
        let connect_timeout = self.redis.connect_timeout;
        let store: RedisStore<V> = self.redis.build().await?;
        let tier = Arc::new(Tier::new(self.max_local_entries, self.local_ttl_cap));
        let link = LinkConfig {
            target,
            prefix,
            heartbeat: self.heartbeat,
            connect_timeout,
        };
        let tracker = tracking::start(Arc::clone(&tier), link).await?;
        Ok(NearCache::from_inner(NearInner {
            store,
            tier,
            _tracker: tracker,
        }))
    }
}
