//! The write combiner: concurrent puts of new rows that would share one
//! cluster slot go to the server as one script call.
//!
//! Only rows that the plain `SET ... XX GET` of a put found absent come
//! here (new rows, and rows Redis expired): an overwrite is one plain
//! command, which the multiplexed connection pipelines with its neighbours
//! as entelix's `SET`s are, so it has no script cost to share.
//!
//! A script call has a fixed cost on the server (reading the request,
//! setting up Lua, writing the reply) and on the client (building and
//! parsing the request, waking the caller) that dwarfs the few commands
//! one row needs. Under concurrency the combiner pays it once per batch.
//!
//! # Protocol
//!
//! Each lane (the whole server on one server; one tenant, hence one slot,
//! on a cluster) allows [`MAX_IN_FLIGHT`] calls at once. A put that finds a
//! free slot and nobody queued sends its own row at once, from its own task
//! (no hand-off, so a lone caller pays nothing for the combiner). Otherwise
//! it queues its row and waits for the reply. When a call in flight ends
//! (normally, on failure, or because its caller dropped it) its slot
//! guard ([`Slot`]) hands the slot to a spawned task that sends everything
//! queued as one batch, or frees the slot when nothing is queued; the
//! spawned task ends the same way, so queued rows never wait for more than
//! the calls ahead of them.
//!
//! # Cancellation and errors
//!
//! A queued caller that gives up (cancelled context, deadline, dropped
//! future) drops its reply channel; the batch leaves out every row whose
//! channel is closed when it is sent, so such a row is never written.
//! Once sent, a row runs whole or not at all, as a lone put does. Each
//! row's outcome is its own: the script reports a value of another type at
//! a row key for that row only, and a batch that fails as a whole for any
//! other reason than the connection is retried row by row, so every caller
//! gets exactly the error its own put would have had (a put is
//! idempotent: rewriting a row with the same arguments changes nothing).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use entelix_core::{Error, Result, TenantId};
use redis::{Cmd, RedisWrite as _, Value};
use tokio::sync::oneshot;

use super::conn::{Connection, backend_of, row_failure};
use super::layout::KEY_MARK;
use super::scripts::{PUT_SCRIPT, evalsha, run_script};

/// Calls one lane may have in flight at once: two keeps the server busy
/// while a reply travels back, and lets two lone callers go straight
/// through.
pub(crate) const MAX_IN_FLIGHT: usize = 2;

/// Rows one batch holds at most (the script's key and argument lists grow
/// with it; bigger batches would stall the server for other clients).
const MAX_BATCH: usize = 128;

/// One row to write: what the put script needs for it, kept as the few
/// owned pieces the Redis keys and arguments are made of. They are written
/// straight into the request ([`Row::write_keys`], [`Row::write_args`]), so a
/// row costs four allocations, not one per key and argument.
pub(crate) struct Row {
    /// `P{T}`: the tenant base.
    pub(crate) base: String,
    /// `N`: the escaped scope.
    pub(crate) scope_id: String,
    /// The row's key, verbatim.
    pub(crate) key: String,
    /// The encoded value.
    pub(crate) payload: Vec<u8>,
    /// The deadline (µs since the Unix epoch) and the `PEXPIRE` (ms), or
    /// `None` for a row without a TTL.
    pub(crate) timing: Option<(u128, u128)>,
    /// Rows whose deadline is at most this (µs) may be trimmed in passing.
    pub(crate) trim_upto: u128,
    /// The tenant (the registry's member).
    pub(crate) tenant: TenantId,
}

impl Row {
    /// The row's Redis key, `P{T}N\k<key>` (for messages).
    pub(crate) fn row_key(&self) -> String {
        [self.base.as_str(), &self.scope_id, KEY_MARK, &self.key].concat()
    }

