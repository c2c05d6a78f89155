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
//! * **Atomic writes.** A `put` or `delete` is one Lua script that changes the
//!   value and its index entries together (`EVALSHA`), so no reader sees a
//!   listed key without its value or the reverse, and a call cancelled after
//!   it was sent has run whole or not at all. Concurrent puts that share a
//!   lane (the server, or one tenant's slot on a cluster) go as one script
//!   call of several rows (the write combiner, `combine.rs`): each row is
//!   still written whole, each caller gets its own outcome, and a put
//!   cancelled while it waits for its batch is never written.
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
//! * **Bounded indexes.** A tenant's rows with a TTL sit in a sorted set by
//!   deadline. `evict_expired` removes every expired row with its index
//!   entries and returns exactly how many it removed (rows Redis already
//!   dropped included: the row ends when its index entries go). Without it,
//!   each write that adds a row to the deadline index (the only way it
//!   grows) removes up to four rows of its tenant expired for more than a
//!   second, and each `list_namespaces` up to 128, so the
//!   indexes stay bounded by the rows written in the last TTL plus a second,
//!   whatever the churn.
//! * **Cancellation.** A call whose `ExecutionContext` is cancelled or past
//!   its deadline fails with `Error::Cancelled` / `Error::DeadlineExceeded`
//!   before anything is sent; one cancelled in flight returns at once (the
//!   script then runs whole or not at all).
//! * **Errors.** Unreachable or timed-out servers are `Error::Provider`
//!   (network) naming the operation and key; a value of another Redis type
//!   at one of our keys, or one the codec cannot decode, is `Error::Config`
//!   naming the key (another application or codec writes under the prefix).
//!   No input panics.
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
//! * Scripts rather than `MULTI`/`EXEC`: one round trip, and a script can read
//!   (the index's state, the row's type) before it writes, which a
//!   transaction cannot.

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
