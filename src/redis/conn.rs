//! The shared connection, the `ExecutionContext` guard around every call,
//! and the mapping of Redis errors to `entelix_core::Error`.

use std::future::Future;

use entelix_core::{Error, ExecutionContext, Result};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

/// One multiplexed connection (a single server's connection manager, or the
/// cluster client's connection set); clones share it.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    pub(crate) const fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Runs one request under the context: refused before anything is sent if
/// the context is already cancelled or past its deadline, and abandoned
/// (`Cancelled` / `DeadlineExceeded`) if either happens while it is in
/// flight. A request abandoned in flight may still run on the server; every
/// write is one script, so it then runs whole.
pub(crate) async fn guarded<T, F>(ctx: &ExecutionContext, request: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    if ctx.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let deadline = ctx.deadline();
    if deadline.is_some_and(|d| d <= tokio::time::Instant::now()) {
        return Err(Error::DeadlineExceeded);
    }
    let expired = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        () = ctx.cancellation().cancelled() => Err(Error::Cancelled),
        () = expired => Err(Error::DeadlineExceeded),
        out = request => out,
    }
}

/// A printable form of a Redis key for messages.
pub(crate) fn show(key: &str) -> String {
    key.escape_debug().to_string()
}

/// A failed request on `key` as an `entelix_core::Error`: a value of another
/// type at one of the store's keys is a deployment mistake (`Config`: another
/// application writes under the prefix); anything else is the backend's
/// (`Provider` of kind network: unreachable, timed out, refused).
pub(crate) fn backend(op: &str, key: &str, err: RedisError) -> Error {
    backend_of(op, key, &err)
}

/// [`backend`] for an error shared by several calls (a failed batch).
pub(crate) fn backend_of(op: &str, key: &str, err: &RedisError) -> Error {
    if err.code() == Some("WRONGTYPE") {
        return Error::config(format!(
            "redis store: {op} on key \"{}\": the key holds a value of another Redis type ({err}); \
             is another application writing under this store's key prefix?",
            show(key)
        ));
    }
    Error::provider_network(format!("redis store: {op} on key \"{}\": {err}", show(key)))
}

/// One row of a batch that the script left unwritten, with the error
/// reply it got (`WRONGTYPE ...` for a value of another type at `key`):
/// the same `Error` a lone call would have returned.
pub(crate) fn row_failure(op: &str, key: &str, reply: &[u8]) -> Error {
    let reply = String::from_utf8_lossy(reply);
    if reply.starts_with("WRONGTYPE") {
        return Error::config(format!(
            "redis store: {op} on key \"{}\": the key holds a value of another Redis type ({reply}); \
             is another application writing under this store's key prefix?",
            show(key)
        ));
    }
    Error::provider_network(format!(
        "redis store: {op} on key \"{}\": {reply}",
        show(key)
    ))
}

/// A value at `key` that the store's codec cannot decode.
pub(crate) fn undecodable(key: &str, codec: &str, why: &str) -> Error {
    Error::config(format!(
        "redis store: the value at key \"{}\" cannot be decoded as {codec}: {why} \
         (written by another codec or application?)",
        show(key)
    ))
}
