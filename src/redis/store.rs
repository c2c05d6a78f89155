//! `RedisStore<V>`: the `Store<V>` trait over the layout and the scripts.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use entelix_core::{Error, ExecutionContext, Result, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use redis::AsyncCommands;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::builder::RedisStoreBuilder;
use super::codec::Codec;
use super::combine::{Combiner, Row};
use super::conn::{Connection, backend, guarded, undecodable};
use super::layout::{KEY_MARK, Layout, namespace_of, row_header, split_row};
use super::scripts::{
    DELETE_SCRIPT, EVICT_SCRIPT, LIST_NAMESPACES_SCRIPT, LIST_SCRIPT, SETTLE_PUT_SCRIPT,
    UNREGISTER_SCRIPT,
};

/// Deadlines are microseconds since the Unix epoch, kept in sorted-set
/// scores (doubles): past 2^53 they would round, so a TTL that ends later
/// (around the year 2255) means "never".
const MAX_DEADLINE_US: u128 = (1 << 53) - 1;

/// Rows expired longer ago than this are removed by writes with a TTL and
/// by `list_namespaces` in passing (a few per write), so the indexes stay
/// bounded under TTL churn without `evict_expired`. Rows expired more
/// recently are left for `evict_expired`, which counts them.
const TRIM_GRACE: Duration = Duration::from_secs(1);

/// How many expired rows one write with a TTL removes in passing, at most
/// (more than one, so trimming outpaces the churn that feeds it).
pub(crate) const TRIM_PER_WRITE: usize = 4;

/// How many times the second step of a put (see [`RedisStore::settle_put`])
/// is tried before the put reports its failure.
const SETTLE_ATTEMPTS: usize = 3;

/// How many expired rows one `list_namespaces` removes in passing, at most:
/// removing a large backlog in one script would stall the server.
const TRIM_PER_LISTING: usize = 128;

/// How many expired rows one `evict_expired` script removes (the scripts
/// run back to back until a tenant is clean, so no script runs long).
const EVICT_BATCH: usize = 512;

/// A Redis-backed [`Store<V>`] with the contract of [`crate::SkipStore`]:
/// sorted, literal-prefix listings confined to their namespace, exact TTLs,
/// `list_namespaces`, an exact `evict_expired`, on one server or a cluster.
/// See the [module docs](super) for the layout and the guarantees.
///
/// Clones share one multiplexed connection.
pub struct RedisStore<V> {
    inner: Arc<Inner>,
    _values: PhantomData<fn() -> V>,
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    pub(crate) layout: Layout,
    pub(crate) codec: Codec,
    /// Batches concurrent puts (see [`super::combine`]).
    pub(crate) combiner: Arc<Combiner>,
}

impl<V> Clone for RedisStore<V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _values: PhantomData,
        }
    }
}

impl<V> std::fmt::Debug for RedisStore<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("layout", &self.inner.layout)
            .field("codec", &self.inner.codec)
            .field("cluster", &self.inner.conn.is_cluster())
            .finish_non_exhaustive()
    }
}

