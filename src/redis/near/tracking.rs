//! The tracking link: a dedicated RESP3 connection with
//! `CLIENT TRACKING ON BCAST PREFIX <prefix>`, whose invalidation pushes
//! remove local copies, and the task that watches it (a `PING` every
//! heartbeat) and re-establishes it when it is lost.
//!
//! Pushes are handled in the connection's own reader, synchronously and in
//! wire order, as they are read: no channel sits between Redis and the
//! local tier, so none can lag, fill up or drop an invalidation. The
//! client's `Disconnection` push, a failed or late `PING`, and a failed
//! reconnection all take the tier down (cleared, reads go to Redis) until a
//! new link has tracking on again.

use std::time::Duration;

use entelix_core::{Error, Result};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
};

use super::stats::bump;
use super::tier::Tier;
use crate::redis::layout::Layout;
use crate::sync::Arc;

/// The client name of every tracking connection (`CLIENT LIST` shows it).
pub const TRACKING_CLIENT_NAME: &str = "skipstore-near-tracking";

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where and how the tracking link connects.
#[derive(Clone, Debug)]
pub(crate) struct LinkConfig {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) heartbeat: Duration,
    pub(crate) connect_timeout: Duration,
}

/// Aborts the tracker when the last clone of the cache goes.
pub(crate) struct TrackerHandle(tokio::task::JoinHandle<()>);

impl Drop for TrackerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens the first link (so that a server without tracking, or with a
/// prefix it refuses, is an error at connect time), brings the tier up and
/// starts the task that keeps the link.
pub(crate) async fn start<V>(tier: Arc<Tier<V>>, config: LinkConfig) -> Result<TrackerHandle>
where
    V: Clone + Send + Sync + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::config("near cache: must be built inside a tokio runtime (it runs a tracking task)")
    })?;
    let layout = Layout::new(config.prefix.clone());
    let conn = open(&tier, &layout, &config, 1).await?;
    tier.go_up(1);
    let task = runtime.spawn(keep(tier, layout, config, conn));
    Ok(TrackerHandle(task))
}

/// Watches the link; when it is lost, reconnects with backoff, forever
/// (until aborted).
async fn keep<V>(
    tier: Arc<Tier<V>>,
    layout: Layout,
    config: LinkConfig,
    first: MultiplexedConnection,
) where
    V: Clone + Send + Sync + 'static,
{
    let mut link = 1;
    let mut conn = Some(first);
    let mut backoff = MIN_BACKOFF;
    loop {
        if let Some(mut live) = conn.take() {
            watch(&tier, &config, &mut live).await;
            tier.go_down(link);
            drop(live);
        }
        link += 1;
        match open(&tier, &layout, &config, link).await {
            Ok(live) => {
                tier.go_up(link);
                bump(&tier.counters.reconnects);
                backoff = MIN_BACKOFF;
                conn = Some(live);
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Returns when the link is lost: a disconnection was pushed, or a `PING`
/// failed or took longer than the heartbeat.
async fn watch<V>(tier: &Tier<V>, config: &LinkConfig, conn: &mut MultiplexedConnection)
where
    V: Clone + Send + Sync + 'static,
{
    loop {
        tokio::select! {
            () = tier.lost.notified() => {
                if !tier.is_up() {
                    return;
                }
            }
            () = tokio::time::sleep(config.heartbeat) => {
                let ping_cmd = redis::cmd("PING");
                let ping = ping_cmd.query_async::<Value>(conn);
                match tokio::time::timeout(config.heartbeat, ping).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) | Err(_) => return,
                }
            }
        }
    }
}

/// Connects a RESP3 connection whose pushes go to `tier` (as `link`), names
/// it, and turns tracking on.
async fn open<V>(
    tier: &Arc<Tier<V>>,
    layout: &Layout,
    config: &LinkConfig,
    link: u64,
) -> Result<MultiplexedConnection>
where
    V: Clone + Send + Sync + 'static,
{
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::provider_network(format!(
            "near cache: tracking connection to {}: {what}: {e}",
            config.url
        ))
    };
    let info = config
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| Error::config(format!("near cache: bad URL {:?}: {e}", config.url)))?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))
        .map_err(|e| Error::config(format!("near cache: bad URL {:?}: {e}", config.url)))?;
    let pushes = {
        let tier = Arc::clone(tier);
        let layout = layout.clone();
        move |push: PushInfo| -> std::result::Result<(), std::convert::Infallible> {
            on_push(&tier, &layout, link, push);
            Ok(())
        }
    };
    let conn_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.connect_timeout))
        .set_push_sender(pushes);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&conn_config)
        .await
        .map_err(|e| fail("cannot connect", &e))?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(TRACKING_CLIENT_NAME)
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| fail("CLIENT SETNAME", &e))?;
    let mut tracking = redis::cmd("CLIENT");
    tracking.arg("TRACKING").arg("ON").arg("BCAST");
    if !config.prefix.is_empty() {
        tracking.arg("PREFIX").arg(&config.prefix);
    }
    tracking.query_async::<()>(&mut conn).await.map_err(|e| {
        Error::config(format!(
            "near cache: the server at {} refused CLIENT TRACKING ON BCAST (Redis 6 or later \
             is needed): {e}",
            config.url
        ))
    })?;
    Ok(conn)
}

/// One push from the tracking link: invalidated keys, a `null`
/// invalidation (`FLUSHALL`, `FLUSHDB`), or the client's note that the
/// connection closed.
fn on_push<V>(tier: &Tier<V>, layout: &Layout, link: u64, push: PushInfo)
where
    V: Clone + Send + Sync + 'static,
{
    match push.kind {
        PushKind::Invalidate => match push.data.first() {
            Some(Value::Array(keys)) => {
                for key in keys {
                    bump(&tier.counters.invalidations);
                    let bytes = match key {
                        Value::BulkString(bytes) => bytes.as_slice(),
                        Value::SimpleString(text) => text.as_bytes(),
                        _ => continue,
                    };
                    // Index keys and foreign keys under the prefix are not
                    // rows: nothing local to forget.
                    if let Some((ns, key)) = layout.parse_row_key(bytes) {
                        tier.invalidate(&ns, &key);
                    }
                }
            }
            // `null`: the whole database was flushed. Anything unreadable
            // is treated the same way, to stay on the safe side.
            _ => {
                bump(&tier.counters.invalidations);
                tier.clear();
            }
        },
        PushKind::Disconnection => tier.go_down(link),
        _ => {}
    }
}
