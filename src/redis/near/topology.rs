//! Where the tracking links go: the one server, or every master of a
//! cluster (read from `CLUSTER SLOTS`), and how a cluster's masters are
//! compared from one heartbeat to the next.

use std::collections::BTreeSet;

use entelix_core::{Error, Result};
use redis::aio::ConnectionLike;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Value};

/// What the cache tracks.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// One server, by URL.
    Server(String),
    /// A cluster, by some of its nodes' URLs.
    Cluster(Vec<String>),
}

/// A cluster's masters, as `(host, port)`, sorted: two reads of the
/// topology that name the same masters compare equal.
pub(crate) type Masters = BTreeSet<(String, u16)>;

/// Parses a URL given to the builder.
pub(crate) fn info_of(url: &str) -> Result<ConnectionInfo> {
    url.into_connection_info()
        .map_err(|e| Error::config(format!("near cache: bad URL {url:?}: {e}")))
}

/// The connection settings of the master at `(host, port)`: the seed's
/// (credentials, database) with the master's address.
pub(crate) fn master_info(seed: &ConnectionInfo, (host, port): &(String, u16)) -> ConnectionInfo {
    seed.clone()
        .set_addr(ConnectionAddr::Tcp(host.clone(), *port))
}

/// The masters named by `CLUSTER SLOTS` on `conn`, a connection to a node
/// at `seed_host` (the host used for a master the reply leaves unnamed).
pub(crate) async fn masters<C>(conn: &mut C, seed_host: &str) -> Result<Masters>
where
    C: ConnectionLike + Send,
{
    let reply: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .map_err(|e| Error::provider_network(format!("near cache: CLUSTER SLOTS: {e}")))?;
    parse_slots(&reply, seed_host).ok_or_else(|| {
        Error::provider_network(format!(
            "near cache: an unreadable CLUSTER SLOTS reply: {reply:?}"
        ))
    })
}

/// The masters of a `CLUSTER SLOTS` reply: each entry is
/// `[first slot, last slot, [host, port, id, ...], replicas...]`. `None`
/// for a reply of another shape, or one that covers no slot.
fn parse_slots(reply: &Value, seed_host: &str) -> Option<Masters> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut out = Masters::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            return None;
        };
        let Some(Value::Array(master)) = fields.get(2) else {
            return None;
        };
        let host = match master.first()? {
            Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
            Value::SimpleString(text) => text.clone(),
            _ => return None,
        };
        let Value::Int(port) = master.get(1)? else {
            return None;
        };
        let host = if host.is_empty() || host == "?" {
            seed_host.to_owned()
        } else {
            host
        };
        out.insert((host, u16::try_from(*port).ok()?));
    }
    (!out.is_empty()).then_some(out)
}

/// The host of a TCP address (`None` for a Unix socket: clusters are
/// reached over TCP).
pub(crate) fn host_of(info: &ConnectionInfo) -> Option<&str> {
    match info.addr() {
        ConnectionAddr::Tcp(host, _) => Some(host),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    fn range(first: i64, last: i64, nodes: Vec<Value>) -> Value {
        let mut fields = vec![Value::Int(first), Value::Int(last)];
        fields.extend(nodes);
        Value::Array(fields)
    }

    #[test]
    fn masters_are_the_first_node_of_each_range() {
        let reply = Value::Array(vec![
            range(
                0,
                5460,
                vec![node("10.0.0.1", 7000), node("10.0.0.9", 7009)],
            ),
            range(5461, 10922, vec![node("", 7001)]),
            range(10923, 16383, vec![node("10.0.0.1", 7000)]),
        ]);
        let masters = parse_slots(&reply, "seed").unwrap();
        let want: Masters = [("10.0.0.1".to_owned(), 7000), ("seed".to_owned(), 7001)]
            .into_iter()
            .collect();
        assert_eq!(masters, want);
    }

    #[test]
    fn odd_replies_are_refused() {
        assert_eq!(parse_slots(&Value::Nil, "h"), None);
        assert_eq!(parse_slots(&Value::Array(vec![]), "h"), None);
        let bad_port = Value::Array(vec![range(0, 1, vec![node("h", 70_000)])]);
        assert_eq!(parse_slots(&bad_port, "h"), None);
        let no_master = Value::Array(vec![range(0, 1, vec![])]);
        assert_eq!(parse_slots(&no_master, "h"), None);
    }
}