impl<V> RedisStore<V>
where
    V: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// Connects to one server (`redis://host:port/db`) with the defaults:
    /// prefix [`super::DEFAULT_PREFIX`], JSON values, 5 s timeouts.
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::build`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder().url(url).build().await
    }

    /// A builder for the other settings (cluster nodes, prefix, codec,
    /// timeouts).
    pub fn builder() -> RedisStoreBuilder<V> {
        RedisStoreBuilder::default()
    }

    pub(crate) const fn from_inner(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            _values: PhantomData,
        }
    }

    /// The Redis key that holds the row `(ns, key)` (a string: the header,
    /// the deadline in µs since the Unix epoch or `-` and `;`, then the
    /// encoded value; see [`super::layout`]).
    #[must_use]
    pub fn row_key(&self, ns: &Namespace, key: &str) -> String {
        self.inner.layout.row_key(ns, key)
    }

    /// Reads a Redis key of this store back to what it holds (the inverse
    /// of the layout; `None` for keys this store does not write).
    #[must_use]
    pub fn parse_key(&self, redis_key: &[u8]) -> Option<super::RedisKey> {
        self.inner.layout.parse(redis_key)
    }

    /// Reads a row's Redis key back to its namespace and key (`None` for
    /// any other key): the inverse of [`Self::row_key`], for consumers of
    /// keyspace or client-tracking notifications.
    #[must_use]
    pub fn parse_row_key(&self, redis_key: &[u8]) -> Option<(Namespace, String)> {
        self.inner.layout.parse_row_key(redis_key)
    }

    /// What `get` reads, with the row's deadline (µs since the Unix epoch;
    /// `None` for a row without a TTL): the near cache caps its local copy's
    /// lifetime by it.
    pub(crate) async fn get_row(
        &self,
        ctx: &ExecutionContext,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<(V, Option<u128>)>> {
        let row = self.inner.layout.row_key(ns, key);
        let mut conn = self.conn();
        let value: Option<Vec<u8>> = guarded(ctx, async {
            redis::cmd("GET")
                .arg(&row)
                .query_async(&mut conn)
                .await
                .map_err(|e| backend("get", &row, e))
        })
        .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let Some((deadline, payload)) = split_row(&value) else {
            return Err(undecodable(
                &row,
                "a row",
                "it has no row header (`<deadline in µs>;` or `-;`, layout version 2)",
            ));
        };
        if deadline.is_some_and(|deadline| deadline * 1_000 <= now_ns()) {
            return Ok(None);
        }
        let codec = self.inner.codec;
        codec
            .decode(payload)
            .map(|value| Some((value, deadline)))
            .map_err(|why| undecodable(&row, codec.name(), &why))
    }

    fn conn(&self) -> Connection {
        self.inner.conn.clone()
    }

    /// The common put, an overwrite, as one plain command: `SET row value
    /// XX GET [PX ms]`. `XX` writes only over an existing key, `GET` refuses
    /// a key of another type (before writing) and answers the old value,
    /// whose header says what the indexes hold for it; no `PX` clears an old
    /// TTL. When the old row's hint does not cover the new row, the second
    /// step ([`Self::settle_put`]) follows. A key that does not exist is
    /// left untouched, and its value handed back for the put script.
    async fn overwrite(
        &self,
        ns: &Namespace,
        key: &str,
        payload: Vec<u8>,
        timing: Option<(u128, u128)>,
        trim_upto: u128,
    ) -> Result<Overwrite> {
        let row = self.inner.layout.row_key(ns, key);
        let mut set = redis::Cmd::with_capacity(7, row.len() + payload.len() + 64);
        set.arg("SET").arg(&row).arg(&payload).arg("XX").arg("GET");
        if let Some((_, px)) = timing {
            set.arg("PX").arg(px);
        }
        let mut conn = self.conn();
        let old: Option<Vec<u8>> = set
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("put", &row, e))?;
        let Some(old) = old else {
            return Ok(Overwrite::Absent(payload));
        };
        // The old row's hint is at most its deadline: it stays a lower
        // bound of a later one, and a row without a TTL needs none.
        let old = split_row(&old).map(|(deadline, _)| deadline);
        let covered = match (old, timing) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(old), Some((deadline, _))) => old.is_some_and(|old| old <= deadline),
        };
        if covered {
            return Ok(Overwrite::Done { joined: false });
        }
        let deadline = timing.map(|(deadline, _)| deadline);
        // Boxed: the common put never takes this step, and its future
        // would otherwise make every put's future (boxed and moved by
        // `async_trait`) several times larger.
        let joined = Box::pin(self.settle_put(ns, key, old.is_none(), deadline, trim_upto)).await?;
        Ok(Overwrite::Done { joined })
    }

    /// The second step of an overwrite whose old row did not cover the new
    /// one in the indexes (the new row has a TTL and the old one had none
    /// or a later deadline, or the old value was not a row: `list_key`):
    /// the settle script reads the row as it is now and gives it its
    /// deadline hint (and its key index entries); a row that Redis dropped
    /// at its `PX` before this step ran gets the put's `deadline` (µs) as
    /// its hint. It is tried [`SETTLE_ATTEMPTS`] times; a put abandoned
    /// before it ends leaves it to [`Repair`]. Returns whether the hint is
    /// new (the tenant may have to join the registry).
    async fn settle_put(
        &self,
        ns: &Namespace,
        key: &str,
        list_key: bool,
        deadline: Option<u128>,
        trim_upto: u128,
    ) -> Result<bool> {
        let base = self.inner.layout.tenant_base(ns.tenant_id());
        let scope_id = Layout::scope_id(ns.scope());
        let member = Layout::row_member(&scope_id, key);
        let row = format!("{base}{member}");
        let mut invocation = SETTLE_PUT_SCRIPT.key(&row);
        if !self.inner.conn.is_cluster() {
            invocation.key(self.inner.layout.registry());
        }
        invocation
            .arg(&member)
            .arg(&scope_id)
            .arg(key)
            .arg(&base)
            .arg(ns.tenant_id().as_str())
            .arg(trim_upto.to_string())
            .arg(TRIM_PER_WRITE)
            .arg(if list_key { "1" } else { "0" })
            .arg(deadline.map_or_else(String::new, |d| d.to_string()));
        let mut conn = self.conn();
        let mut attempt = 1;
        loop {
            match invocation.invoke_async::<i64>(&mut conn).await {
                Err(e) if attempt < SETTLE_ATTEMPTS && !e.is_unrecoverable_error() => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(added) => return Ok(added == 1),
                Err(e) => return Err(backend("put", &row, e)),
            }
        }
    }

    async fn register_tenant(&self, tenant: &TenantId) -> Result<()> {
        let registry = self.inner.layout.registry();
        let mut conn = self.conn();
        conn.zincr::<_, _, _, f64>(&registry, tenant.as_str(), 1)
            .await
            .map(drop)
            .map_err(|e| backend("register tenant", &registry, e))
    }

    async fn evict_tenant(
        &self,
        ctx: &ExecutionContext,
        tenant: &str,
        score: &str,
    ) -> Result<usize> {
        let Ok(tenant_id) = TenantId::try_from(tenant) else {
            return Ok(0);
        };
        let base = self.inner.layout.tenant_base(&tenant_id);
        let deadlines = Layout::deadlines(&base);
        let ns_index = Layout::namespace_index(&base);
        let mut removed = 0;
        loop {
            let now = now_us();
            let mut conn = self.conn();
            let (n, settled, left): (usize, usize, usize) = guarded(ctx, async {
                EVICT_SCRIPT
                    .key(&deadlines)
                    .key(&ns_index)
                    .arg(&base)
                    .arg(now.to_string())
                    .arg(EVICT_BATCH)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| backend("evict_expired", &deadlines, e))
            })
            .await?;
            removed += n;
            if settled < EVICT_BATCH {
                if left == 0 {
                    let registry = self.inner.layout.registry();
                    let _: i64 = UNREGISTER_SCRIPT
                        .key(&registry)
                        .arg(tenant)
                        .arg(score)
                        .invoke_async(&mut conn)
                        .await
                        .map_err(|e| backend("evict_expired", &registry, e))?;
                }
                return Ok(removed);
            }
        }
    }
}