    /// The row's key (the script builds the index keys from the tenant
    /// base and the scope id).
    fn write_key(&self, cmd: &mut Cmd) {
        concat_arg(
            cmd,
            &[
                self.base.as_bytes(),
                self.scope_id.as_bytes(),
                KEY_MARK.as_bytes(),
                self.key.as_bytes(),
            ],
        );
    }

    /// The row's seven arguments: the value, key, scope id, deadline ('' for
    /// none), PX in ms, tenant base and tenant.
    fn write_args(&self, cmd: &mut Cmd) {
        cmd.arg(&self.payload).arg(&self.key).arg(&self.scope_id);
        match self.timing {
            Some((deadline, px)) => cmd.arg(deadline).arg(px),
            None => cmd.arg("").arg(0),
        };
        cmd.arg(&self.base).arg(self.tenant.as_str());
    }

    /// Bytes the row adds to a request, about (to size its buffer once).
    fn size(&self) -> usize {
        2 * (self.base.len() + self.scope_id.len() + self.key.len()) + self.payload.len() + 96
    }
}

/// Appends one argument made of `parts`, without building it first.
fn concat_arg(cmd: &mut Cmd, parts: &[&[u8]]) {
    let mut arg = cmd.writer_for_next_arg();
    for part in parts {
        // Writing into the request's buffer cannot fail.
        let _ = arg.write_all(part);
    }
}

struct Queued {
    row: Row,
    reply: oneshot::Sender<Result<()>>,
}

#[derive(Default)]
struct Lane {
    in_flight: usize,
    queued: Vec<Queued>,
}

/// The lanes of one store.
pub(crate) struct Combiner {
    conn: Connection,
    /// The registry key, written by the script on one server (`None` on a
    /// cluster, where it lives in another slot).
    registry: Option<String>,
    lanes: Mutex<HashMap<String, Lane>>,
}

/// What a put must do after asking the combiner.
enum Admission {
    /// Send the row now, holding this slot.
    Send(Slot),
    /// Wait for the reply of the batch that will carry the row.
    Wait(oneshot::Receiver<Result<()>>),
}

/// One of a lane's in-flight slots. Dropping it (however the call holding
/// it ended) passes the slot to a batch of the queued rows, or frees it.
struct Slot {
    combiner: Arc<Combiner>,
    lane: String,
}

