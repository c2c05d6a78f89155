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
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
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

    /// How long connecting may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may wait for its reply before it fails with a
    /// timeout error (default 5 s). An `ExecutionContext` deadline, when
    /// shorter, ends the call first.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
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
            .set_response_timeout(Some(self.response_timeout));
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