/// Runs a put's second step in a task of its own if the put ends (an
/// error, a cancelled context, a dropped future) while its `SET` may have
/// run without the second step: the settle script reads the row as it is
/// then, so running it when nothing was needed changes nothing. The common
/// put, which completes, disarms it and pays nothing.
struct Repair<'a, V> {
    store: &'a RedisStore<V>,
    ns: &'a Namespace,
    key: &'a str,
    deadline: Option<u128>,
    trim_upto: u128,
    armed: bool,
}

impl<V> Drop for Repair<'_, V> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = RedisStore::<()>::from_inner(Arc::clone(&self.store.inner));
        let (ns, key) = (self.ns.clone(), self.key.to_owned());
        let (deadline, trim_upto) = (self.deadline, self.trim_upto);
        runtime.spawn(async move {
            // Nobody waits for this outcome: a failure here is the same as
            // the put's own, already reported or abandoned.
            if let Ok(true) = store.settle_put(&ns, &key, true, deadline, trim_upto).await
                && store.inner.conn.is_cluster()
            {
                let _ = store.register_tenant(ns.tenant_id()).await;
            }
        });
    }
}

/// What the first step of a put did.
enum Overwrite {
    /// The key held no value: nothing written; the row's value, back.
    Absent(Vec<u8>),
    /// Written over an old row; `joined` when the row's hint is new (a
    /// cluster's registry must hear of the tenant).
    Done { joined: bool },
}