impl Combiner {
    pub(crate) fn new(conn: Connection, registry: Option<String>) -> Self {
        Self {
            conn,
            registry,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// Writes `row` in lane `lane`: at once if the lane has room, else in
    /// the next batch. The future may be dropped at any point (see the
    /// module docs for what that leaves).
    pub(crate) async fn put(self: &Arc<Self>, lane: &str, row: Row) -> Result<()> {
        match self.admit(lane, row) {
            (Admission::Send(slot), Some(row)) => {
                let out = self.send(vec![row]).await.pop();
                drop(slot);
                out.unwrap_or_else(|| Err(abandoned()))
            }
            (Admission::Wait(reply), _) => reply.await.unwrap_or_else(|_| Err(abandoned())),
            (Admission::Send(_), None) => Err(abandoned()),
        }
    }

    fn admit(self: &Arc<Self>, lane: &str, row: Row) -> (Admission, Option<Row>) {
        let mut lanes = self.lock();
        let state = lanes.entry(lane.to_owned()).or_default();
        if state.in_flight < MAX_IN_FLIGHT && state.queued.is_empty() {
            state.in_flight += 1;
            let slot = Slot {
                combiner: Arc::clone(self),
                lane: lane.to_owned(),
            };
            return (Admission::Send(slot), Some(row));
        }
        let (reply, wait) = oneshot::channel();
        state.queued.push(Queued { row, reply });
        (Admission::Wait(wait), None)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lane>> {
        // A panic while the lock was held cannot leave a lane inconsistent
        // (every change under it is one push, one take or one counter
        // step), so a poisoned lock is still usable.
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `rows` as one script call; each row's outcome, in order.
    async fn send(&self, rows: Vec<Row>) -> Vec<Result<()>> {
        let mut conn = self.conn.clone();
        let cmd = self.request(&rows);
        match run_script::<Value>(&PUT_SCRIPT, &cmd, &mut conn).await {
            Ok(Value::Int(0)) => rows.iter().map(|_| Ok(())).collect(),
            Ok(Value::Array(replies)) if replies.len() == rows.len() => rows
                .iter()
                .zip(replies)
                .map(|(row, reply)| match reply {
                    Value::BulkString(reply) if reply.is_empty() => Ok(()),
                    Value::BulkString(reply) => Err(row_failure("put", &row.row_key(), &reply)),
                    _ => Err(row_failure(
                        "put",
                        &row.row_key(),
                        b"bad reply from the put script",
                    )),
                })
                .collect(),
            Ok(_) => rows
                .iter()
                .map(|row| {
                    Err(row_failure(
                        "put",
                        &row.row_key(),
                        b"bad reply from the put script",
                    ))
                })
                .collect(),
            Err(e) if rows.len() > 1 && !is_connection(&e) => {
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    out.extend(Box::pin(self.send(vec![row])).await);
                }
                out
            }
            Err(e) => rows
                .iter()
                .map(|row| Err(backend_of("put", &row.row_key(), &e)))
                .collect(),
        }
    }

    /// The put script's request for `rows` (see [`super::scripts`] for the
    /// order of its keys and arguments).
    fn request(&self, rows: &[Row]) -> Cmd {
        let keys = rows.len() + usize::from(self.registry.is_some());
        let bytes = rows.iter().map(Row::size).sum::<usize>() + 64;
        let mut cmd = evalsha(&PUT_SCRIPT, 3 + keys + 3 + 7 * rows.len(), bytes);
        cmd.arg(keys);
        for row in rows {
            row.write_key(&mut cmd);
        }
        if let Some(registry) = &self.registry {
            cmd.arg(registry);
        }
        // Trimming takes rows expired before every row's bound: the
        // earliest is right for all of them.
        let trim_upto = rows.iter().map(|row| row.trim_upto).min().unwrap_or(0);
        cmd.arg(rows.len())
            .arg(super::store::TRIM_PER_WRITE)
            .arg(trim_upto);
        for row in rows {
            row.write_args(&mut cmd);
        }
        cmd
    }

    /// Sends the queued rows of `lane` in batches until none is left, then
    /// frees the slot (through the slot guard).
    async fn drain(slot: Slot) {
        let batch = {
            let mut lanes = slot.combiner.lock();
            let Some(state) = lanes.get_mut(&slot.lane) else {
                return;
            };
            let take = state.queued.len().min(MAX_BATCH);
            state.queued.drain(..take).collect::<Vec<_>>()
        };
        // Rows whose caller gave up before they were sent are left out.
        let (rows, replies): (Vec<Row>, Vec<_>) = batch
            .into_iter()
            .filter(|q| !q.reply.is_closed())
            .map(|q| (q.row, q.reply))
            .unzip();
        if !rows.is_empty() {
            let outcomes = slot.combiner.send(rows).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller gone since has nobody to tell.
                let _ = reply.send(outcome);
            }
        }
        drop(slot);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut lanes = self.combiner.lock();
        let Some(state) = lanes.get_mut(&self.lane) else {
            return;
        };
        if !state.queued.is_empty() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                // The slot passes to the task; it stays counted in flight.
                let next = Self {
                    combiner: Arc::clone(&self.combiner),
                    lane: std::mem::take(&mut self.lane),
                };
                drop(lanes);
                runtime.spawn(Combiner::drain(next));
                return;
            }
            // No runtime to send them from: their callers get an error.
            state.queued.clear();
        }
        state.in_flight -= 1;
        if state.in_flight == 0 {
            lanes.remove(&self.lane);
        }
    }
}

fn is_connection(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

fn abandoned() -> Error {
    Error::provider_network("redis store: put abandoned: the batch carrying it was not sent")
}
