//! One tracking link: a RESP3 connection to one server (or one cluster
//! master) with `CLIENT TRACKING ON BCAST PREFIX <prefix>`, whose pushes
//! are applied to the local tier as they are read.
//!
//! Pushes are handled in the connection's own reader, synchronously and in
//! wire order: no channel sits between Redis and the local tier, so none
//! can lag, fill up or drop an invalidation.

use std::time::Duration;

use entelix_core::{Error, Result};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};

use super::stats::bump;
use super::tier::Tier;
use crate::redis::layout::Layout;
use crate::sync::Arc;

/// The client name of every tracking connection (`CLIENT LIST` shows it).
pub const TRACKING_CLIENT_NAME: &str = "skipstore-near-tracking";

/// Connects a RESP3 connection to `info` whose pushes go to `tier` (as
/// part of `session`), names it, and turns tracking on for `prefix`.
pub(crate) async fn open<V>(
    tier: &Arc<Tier<V>>,
    layout: &Layout,
    info: ConnectionInfo,
    timeout: Duration,
    session: u64,
) -> Result<MultiplexedConnection>
where
    V: Clone + Send + Sync + 'static,
{
    let address = info.addr().to_string();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::provider_network(format!(
            "near cache: tracking connection to {address}: {what}: {e}"
        ))
    };
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))
        .map_err(|e| Error::config(format!("near cache: bad address {address}: {e}")))?;
    let pushes = {
        let tier = Arc::clone(tier);
        let layout = layout.clone();
        move |push: PushInfo| -> std::result::Result<(), std::convert::Infallible> {
            on_push(&tier, &layout, session, push);
            Ok(())
        }
    };
    let conn_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
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
    let prefix = layout.prefix();
    if !prefix.is_empty() {
        tracking.arg("PREFIX").arg(prefix);
    }
    tracking.query_async::<()>(&mut conn).await.map_err(|e| {
        Error::config(format!(
            "near cache: the server at {address} refused CLIENT TRACKING ON BCAST (Redis 6 or \
             later is needed): {e}"
        ))
    })?;
    Ok(conn)
}

/// One push from a tracking link: invalidated keys, a `null` invalidation
/// (`FLUSHALL`, `FLUSHDB`), or the client's note that the connection
/// closed (which ends the whole session: every link counts).
fn on_push<V>(tier: &Tier<V>, layout: &Layout, session: u64, push: PushInfo)
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
            // `null`: the whole database (of this master) was flushed.
            // Anything unreadable is treated the same way, to stay on the
            // safe side.
            _ => {
                bump(&tier.counters.invalidations);
                tier.clear();
            }
        },
        PushKind::Disconnection => tier.go_down(session),
        _ => {}
    }
}