/// Now, in nanoseconds since the Unix epoch (0 if the clock is before it).
fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn now_us() -> u128 {
    now_ns() / 1_000
}

/// The deadline (µs, rounded up) and the `PEXPIRE` (ms, rounded up, at
/// least 1) of a TTL starting at `now_ns`; `None` for "never".
fn deadline_for(now_ns: u128, ttl: Duration) -> Option<(u128, u128)> {
    let ttl_ns = ttl.as_nanos();
    let deadline_us = (now_ns + ttl_ns).div_ceil(1_000);
    (deadline_us <= MAX_DEADLINE_US).then(|| (deadline_us, ttl_ns.div_ceil(1_000_000).max(1)))
}

/// The `ZRANGEBYLEX` bounds of the keys starting with `prefix`: `0xFF`
/// never occurs in UTF-8, so `(prefix 0xFF` is above every such key.
fn lex_range(prefix: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    match prefix {
        None => (b"-".to_vec(), b"+".to_vec()),
        Some(p) => {
            let mut min = Vec::with_capacity(p.len() + 1);
            min.push(b'[');
            min.extend_from_slice(p.as_bytes());
            let mut max = Vec::with_capacity(p.len() + 2);
            max.push(b'(');
            max.extend_from_slice(p.as_bytes());
            max.push(0xFF);
            (min, max)
        }
    }
}

