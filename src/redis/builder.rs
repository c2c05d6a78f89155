//! Configuring and connecting a [`RedisStore`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use entelix_core::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::Codec;
use super::combine::Combiner;
use super::conn::Connection;
use super::layout::Layout;
use super::store::{Inner, RedisStore};

/// The key prefix a store uses unless told otherwise.
pub const DEFAULT_PREFIX: &str = "skipstore:";

/// How long connecting may take unless told otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request may wait for its reply unless told otherwise.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a lost connection to one server is retried unless told
/// otherwise (redis-rs's connection manager's default): with its delays of
/// 100 ms doubling each time, a call on a server that is down fails after
/// about 6 s plus the connect timeouts.
pub const DEFAULT_SERVER_RETRIES: u32 = 6;

/// How many times a cluster request is retried (after a connection error,
/// `MOVED`, `TRYAGAIN`...) unless told otherwise (redis-rs's cluster
/// client's default).
pub const DEFAULT_CLUSTER_RETRIES: u32 = 16;

/// Builds a [`RedisStore`]: where the server is (one URL, or a cluster's
/// nodes), the key prefix, the codec and the timeouts.
///
/// ```no_run
/// # async fn demo() -> entelix_core::Result<()> {
/// use std::time::Duration;
/// use skipstore::redis::{Codec, RedisStore};
///
/// let store: RedisStore<String> = RedisStore::builder()
///     .cluster_nodes(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
///     .key_prefix("agents:")
///     .codec(Codec::MessagePack)
///     .response_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[must_use]
pub struct RedisStoreBuilder<V> {
    // Read by the near cache's builder, which holds one of these for the
    // Redis settings of the store under it.
    pub(crate) url: Option<String>,
    pub(crate) cluster_nodes: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) codec: Codec,
    pub(crate) connect_timeout: Duration,
    response_timeout: Duration,
    retries: Option<u32>,
    _values: PhantomData<fn() -> V>,
}

impl<V> std::fmt::Debug for RedisStoreBuilder<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &self.url)
            .field("cluster_nodes", &self.cluster_nodes)
            .field("prefix", &self.prefix)
            .field("codec", &self.codec)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl<V> Default for RedisStoreBuilder<V> {
    fn default() -> Self {
        Self {
            url: None,
            cluster_nodes: Vec::new(),
            prefix: DEFAULT_PREFIX.to_owned(),
            codec: Codec::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            retries: None,
            _values: PhantomData,
        }
    }
}

impl<V> RedisStoreBuilder<V>
where
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// One server, as a `redis://host:port/db` URL (`rediss://` is not
    /// built in: the `redis` crate is compiled without TLS).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// A Redis Cluster, by some of its nodes' URLs (the others are found
    /// from them). Takes precedence over [`Self::url`].
    pub fn cluster_nodes<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster_nodes = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// The prefix of every key the store writes (default
    /// [`DEFAULT_PREFIX`]). Stores with different prefixes never see each
    /// other's rows. It must not contain `{` or `}`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How values are encoded (default [`Codec::Json`]).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// How long one connection attempt may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`], 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may wait for its reply before it fails with a
    /// timeout error (default [`DEFAULT_RESPONSE_TIMEOUT`], 5 s). An
    /// `ExecutionContext` deadline, when shorter, ends the call first.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a failure is retried before a call gives up. On one
    /// server (default [`DEFAULT_SERVER_RETRIES`], 6): the reconnection
    /// attempts after the connection is lost, 100 ms apart and doubling, each
    /// bounded by the connect timeout; a call made while the server is down
    /// waits for them, about 6 s with the defaults. On a cluster (default
    /// [`DEFAULT_CLUSTER_RETRIES`], 16): the retries of a request after a
    /// connection error or a redirection.
    ///
    /// Lower it (with a short [`Self::connect_timeout`]) to fail fast when
    /// Redis is down: `retries(1)` and a 200 ms connect timeout fail a call
    /// on a dead server in well under a second. `0` gives up at the first
    /// failure, and on a cluster leaves no retry for a `MOVED` after a
    /// resharding.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// Connects and returns the store.
    ///
    /// # Errors
    ///
    /// `Error::Config` for a bad URL or prefix, or when neither a URL nor
    /// cluster nodes were given; `Error::Provider` (network) when the server
    /// cannot be reached within the connect timeout.
    pub async fn build(self) -> Result<RedisStore<V>> {
        if let Some(why) = Layout::check_prefix(&self.prefix) {
            return Err(Error::config(format!("redis store: {why}")));
        }
        let conn = if self.cluster_nodes.is_empty() {
            let url = self
                .url
                .as_deref()
                .ok_or_else(|| Error::config("redis store: give a server URL or cluster nodes"))?;
            self.single(url).await?
        } else {
            self.cluster().await?
        };
        let layout = Layout::new(self.prefix);
        let registry = (!conn.is_cluster()).then(|| layout.registry());
        Ok(RedisStore::from_inner(Arc::new(Inner {
            combiner: Arc::new(Combiner::new(conn.clone(), registry)),
            conn,
            layout,
            codec: self.codec,
        })))
    }

    async fn single(&self, url: &str) -> Result<Connection> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::config(format!("redis store: bad URL {url:?}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(
                usize::try_from(self.retries.unwrap_or(DEFAULT_SERVER_RETRIES))
                    .unwrap_or(usize::MAX),
            );
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| {
                Error::provider_network(format!("redis store: cannot connect to {url}: {e}"))
            })?;
        Ok(Connection::Single(manager))
    }

    async fn cluster(&self) -> Result<Connection> {
        let client = ClusterClient::builder(self.cluster_nodes.iter().map(String::as_str))
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.response_timeout)
            .retries(self.retries.unwrap_or(DEFAULT_CLUSTER_RETRIES))
            .build()
            .map_err(|e| Error::config(format!("redis store: bad cluster nodes: {e}")))?;
        let conn = client.get_async_connection().await.map_err(|e| {
            Error::provider_network(format!(
                "redis store: cannot connect to the cluster {:?}: {e}",
                self.cluster_nodes
            ))
        })?;
        Ok(Connection::Cluster(conn))
    }
}
