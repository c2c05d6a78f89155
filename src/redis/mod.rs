//! A Redis-backed [`Store<V>`](entelix_memory::Store) for hosts that run
//! several replicas (cargo feature `redis`, off by default).
//!
//! [`RedisStore<V>`] keeps the contract of [`crate::SkipStore`] on a shared
//! Redis, one server or a cluster:
//!
//! ```no_run
//! # async fn demo() -> entelix_core::Result<()> {
//! use std::sync::Arc;
//! use entelix_core::{ExecutionContext, TenantId};
//! use entelix_memory::{Namespace, Store};
//! use skipstore::redis::RedisStore;
//!
//! let store: Arc<dyn Store<String>> =
//!     Arc::new(RedisStore::<String>::connect("redis://127.0.0.1:6379/").await?);
//! let ctx = ExecutionContext::new();
//! let ns = Namespace::new(TenantId::new("acme")).with_scope("agent-a");
//! store.put(&ctx, &ns, "summary", "likes tea".to_owned()).await?;
//! assert_eq!(store.list(&ctx, &ns, None).await?, ["summary"]);
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! * **No collisions.** The [key layout](layout) is injective: no two
//!   `(tenant, scope, key)` rows share a Redis key, whatever bytes they hold,
//!   and every key reads back to its row ([`RedisStore::parse_key`]).
//! * **Listings without SCAN.** A sorted set per namespace holds its keys, and
//!   one per tenant its namespaces; `list` and `list_namespaces` are
//!   `ZRANGEBYLEX` over literal prefix ranges, O(log n + output) on the
//!   server (plus, for `list_namespaces`, a read of the tenant's expired
//!   rows not yet removed), sorted, each entry once, never a child namespace's keys.
//! * **One command for the common call.** A row is one Redis string, its
//!   deadline in a short header before the encoded value ([`layout`]):
//!   `get` is one `GET`, and the common `put`, an overwrite, is one `SET
//!   ... XX GET [PX]` (no script), whose answer (the old row's header) says
//!   whether the indexes need anything more. They need more only when a
//!   row is new (the put script writes it with its key and namespace index
//!   entries, atomically), or when an overwrite gives a row an earlier
//!   deadline than its old one (none, or a later one): a second step, a
//!   script that reads the row as it is then and moves its deadline hint
//!   down. Concurrent new rows that share a lane (the server, or one
//!   tenant's slot on a cluster) go as one script call of several rows (the
//!   write combiner, `combine.rs`): each row is still written whole, each
//!   caller gets its own outcome, and a put cancelled while it waits for
//!   its batch is never written. `delete` is one script.
//! * **No half-written rows.** No reader sees a listed key without its value
//!   or a value without its listing (the scripts are atomic, and an
//!   overwrite changes no listing). The deadline index holds a lower-bound
//!   hint per row with a TTL; whatever removes rows by it reads the row's
//!   header first, so a row whose TTL was extended or dropped is never
//!   removed or counted early.
//! * **Exact TTLs.** A row's deadline (µs since the Unix epoch, rounded up)
//!   is stored with it, and every read checks it: `get`, `list` and
//!   `list_namespaces` never return a row at or past its deadline.
//!   `Duration::ZERO` is expired at once, sub-millisecond TTLs are honoured,
//!   and `Duration::MAX` (any deadline past 2^53 µs, the year 2255) means
//!   never. Redis's own expiry (`PEXPIRE`, rounded up to the next
//!   millisecond, at least 1) only frees memory later; it never drops a row
//!   early. Deadlines come from the writing client's clock and are checked
//!   against the reading client's: across machines, TTLs are as exact as the
//!   clocks agree (NTP).
//! * **Bounded indexes.** A tenant's rows with a TTL sit in a sorted set
//!   scored by a deadline hint (at most the row's deadline, one entry per
//!   row). `evict_expired` settles every hint that is due: a row past its
//!   deadline (or dropped by Redis) leaves with its index entries, a live
//!   row's hint moves to its real deadline or leaves when the row has no
//!   TTL; it returns exactly how many rows it removed (rows Redis already
//!   dropped included: the row ends when its index entries go). Without it,
//!   each write that adds a hint (the only way the index grows) settles up
//!   to four hints of its tenant due more than a second ago, and each
//!   `list_namespaces` settles every due hint (removing up to 128 rows), so
//!   the indexes stay bounded by the rows written in the last TTL plus a
//!   second, whatever the churn.
//! * **Cancellation.** A call whose `ExecutionContext` is cancelled or past
//!   its deadline fails with `Error::Cancelled` / `Error::DeadlineExceeded`
//!   before anything is sent; one cancelled in flight returns at once (the
//!   command or script then runs whole or not at all). A put abandoned after
//!   its `SET` may have run (cancelled, late, failed, or its future dropped)
//!   leaves its second step to a background task, so no row is left with a
//!   TTL that no hint covers. Only a process that dies between the two
//!   steps of an overwrite that shortens a TTL can leave such a row: `get`
//!   and `list` stay exact (they read the row's header), but the row's key
//!   stays in the key index (and may keep its namespace listed) until the
//!   row is written or deleted again.
//! * **Errors.** Unreachable or timed-out servers are `Error::Provider`
//!   (network) naming the operation and key; a value of another Redis type
//!   at one of our keys (a `WRONGTYPE`, which `get` and `put` both refuse,
//!   leaving it as it is), a string without a row header, or a payload the
//!   codec cannot decode is `Error::Config` naming the key (another
//!   application or codec writes under the prefix). A `put` replaces a
//!   string without a row header with a row, and lists it. No input panics.
//! * **Layout version 2.** Rows were hashes (fields `v`, `d`) until the
//!   seventh session; a store of this version reports such a row as a value
//!   of another type. There is no migration (this is a cache): flush the
//!   old rows or change the prefix.
//! * **Cluster.** The tenant is the key's hash tag, so each script touches
//!   one slot. The registry of tenants that hold TTL rows (for
//!   `evict_expired`) lives in its own slot: on one server the put script
//!   updates it atomically, on a cluster the client updates it right after
//!   the write; a client that dies between the two leaves that tenant's
//!   expired rows to the write-time trimming above.
//!
//! `list_namespaces` across tenants is not a thing: a
//! [`NamespacePrefix`](entelix_memory::NamespacePrefix) always names its
//! tenant. Replication is Redis's: a failover can lose acknowledged writes.
//!
//! # Choices
//!
//! * The client is the `redis` crate, 1.8 (the current 1.x; 2.0 is a release
//!   candidate). It is the crate entelix-persistence 0.6.1 builds on, so a
//!   host that has both compiles one Redis client, and its
//!   `ConnectionManager` (one multiplexed connection, reconnecting on
//!   failure) and `cluster_async::ClusterConnection` (multiplexed per node,
//!   following MOVED/ASK) let every task of a process share one connection
//!   set without a pool. `Script` sends `EVALSHA` and reloads on `NOSCRIPT`.
//!   fred was the alternative; it would be a second client in entelix hosts.
//! * Values: [`Codec`] (serde_json by default, MessagePack as the compact
//!   option, and why that one).
//! * Plain commands where one does (`GET`; `SET ... XX GET` for an
//!   overwrite, which also checks the key's type and answers the old
//!   header), scripts where a write must read before it writes (a new row,
//!   a deadline moving down, `delete`, the sweeps), rather than
//!   `MULTI`/`EXEC`, which cannot read. A script costs the server 5 to 7 µs
//!   against a `SET`'s 0.4 to 1 (BENCHMARKS.md, "The string row").

mod builder;
mod codec;
mod combine;
mod conn;
pub mod layout;
pub mod local;
pub mod near;
mod scripts;
mod store;

pub use builder::{
    DEFAULT_CLUSTER_RETRIES, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PREFIX, DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SERVER_RETRIES, RedisStoreBuilder,
};
pub use codec::Codec;
pub use layout::RedisKey;
pub use near::{
    DEFAULT_HEARTBEAT, DEFAULT_LOCAL_TTL_CAP, DEFAULT_MAX_LOCAL_ENTRIES, NearCache,
    NearCacheBuilder, NearStats, TRACKING_CLIENT_NAME,
};
pub use store::RedisStore;