#[async_trait]
impl<V> Store<V> for RedisStore<V>
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
        let layout = &self.inner.layout;
        let now = now_ns();
        let timing = options.ttl.and_then(|ttl| deadline_for(now, ttl));
        let deadline = timing.map(|(deadline, _)| deadline);
        let trim_upto = (now / 1_000).saturating_sub(TRIM_GRACE.as_micros());
        let mut payload = row_header(deadline);
        self.inner
            .codec
            .encode_into(&value, &mut payload)
            .map_err(|e| {
                Error::invalid_request(format!(
                    "redis store: cannot encode the value for key \"{}\": {e}",
                    super::conn::show(&layout.row_key(ns, key))
                ))
            })?;
        let cluster = self.inner.conn.is_cluster();
        // A caller that gives up (cancelled, late, or dropping this future)
        // once the `SET` may have run leaves the second step to the repair
        // guard, so no row is left with a TTL that no hint covers.
        let mut repair = Repair {
            store: self,
            ns,
            key,
            deadline,
            trim_upto,
            armed: true,
        };
        let put = guarded(ctx, self.overwrite(ns, key, payload, timing, trim_upto)).await;
        repair.armed = matches!(
            &put,
            Err(Error::Cancelled | Error::DeadlineExceeded | Error::Provider { .. })
        );
        drop(repair);
        let joined = match put? {
            Overwrite::Done { joined } => joined,
            // A new row (or one Redis expired): the put script writes it
            // with its index entries.
            Overwrite::Absent(payload) => {
                let put = Row {
                    base: layout.tenant_base(ns.tenant_id()),
                    scope_id: Layout::scope_id(ns.scope()),
                    key: key.to_owned(),
                    payload,
                    timing,
                    trim_upto,
                    tenant: ns.tenant_id().clone(),
                };
                // One server: one lane for every tenant (a script may touch
                // any key there); a cluster: one per tenant, hence per slot.
                let lane = if cluster {
                    put.base.clone()
                } else {
                    String::new()
                };
                // Boxed, as the settle step is: new rows are the rarer put.
                guarded(ctx, Box::pin(self.inner.combiner.put(&lane, put))).await?;
                timing.is_some()
            }
        };
        // On a cluster the registry lives in another slot, so it is told
        // after the write (see the module docs); this step is not abandoned
        // on cancellation, since the row is already written.
        if joined && cluster {
            Box::pin(self.register_tenant(ns.tenant_id())).await?;
        }
        Ok(())
    }

    async fn get(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        Ok(self.get_row(ctx, ns, key).await?.map(|(value, _)| value))
    }

    async fn delete(&self, ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        let base = self.inner.layout.tenant_base(ns.tenant_id());
        let scope_id = Layout::scope_id(ns.scope());
        let member = Layout::row_member(&scope_id, key);
        let row = format!("{base}{member}");
        let mut invocation = DELETE_SCRIPT.key(&row);
        invocation
            .key(Layout::key_index(&base, &scope_id))
            .key(Layout::namespace_index(&base))
            .key(Layout::deadlines(&base))
            .arg(key)
            .arg(&scope_id)
            .arg(&member);
        let mut conn = self.conn();
        let _: i64 = guarded(ctx, async {
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| backend("delete", &row, e))
        })
        .await?;
        Ok(())
    }

    async fn list(
        &self,
        ctx: &ExecutionContext,
        ns: &Namespace,
        prefix: Option<&str>,
    ) -> Result<Vec<String>> {
        let base = self.inner.layout.tenant_base(ns.tenant_id());
        let scope_id = Layout::scope_id(ns.scope());
        let index = Layout::key_index(&base, &scope_id);
        let (min, max) = lex_range(prefix);
        let mut invocation = LIST_SCRIPT.key(&index);
        invocation
            .arg(min)
            .arg(max)
            .arg([base.as_str(), &scope_id, KEY_MARK].concat())
            .arg(now_us().to_string());
        let mut conn = self.conn();
        guarded(ctx, async {
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| backend("list", &index, e))
        })
        .await
    }

    async fn list_namespaces(
        &self,
        ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        let tenant = prefix.tenant_id();
        let base = self.inner.layout.tenant_base(tenant);
        let index = Layout::namespace_index(&base);
        let now = now_us();
        let mode = if prefix.scope().is_empty() {
            "all"
        } else {
            "prefix"
        };
        let mut invocation = LIST_NAMESPACES_SCRIPT.key(&index);
        invocation
            .key(Layout::deadlines(&base))
            .arg(&base)
            .arg(now.to_string())
            .arg(now.saturating_sub(TRIM_GRACE.as_micros()).to_string())
            .arg(mode)
            .arg(Layout::scope_id(prefix.scope()))
            .arg(TRIM_PER_LISTING);
        let mut conn = self.conn();
        let scope_ids: Vec<String> = guarded(ctx, async {
            invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| backend("list_namespaces", &index, e))
        })
        .await?;
        scope_ids
            .iter()
            .map(|id| {
                namespace_of(tenant, id).ok_or_else(|| {
                    undecodable(&index, "a namespace", &format!("member {id:?} is not one"))
                })
            })
            .collect()
    }

    async fn evict_expired(&self, ctx: &ExecutionContext) -> Result<usize> {
        let registry = self.inner.layout.registry();
        let mut conn = self.conn();
        let flat: Vec<String> = guarded(ctx, async {
            conn.zrange_withscores(&registry, 0, -1)
                .await
                .map_err(|e| backend("evict_expired", &registry, e))
        })
        .await?;
        let mut removed = 0;
        for pair in flat.chunks_exact(2) {
            removed += self.evict_tenant(ctx, &pair[0], &pair[1]).await?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod server_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_cap() {
        assert_eq!(deadline_for(1_000, Duration::ZERO), Some((1, 1)));
        assert_eq!(deadline_for(1_001, Duration::from_nanos(1)), Some((2, 1)));
        assert_eq!(
            deadline_for(0, Duration::from_micros(1_500)),
            Some((1_500, 2))
        );
        assert_eq!(deadline_for(0, Duration::MAX), None);
        assert_eq!(deadline_for(0, Duration::from_secs(u64::MAX)), None);
    }

    #[test]
    fn lex_ranges_are_literal() {
        assert_eq!(
            lex_range(Some("a*")),
            (b"[a*".to_vec(), b"(a*\xff".to_vec())
        );
        assert_eq!(lex_range(None), (b"-".to_vec(), b"+".to_vec()));
    }
}
