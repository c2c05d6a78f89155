//! The shared connection, the `ExecutionContext` guard around every call,
//! and the mapping of Redis errors to `entelix_core::Error`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use entelix_core::{Error, ExecutionContext, Result};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::time::{Instant, Sleep};

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
/// write is one command or script, so it then runs whole.
///
/// A future of its own rather than an `async fn` around `select!`: that
/// held the request twice (the argument, and its copy in the select) and a
/// timer even without a deadline, which made a put's future (boxed and
/// moved on every call) twice as large.
pub(crate) fn guarded<'a, T, F>(
    ctx: &'a ExecutionContext,
    request: F,
) -> impl Future<Output = Result<T>> + 'a
where
    F: Future<Output = Result<T>> + 'a,
{
    Guarded {
        ctx,
        cancelled: ctx.cancellation().cancelled(),
        deadline: None,
        started: false,
        request,
    }
}

pin_project_lite::pin_project! {
    /// [`guarded`]'s future. It polls the cancellation first, then the
    /// deadline's timer (made on the first poll, only for a context with a
    /// deadline), then the request.
    struct Guarded<'a, C, F> {
        ctx: &'a ExecutionContext,
        #[pin]
        cancelled: C,
        deadline: Option<Pin<Box<Sleep>>>,
        started: bool,
        #[pin]
        request: F,
    }
}

impl<T, C, F> Future for Guarded<'_, C, F>
where
    C: Future<Output = ()>,
    F: Future<Output = Result<T>>,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            if this.ctx.is_cancelled() {
                return Poll::Ready(Err(Error::Cancelled));
            }
            if let Some(deadline) = this.ctx.deadline() {
                if deadline <= Instant::now() {
                    return Poll::Ready(Err(Error::DeadlineExceeded));
                }
                *this.deadline = Some(Box::pin(tokio::time::sleep_until(deadline)));
            }
        }
        if this.cancelled.poll(cx).is_ready() {
            return Poll::Ready(Err(Error::Cancelled));
        }
        if let Some(deadline) = this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(Error::DeadlineExceeded));
        }
        this.request.poll(cx)
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

#[cfg(test)]
mod tests {
    use std::future::{pending, ready};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime")
    }

    /// `guarded(ctx, request)` given 10 s to end (a guard that misses the
    /// cancellation or the deadline would otherwise hang the test).
    async fn bounded(
        ctx: &ExecutionContext,
        request: impl Future<Output = Result<u8>>,
    ) -> Result<u8> {
        tokio::time::timeout(Duration::from_secs(10), guarded(ctx, request))
            .await
            .expect("the guard did not end the request")
    }

    /// A request that records whether it was ever polled, then never ends.
    async fn never(polled: &AtomicBool) -> Result<u8> {
        polled.store(true, Ordering::SeqCst);
        pending().await
    }

    #[test]
    fn a_finished_request_is_its_own_answer() {
        let ctx = ExecutionContext::new();
        let out = runtime().block_on(guarded(&ctx, ready(Ok(7_u8))));
        assert!(matches!(out, Ok(7)), "{out:?}");
    }

    #[test]
    fn a_cancelled_or_late_context_sends_nothing() {
        let polled = AtomicBool::new(false);
        let cancelled = ExecutionContext::new();
        cancelled.cancellation().cancel();
        let out = runtime().block_on(guarded(&cancelled, never(&polled)));
        assert!(matches!(out, Err(Error::Cancelled)), "{out:?}");
        let late = ExecutionContext::new().with_deadline(Instant::now());
        let out = runtime().block_on(guarded(&late, never(&polled)));
        assert!(matches!(out, Err(Error::DeadlineExceeded)), "{out:?}");
        assert!(
            !polled.load(Ordering::SeqCst),
            "a refused request was polled"
        );
    }

    #[test]
    fn a_request_in_flight_is_abandoned_on_cancel() {
        let polled = AtomicBool::new(false);
        let ctx = ExecutionContext::new();
        let token = ctx.cancellation().clone();
        let out = runtime().block_on(async {
            let canceller = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                token.cancel();
                pending::<Result<u8>>().await
            };
            tokio::select! {
                out = bounded(&ctx, never(&polled)) => out,
                out = canceller => out,
            }
        });
        assert!(matches!(out, Err(Error::Cancelled)), "{out:?}");
        assert!(polled.load(Ordering::SeqCst), "the request never started");
    }

    #[test]
    fn a_request_in_flight_is_abandoned_at_the_deadline() {
        let polled = AtomicBool::new(false);
        let out = runtime().block_on(async {
            let ctx =
                ExecutionContext::new().with_deadline(Instant::now() + Duration::from_millis(20));
            bounded(&ctx, never(&polled)).await
        });
        assert!(matches!(out, Err(Error::DeadlineExceeded)), "{out:?}");
        assert!(polled.load(Ordering::SeqCst), "the request never started");
    }
}
