//! The `Store<V>` contract, checked against `SkipStore` through the public
//! API only.
//!
//! * The reference store's own tests (entelix-memory 0.6.1, `store.rs`'s
//!   `mod tests`), ported with a `ManualClock` in place of sleeping.
//! * entelix-memory 0.6.1's integration tests that drive `InMemoryStore`
//!   (`basic.rs`, `namespace_collision.rs`, `patterns.rs`), including the
//!   memory patterns built over `Arc<dyn Store<_>>` (`BufferMemory`,
//!   `SummaryMemory`, `EntityMemory`).
//! * The drop-in surface and the details DESIGN.md calls easy to get wrong:
//!   TTL edge cases, supersession of earlier TTLs, exact eviction counts,
//!   literal prefixes, namespace isolation, listing order.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use entelix_core::ir::{ContentPart, Message};
use entelix_core::{ExecutionContext, Result, TenantId};
use entelix_memory::{
    BufferMemory, EntityMemory, EntityRecord, Namespace, NamespacePrefix, PutOptions, Store,
    SummaryMemory,
};
use skipstore::{ManualClock, SkipStore, SystemClock};

// ── helpers ─────────────────────────────────────────────────────────────────

fn ctx() -> ExecutionContext {
    ExecutionContext::new()
}

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn ns() -> Namespace {
    Namespace::new(t("acme")).with_scope("agent-a")
}

fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A store on a manual clock, and the clock.
fn manual<V: Clone + Send + Sync + 'static>() -> (ManualClock, SkipStore<V>) {
    let clock = ManualClock::new();
    let store = SkipStore::builder().clock(clock.clone()).build();
    (clock, store)
}

const YEAR: Duration = Duration::from_secs(365 * 86_400);

#[path = "trait_contract/drop_in.rs"]
mod drop_in;
#[path = "trait_contract/list.rs"]
mod list;
#[path = "trait_contract/list_namespaces.rs"]
mod list_namespaces;
#[path = "trait_contract/ported_basic.rs"]
mod ported_basic;
#[path = "trait_contract/ported_namespace_collision.rs"]
mod ported_namespace_collision;
#[path = "trait_contract/ported_patterns.rs"]
mod ported_patterns;
#[path = "trait_contract/ported_store_rs.rs"]
mod ported_store_rs;
#[path = "trait_contract/regressions.rs"]
mod regressions;
#[path = "trait_contract/ttl.rs"]
mod ttl;
