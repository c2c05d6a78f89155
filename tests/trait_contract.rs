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

// ── ported: entelix-memory 0.6.1 store.rs `mod tests` ───────────────────────

#[tokio::test]
async fn put_then_get_round_trips() {
    let store: SkipStore<String> = SkipStore::new();
    store.put(&ctx(), &ns(), "k", "v".into()).await.unwrap();
    let got = store.get(&ctx(), &ns(), "k").await.unwrap();
    assert_eq!(got.as_deref(), Some("v"));
}

#[tokio::test]
async fn ttl_expires_on_get() {
    let (clock, store) = manual::<String>();
    store
        .put_with_options(&ctx(), &ns(), "k", "v".into(), ttl(ms(20)))
        .await
        .unwrap();
    assert!(store.get(&ctx(), &ns(), "k").await.unwrap().is_some());
    clock.advance(ms(20) - Duration::from_nanos(1));
    assert!(
        store.get(&ctx(), &ns(), "k").await.unwrap().is_some(),
        "live until the last nanosecond"
    );
    clock.advance(Duration::from_nanos(1));
    // Expired: get returns None although no sweep has run.
    assert!(store.get(&ctx(), &ns(), "k").await.unwrap().is_none());
    assert_eq!(store.total_entries(), 1);
}

#[tokio::test]
async fn evict_expired_returns_count_and_drops_rows() {
    let (clock, store) = manual::<String>();
    store
        .put_with_options(&ctx(), &ns(), "doomed", "v".into(), ttl(ms(10)))
        .await
        .unwrap();
    store.put(&ctx(), &ns(), "alive", "v".into()).await.unwrap();
    clock.advance(ms(30));
    let removed = store.evict_expired(&ctx()).await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(store.total_entries(), 1);
}

#[tokio::test]
async fn list_namespaces_finds_subscopes_under_prefix() {
    let store: SkipStore<String> = SkipStore::new();
    let ns_a = Namespace::new(t("acme")).with_scope("agent-a");
    let ns_b = Namespace::new(t("acme"))
        .with_scope("agent-a")
        .with_scope("conv-1");
    let ns_other = Namespace::new(t("acme")).with_scope("agent-b");
    store.put(&ctx(), &ns_a, "k", "v".into()).await.unwrap();
    store.put(&ctx(), &ns_b, "k", "v".into()).await.unwrap();
    store.put(&ctx(), &ns_other, "k", "v".into()).await.unwrap();
    let prefix = NamespacePrefix::new(t("acme")).with_scope("agent-a");
    let found = store.list_namespaces(&ctx(), &prefix).await.unwrap();
    // Sorted by rendered form, structurally equal to the originals.
    assert_eq!(found, vec![ns_a, ns_b]);
}

#[tokio::test]
async fn list_namespaces_recovers_escaped_segments() {
    let store: SkipStore<String> = SkipStore::new();
    let ns_colon = Namespace::new(t("acme"))
        .with_scope("agent-a")
        .with_scope("k8s:pod:foo");
    let ns_backslash = Namespace::new(t("acme"))
        .with_scope("agent-a")
        .with_scope("c:\\dir\\");
    store.put(&ctx(), &ns_colon, "k", "v".into()).await.unwrap();
    store
        .put(&ctx(), &ns_backslash, "k", "v".into())
        .await
        .unwrap();
    let prefix = NamespacePrefix::new(t("acme")).with_scope("agent-a");
    let found = store.list_namespaces(&ctx(), &prefix).await.unwrap();
    let mut expected = vec![ns_colon, ns_backslash];
    expected.sort_by_key(Namespace::render);
    assert_eq!(found, expected);
}

#[tokio::test]
async fn delete_then_get_returns_none() {
    let store: SkipStore<String> = SkipStore::new();
    store.put(&ctx(), &ns(), "k", "v".into()).await.unwrap();
    store.delete(&ctx(), &ns(), "k").await.unwrap();
    assert!(store.get(&ctx(), &ns(), "k").await.unwrap().is_none());
    assert_eq!(store.total_entries(), 0);
}

// ── ported: entelix-memory 0.6.1 tests/basic.rs ─────────────────────────────

#[tokio::test]
async fn memory_store_put_get_delete_round_trip() -> Result<()> {
    let store = SkipStore::<i64>::new();
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.put(&ctx, &ns, "k1", 42).await?;
    assert_eq!(store.get(&ctx, &ns, "k1").await?, Some(42));
    store.delete(&ctx, &ns, "k1").await?;
    assert_eq!(store.get(&ctx, &ns, "k1").await?, None);
    Ok(())
}

#[tokio::test]
async fn memory_store_namespaces_are_isolated() -> Result<()> {
    let store = SkipStore::<i64>::new();
    let alpha = Namespace::new(t("alpha"));
    let beta = Namespace::new(t("beta"));
    let ctx = ctx();
    store.put(&ctx, &alpha, "k", 1).await?;
    store.put(&ctx, &beta, "k", 2).await?;
    assert_eq!(store.get(&ctx, &alpha, "k").await?, Some(1));
    assert_eq!(store.get(&ctx, &beta, "k").await?, Some(2));
    assert_eq!(store.total_entries(), 2);
    Ok(())
}

#[tokio::test]
async fn memory_store_scope_segments_isolate_namespaces() -> Result<()> {
    let store = SkipStore::<String>::new();
    let agent_a = Namespace::new(t("tenant")).with_scope("agent-A");
    let agent_b = Namespace::new(t("tenant")).with_scope("agent-B");
    let ctx = ctx();
    store.put(&ctx, &agent_a, "name", "Alice".into()).await?;
    store.put(&ctx, &agent_b, "name", "Bob".into()).await?;
    assert_eq!(
        store.get(&ctx, &agent_a, "name").await?.as_deref(),
        Some("Alice")
    );
    assert_eq!(
        store.get(&ctx, &agent_b, "name").await?.as_deref(),
        Some("Bob")
    );
    Ok(())
}

#[tokio::test]
async fn memory_store_list_with_prefix_filters_correctly() -> Result<()> {
    let store = SkipStore::<i32>::new();
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.put(&ctx, &ns, "user.alice", 1).await?;
    store.put(&ctx, &ns, "user.bob", 2).await?;
    store.put(&ctx, &ns, "agent.helper", 3).await?;
    // SkipStore lists in key order, so no sort is needed.
    let user_keys = store.list(&ctx, &ns, Some("user.")).await?;
    assert_eq!(user_keys, vec!["user.alice", "user.bob"]);
    let all = store.list(&ctx, &ns, None).await?;
    assert_eq!(all, vec!["agent.helper", "user.alice", "user.bob"]);
    Ok(())
}

#[tokio::test]
async fn memory_store_delete_is_idempotent() -> Result<()> {
    let store = SkipStore::<i32>::new();
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.delete(&ctx, &ns, "missing").await?;
    store.put(&ctx, &ns, "k", 1).await?;
    store.delete(&ctx, &ns, "k").await?;
    store.delete(&ctx, &ns, "k").await?;
    assert_eq!(store.total_entries(), 0);
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    Ok(())
}

#[tokio::test]
async fn memory_store_dyn_dispatch_works_via_arc_store() -> Result<()> {
    let store: Arc<dyn Store<String>> = Arc::new(SkipStore::<String>::new());
    let ns = Namespace::new(t("t"));
    let ctx = ctx();
    store.put(&ctx, &ns, "k", "v".into()).await?;
    assert_eq!(store.get(&ctx, &ns, "k").await?.as_deref(), Some("v"));
    Ok(())
}

fn buffer_store() -> Arc<dyn Store<Vec<Message>>> {
    Arc::new(SkipStore::<Vec<Message>>::new())
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m.content.first() {
            Some(ContentPart::Text { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn buffer_memory_appends_and_returns_messages() -> Result<()> {
    let buf = BufferMemory::new(buffer_store(), Namespace::new(t("tenant")), 10);
    let ctx = ctx();
    buf.append(&ctx, Message::user("hi")).await?;
    buf.append(&ctx, Message::assistant("hello")).await?;
    let messages = buf.messages(&ctx).await?;
    assert_eq!(texts(&messages), vec!["hi", "hello"]);
    Ok(())
}

#[tokio::test]
async fn buffer_memory_drops_oldest_when_over_capacity() -> Result<()> {
    let buf = BufferMemory::new(buffer_store(), Namespace::new(t("tenant")), 3);
    let ctx = ctx();
    for i in 0..5 {
        buf.append(&ctx, Message::user(format!("turn {i}"))).await?;
    }
    let messages = buf.messages(&ctx).await?;
    assert_eq!(texts(&messages), vec!["turn 2", "turn 3", "turn 4"]);
    Ok(())
}

#[tokio::test]
async fn buffer_memory_clear_resets_to_empty() -> Result<()> {
    let buf = BufferMemory::new(buffer_store(), Namespace::new(t("tenant")), 10);
    let ctx = ctx();
    buf.append(&ctx, Message::user("hi")).await?;
    assert_eq!(buf.messages(&ctx).await?.len(), 1);
    buf.clear(&ctx).await?;
    assert_eq!(buf.messages(&ctx).await?.len(), 0);
    buf.append(&ctx, Message::user("again")).await?;
    assert_eq!(texts(&buf.messages(&ctx).await?), vec!["again"]);
    Ok(())
}

#[tokio::test]
async fn buffer_memory_namespaces_are_isolated() -> Result<()> {
    let store = buffer_store();
    let buf_a = BufferMemory::new(
        Arc::clone(&store),
        Namespace::new(t("tenant")).with_scope("A"),
        10,
    );
    let buf_b = BufferMemory::new(store, Namespace::new(t("tenant")).with_scope("B"), 10);
    let ctx = ctx();
    buf_a.append(&ctx, Message::user("from A")).await?;
    buf_b.append(&ctx, Message::user("from B")).await?;
    assert_eq!(texts(&buf_a.messages(&ctx).await?), vec!["from A"]);
    assert_eq!(texts(&buf_b.messages(&ctx).await?), vec!["from B"]);
    Ok(())
}

// ── ported: entelix-memory 0.6.1 tests/namespace_collision.rs ───────────────

#[tokio::test]
async fn store_isolates_distinct_tenants_under_identical_scope() {
    let store: Arc<dyn Store<String>> = Arc::new(SkipStore::<String>::new());
    let ctx = ctx();
    let acme = Namespace::new(t("acme")).with_scope("session-42");
    let beta = Namespace::new(t("beta")).with_scope("session-42");
    store
        .put(&ctx, &acme, "msg", "acme private".to_owned())
        .await
        .unwrap();
    store
        .put(&ctx, &beta, "msg", "beta private".to_owned())
        .await
        .unwrap();
    assert_eq!(
        store.get(&ctx, &acme, "msg").await.unwrap().as_deref(),
        Some("acme private"),
    );
    assert_eq!(
        store.get(&ctx, &beta, "msg").await.unwrap().as_deref(),
        Some("beta private"),
    );
    let leaked_to_beta = store
        .get(&ctx, &beta, "non-existent-in-beta-but-present-in-acme")
        .await
        .unwrap();
    assert!(leaked_to_beta.is_none());
    assert_eq!(store.list(&ctx, &acme, None).await.unwrap(), vec!["msg"]);
    assert_eq!(store.list(&ctx, &beta, None).await.unwrap(), vec!["msg"]);
    store.delete(&ctx, &acme, "msg").await.unwrap();
    assert!(store.get(&ctx, &acme, "msg").await.unwrap().is_none());
    assert_eq!(
        store.get(&ctx, &beta, "msg").await.unwrap().as_deref(),
        Some("beta private"),
        "delete on tenant A must not touch tenant B",
    );
}

#[tokio::test]
async fn store_isolates_colon_bearing_segments_via_escaping() {
    let store: Arc<dyn Store<String>> = Arc::new(SkipStore::<String>::new());
    let ctx = ctx();
    let a = Namespace::new(t("t:1")).with_scope("a:b");
    let b = Namespace::new(t("t")).with_scope("1:a:b");
    assert_ne!(a.render(), b.render());
    store.put(&ctx, &a, "k", "from-a".to_owned()).await.unwrap();
    store.put(&ctx, &b, "k", "from-b".to_owned()).await.unwrap();
    assert_eq!(
        store.get(&ctx, &a, "k").await.unwrap().as_deref(),
        Some("from-a")
    );
    assert_eq!(
        store.get(&ctx, &b, "k").await.unwrap().as_deref(),
        Some("from-b")
    );
    // Neither is under the other's tenant.
    let under_t = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("t")))
        .await
        .unwrap();
    assert_eq!(under_t, vec![b]);
    let under_t1 = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("t:1")))
        .await
        .unwrap();
    assert_eq!(under_t1, vec![a]);
}

// ── ported: entelix-memory 0.6.1 tests/patterns.rs (store-backed ones) ──────

fn summary() -> SummaryMemory {
    SummaryMemory::new(Arc::new(SkipStore::<String>::new()), Namespace::new(t("t")))
}

#[tokio::test]
async fn summary_set_and_get_round_trip() -> Result<()> {
    let mem = summary();
    let ctx = ctx();
    assert!(mem.get(&ctx).await?.is_none());
    mem.set(&ctx, "user prefers brief replies").await?;
    assert_eq!(
        mem.get(&ctx).await?.as_deref(),
        Some("user prefers brief replies")
    );
    Ok(())
}

#[tokio::test]
async fn summary_append_concatenates_with_blank_line() -> Result<()> {
    let mem = summary();
    let ctx = ctx();
    mem.append(&ctx, "turn 1: hello").await?;
    mem.append(&ctx, "turn 2: hi back").await?;
    let summary = mem.get(&ctx).await?.unwrap();
    assert_eq!(summary, "turn 1: hello\n\nturn 2: hi back");
    Ok(())
}

#[tokio::test]
async fn summary_append_to_empty_starts_fresh() -> Result<()> {
    let mem = summary();
    let ctx = ctx();
    mem.append(&ctx, "first content").await?;
    assert_eq!(mem.get(&ctx).await?.as_deref(), Some("first content"));
    Ok(())
}

#[tokio::test]
async fn summary_clear_removes_value() -> Result<()> {
    let mem = summary();
    let ctx = ctx();
    mem.set(&ctx, "anything").await?;
    mem.clear(&ctx).await?;
    assert!(mem.get(&ctx).await?.is_none());
    Ok(())
}

fn entities() -> EntityMemory {
    let store: Arc<dyn Store<HashMap<String, EntityRecord>>> =
        Arc::new(SkipStore::<HashMap<String, EntityRecord>>::new());
    EntityMemory::new(store, Namespace::new(t("t")))
}

#[tokio::test]
async fn entity_set_and_get() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "vegetarian").await?;
    mem.set_entity(&ctx, "Bob", "prefers Korean").await?;
    assert_eq!(
        mem.entity(&ctx, "Alice").await?.as_deref(),
        Some("vegetarian")
    );
    assert_eq!(
        mem.entity(&ctx, "Bob").await?.as_deref(),
        Some("prefers Korean")
    );
    assert!(mem.entity(&ctx, "Carol").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn entity_all_returns_full_map() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "v").await?;
    mem.set_entity(&ctx, "Bob", "k").await?;
    let all = mem.all(&ctx).await?;
    assert_eq!(all.len(), 2);
    assert_eq!(all.get("Alice").map(String::as_str), Some("v"));
    assert_eq!(all.get("Bob").map(String::as_str), Some("k"));
    Ok(())
}

#[tokio::test]
async fn entity_remove_drops_one() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "A", "1").await?;
    mem.set_entity(&ctx, "B", "2").await?;
    mem.remove(&ctx, "A").await?;
    assert!(mem.entity(&ctx, "A").await?.is_none());
    assert_eq!(mem.entity(&ctx, "B").await?.as_deref(), Some("2"));
    Ok(())
}

#[tokio::test]
async fn entity_remove_idempotent_when_absent() -> Result<()> {
    let mem = entities();
    mem.remove(&ctx(), "ghost").await?;
    Ok(())
}

#[tokio::test]
async fn entity_clear_drops_everything() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "A", "1").await?;
    mem.set_entity(&ctx, "B", "2").await?;
    mem.clear(&ctx).await?;
    assert!(mem.all(&ctx).await?.is_empty());
    Ok(())
}

// The two tests below sleep because EntityMemory stamps records with the
// wall clock (chrono), not with the store's clock; the store's TTL is not
// involved.

#[tokio::test]
async fn entity_set_preserves_created_at_on_update() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "v1").await?;
    let initial = mem.entity_record(&ctx, "Alice").await?.unwrap();
    tokio::time::sleep(ms(15)).await;
    mem.set_entity(&ctx, "Alice", "v2").await?;
    let updated = mem.entity_record(&ctx, "Alice").await?.unwrap();
    assert_eq!(updated.fact, "v2");
    assert_eq!(updated.created_at, initial.created_at);
    assert!(updated.last_seen > initial.last_seen);
    Ok(())
}

#[tokio::test]
async fn entity_touch_refreshes_last_seen_without_changing_fact() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "v1").await?;
    let initial = mem.entity_record(&ctx, "Alice").await?.unwrap();
    tokio::time::sleep(ms(15)).await;
    assert!(mem.touch(&ctx, "Alice").await?);
    let after = mem.entity_record(&ctx, "Alice").await?.unwrap();
    assert_eq!(after.fact, initial.fact);
    assert!(after.last_seen > initial.last_seen);
    Ok(())
}

#[tokio::test]
async fn entity_touch_returns_false_for_absent_entity() -> Result<()> {
    let mem = entities();
    assert!(!mem.touch(&ctx(), "ghost").await?);
    Ok(())
}

#[tokio::test]
async fn entity_prune_drops_records_past_ttl() -> Result<()> {
    let mem = entities();
    let ctx = ctx();
    mem.set_entity(&ctx, "old", "stale").await?;
    tokio::time::sleep(ms(50)).await;
    mem.set_entity(&ctx, "new", "fresh").await?;
    let pruned = mem.prune_older_than(&ctx, ms(25)).await?;
    assert_eq!(pruned, 1);
    assert!(mem.entity(&ctx, "old").await?.is_none());
    assert_eq!(mem.entity(&ctx, "new").await?.as_deref(), Some("fresh"));
    Ok(())
}

#[tokio::test]
async fn entity_prune_returns_zero_when_namespace_is_empty() -> Result<()> {
    let mem = entities();
    assert_eq!(
        mem.prune_older_than(&ctx(), Duration::from_secs(1)).await?,
        0
    );
    Ok(())
}

// ── drop-in surface ─────────────────────────────────────────────────────────

/// Every trait method is callable on the concrete type with `Store` in
/// scope: no inherent method shadows one of them.
#[tokio::test]
async fn trait_methods_resolve_on_the_concrete_type() -> Result<()> {
    let store: SkipStore<String> = SkipStore::new();
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "k", "v".to_owned()).await?;
    store
        .put_with_options(&ctx, &ns, "t", "w".to_owned(), PutOptions::default())
        .await?;
    assert_eq!(store.get(&ctx, &ns, "k").await?.as_deref(), Some("v"));
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["k", "t"]);
    assert_eq!(
        store
            .list_namespaces(&ctx, &NamespacePrefix::from(&ns))
            .await?,
        vec![ns.clone()]
    );
    store.delete(&ctx, &ns, "k").await?;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.total_entries(), 1);
    Ok(())
}

#[tokio::test]
async fn arc_dyn_store_supports_every_method() -> Result<()> {
    let clock = ManualClock::new();
    let store: Arc<dyn Store<String>> =
        Arc::new(SkipStore::<String>::builder().clock(clock.clone()).build());
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "a", "1".to_owned()).await?;
    store
        .put_with_options(&ctx, &ns, "b", "2".to_owned(), ttl(ms(5)))
        .await?;
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "b"]);
    clock.advance(ms(5));
    assert_eq!(store.get(&ctx, &ns, "b").await?, None);
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a"]);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    store.delete(&ctx, &ns, "a").await?;
    assert!(
        store
            .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn clones_share_one_store() -> Result<()> {
    let (clock, a) = manual::<u32>();
    let b = a.clone();
    let ctx = ctx();
    a.put(&ctx, &ns(), "k", 1).await?;
    assert_eq!(b.get(&ctx, &ns(), "k").await?, Some(1));
    b.put_with_options(&ctx, &ns(), "t", 2, ttl(ms(1))).await?;
    assert_eq!(a.total_entries(), 2);
    clock.advance(ms(1));
    assert_eq!(a.evict_expired(&ctx).await?, 1);
    assert_eq!(b.total_entries(), 1);
    b.delete(&ctx, &ns(), "k").await?;
    assert_eq!(a.get(&ctx, &ns(), "k").await?, None);
    drop(a);
    b.put(&ctx, &ns(), "after-drop", 3).await?;
    assert_eq!(b.get(&ctx, &ns(), "after-drop").await?, Some(3));
    Ok(())
}

#[tokio::test]
async fn default_builds_an_empty_working_store() -> Result<()> {
    let store: SkipStore<String> = SkipStore::default();
    assert_eq!(store.total_entries(), 0);
    assert_eq!(store.stats().rows, 0);
    assert_eq!(store.stats().namespaces, 0);
    assert_eq!(store.stats().pending_timers, 0);
    store.put(&ctx(), &ns(), "k", "v".into()).await?;
    assert_eq!(store.get(&ctx(), &ns(), "k").await?.as_deref(), Some("v"));
    let other = SkipStore::<String>::default();
    assert_eq!(other.total_entries(), 0, "defaults do not share");
    Ok(())
}

#[tokio::test]
async fn builder_accepts_the_system_clock_and_a_sweeper() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::builder()
        .clock(SystemClock::new())
        .background_sweep(ms(50))
        .build();
    store.put(&ctx(), &ns(), "k", 7).await?;
    assert_eq!(store.get(&ctx(), &ns(), "k").await?, Some(7));
    drop(store); // stops and joins the sweeper
    Ok(())
}

/// The background sweeper removes expired rows with no writes and no
/// caller of `evict_expired`. It runs on real time, so poll (bounded).
#[tokio::test]
async fn background_sweeper_removes_expired_rows_without_writes() -> Result<()> {
    let clock = ManualClock::new();
    let store: SkipStore<u8> = SkipStore::builder()
        .clock(clock.clone())
        .background_sweep(ms(1))
        .build();
    store
        .put_with_options(&ctx(), &ns(), "t", 1, ttl(ms(5)))
        .await?;
    store.put(&ctx(), &ns(), "p", 2).await?;
    clock.advance(ms(5));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.total_entries() != 1 {
        assert!(std::time::Instant::now() < deadline, "sweeper never ran");
        tokio::time::sleep(ms(2)).await;
    }
    assert_eq!(store.evict_expired(&ctx()).await?, 0);
    assert_eq!(store.get(&ctx(), &ns(), "p").await?, Some(2));
    Ok(())
}

#[tokio::test]
async fn stats_track_rows_namespaces_and_timers() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let a = ns();
    let b = a.clone().with_scope("child");
    store.put(&ctx, &a, "p", 0).await?;
    store
        .put_with_options(&ctx, &a, "t1", 1, ttl(ms(3)))
        .await?;
    store
        .put_with_options(&ctx, &b, "t2", 2, ttl(ms(3)))
        .await?;
    let s = store.stats();
    assert_eq!((s.rows, s.namespaces, s.pending_timers), (3, 2, 2));
    clock.advance(ms(3));
    assert_eq!(store.evict_expired(&ctx).await?, 2);
    let s = store.stats();
    assert_eq!((s.rows, s.namespaces, s.pending_timers), (1, 1, 0));
    Ok(())
}

// ── TTL edge cases ──────────────────────────────────────────────────────────

#[tokio::test]
async fn zero_ttl_is_expired_immediately() -> Result<()> {
    let (_clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "z", 1, ttl(Duration::ZERO))
        .await?;
    assert_eq!(store.get(&ctx, &ns, "z").await?, None);
    assert!(store.list(&ctx, &ns, None).await?.is_empty());
    assert!(
        store
            .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
            .await?
            .is_empty()
    );
    assert_eq!(store.total_entries(), 1, "held until swept");
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

#[tokio::test]
async fn max_ttl_never_panics_and_stays_live() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "max", 1, ttl(Duration::MAX))
        .await?;
    clock.advance(ms(7));
    // Also from a non-zero clock, and a TTL just short of the maximum.
    store
        .put_with_options(&ctx, &ns, "max2", 2, ttl(Duration::MAX))
        .await?;
    store
        .put_with_options(&ctx, &ns, "huge", 3, ttl(Duration::from_secs(u64::MAX)))
        .await?;
    clock.advance(YEAR * 500);
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "max").await?, Some(1));
    assert_eq!(store.get(&ctx, &ns, "max2").await?, Some(2));
    assert_eq!(store.get(&ctx, &ns, "huge").await?, Some(3));
    assert_eq!(
        store.list(&ctx, &ns, None).await?,
        vec!["huge", "max", "max2"]
    );
    assert_eq!(store.total_entries(), 3);
    Ok(())
}

#[tokio::test]
async fn a_shorter_ttl_supersedes_a_longer_one() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(ms(100)))
        .await?;
    store
        .put_with_options(&ctx, &ns, "k", 2, ttl(ms(10)))
        .await?;
    clock.advance(ms(9));
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    clock.advance(ms(1));
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    clock.advance(ms(200));
    assert_eq!(
        store.evict_expired(&ctx).await?,
        0,
        "the first timer is stale"
    );
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

#[tokio::test]
async fn a_longer_ttl_supersedes_a_shorter_one() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(ms(10)))
        .await?;
    store
        .put_with_options(&ctx, &ns, "k", 2, ttl(ms(100)))
        .await?;
    clock.advance(ms(50));
    assert_eq!(
        store.evict_expired(&ctx).await?,
        0,
        "the first timer must not fire"
    );
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    assert_eq!(store.total_entries(), 1);
    clock.advance(ms(50));
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

#[tokio::test]
async fn a_put_without_ttl_supersedes_an_earlier_ttl() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(ms(10)))
        .await?;
    store.put(&ctx, &ns, "k", 2).await?;
    clock.advance(Duration::from_secs(3600));
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    assert_eq!(store.total_entries(), 1);
    assert_eq!(store.stats().pending_timers, 0);
    Ok(())
}

#[tokio::test]
async fn a_put_over_an_expired_unswept_row_revives_it() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(ms(10)))
        .await?;
    clock.advance(ms(20));
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    store.put(&ctx, &ns, "k", 2).await?;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    assert_eq!(store.total_entries(), 1);
    Ok(())
}

#[tokio::test]
async fn delete_then_reput() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    // A TTL'd row deleted and re-put without TTL: the old timer is inert.
    store
        .put_with_options(&ctx, &ns, "a", 1, ttl(ms(10)))
        .await?;
    store.delete(&ctx, &ns, "a").await?;
    store.put(&ctx, &ns, "a", 2).await?;
    // A TTL'd row deleted and re-put with a longer TTL.
    store
        .put_with_options(&ctx, &ns, "b", 1, ttl(ms(10)))
        .await?;
    store.delete(&ctx, &ns, "b").await?;
    store
        .put_with_options(&ctx, &ns, "b", 2, ttl(ms(50)))
        .await?;
    clock.advance(ms(20));
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "a").await?, Some(2));
    assert_eq!(store.get(&ctx, &ns, "b").await?, Some(2));
    clock.advance(ms(30));
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.get(&ctx, &ns, "b").await?, None);
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a"]);
    // Delete, re-put, delete again: the namespace disappears.
    store.delete(&ctx, &ns, "a").await?;
    store.put(&ctx, &ns, "a", 3).await?;
    assert_eq!(store.get(&ctx, &ns, "a").await?, Some(3));
    store.delete(&ctx, &ns, "a").await?;
    assert_eq!(store.total_entries(), 0);
    assert_eq!(store.stats().namespaces, 0);
    Ok(())
}

#[tokio::test]
async fn evict_expired_returns_exact_counts() -> Result<()> {
    let (clock, store) = manual::<u32>();
    let ctx = ctx();
    let spaces: Vec<Namespace> = (0..4)
        .map(|i| Namespace::new(t("acme")).with_scope(format!("agent-{i}")))
        .collect();
    for (i, ns) in spaces.iter().enumerate() {
        for j in 0..50u32 {
            let key = format!("k{j:03}");
            let v = j;
            match j % 5 {
                0 => store.put(&ctx, ns, &key, v).await?,
                1 | 2 => {
                    store
                        .put_with_options(&ctx, ns, &key, v, ttl(ms(10)))
                        .await?
                }
                3 => {
                    store
                        .put_with_options(&ctx, ns, &key, v, ttl(ms(70)))
                        .await?
                }
                _ => {
                    let long = Duration::from_secs(5 + i as u64);
                    store.put_with_options(&ctx, ns, &key, v, ttl(long)).await?;
                }
            }
        }
    }
    assert_eq!(store.total_entries(), 200);
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    clock.advance(ms(10));
    assert_eq!(store.evict_expired(&ctx).await?, 80);
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.total_entries(), 120);
    clock.advance(ms(60));
    assert_eq!(store.evict_expired(&ctx).await?, 40);
    assert_eq!(store.total_entries(), 80);
    clock.advance(Duration::from_secs(6));
    assert_eq!(store.evict_expired(&ctx).await?, 20, "agents 0 and 1");
    clock.advance(Duration::from_secs(3));
    assert_eq!(store.evict_expired(&ctx).await?, 20, "agents 2 and 3");
    assert_eq!(store.total_entries(), 40);
    assert_eq!(store.stats().pending_timers, 0);
    for ns in &spaces {
        let keys = store.list(&ctx, ns, None).await?;
        let expected: Vec<String> = (0..50).step_by(5).map(|j| format!("k{j:03}")).collect();
        assert_eq!(keys, expected);
    }
    Ok(())
}

/// The wheel ticks in milliseconds; expiry is exact to the nanosecond
/// anyway, on reads and on eviction.
#[tokio::test]
async fn expiry_is_exact_below_the_wheel_resolution() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    let us = Duration::from_micros;
    store
        .put_with_options(&ctx, &ns, "a", 1, ttl(us(100)))
        .await?;
    store
        .put_with_options(&ctx, &ns, "b", 2, ttl(us(900)))
        .await?;
    store
        .put_with_options(&ctx, &ns, "c", 3, ttl(us(1500)))
        .await?;
    clock.advance(us(500));
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["b", "c"]);
    clock.advance(us(399));
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "b").await?, Some(2));
    clock.advance(us(1));
    assert_eq!(store.get(&ctx, &ns, "b").await?, None);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    clock.advance(us(599));
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "c").await?, Some(3));
    clock.advance(us(1));
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

#[tokio::test]
async fn total_entries_counts_expired_but_unswept_rows() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    for i in 0..10u8 {
        store
            .put_with_options(&ctx, &ns(), &format!("k{i}"), i, ttl(ms(1)))
            .await?;
    }
    clock.advance(ms(5));
    assert!(store.list(&ctx, &ns(), None).await?.is_empty());
    assert_eq!(store.total_entries(), 10);
    assert_eq!(store.stats().rows, 10);
    assert_eq!(store.evict_expired(&ctx).await?, 10);
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

// ── list ────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn list_returns_sorted_keys() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let keys = ["zeta", "alpha", "", "Beta", "alpha2", "é", "a:b", "\0", "m"];
    for k in keys {
        store.put(&ctx, &ns(), k, 0).await?;
    }
    let mut expected: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    expected.sort();
    assert_eq!(store.list(&ctx, &ns(), None).await?, expected);
    assert_eq!(store.list(&ctx, &ns(), Some("")).await?, expected);
    Ok(())
}

#[tokio::test]
async fn list_prefixes_are_literal() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let ns = ns();
    let keys = [
        "a*b", "a?c", "a%d", "a_e", "a[f]", "abc", "aXb", "a.b", "a\\b", "a^b", "a", "b*",
    ];
    for k in keys {
        store.put(&ctx, &ns, k, 0).await?;
    }
    for (prefix, expected) in [
        ("a*", vec!["a*b"]),
        ("a?", vec!["a?c"]),
        ("a%", vec!["a%d"]),
        ("a_", vec!["a_e"]),
        ("a[", vec!["a[f]"]),
        ("a[f", vec!["a[f]"]),
        ("a.", vec!["a.b"]),
        ("a\\", vec!["a\\b"]),
        ("a^", vec!["a^b"]),
        ("*", vec![]),
        ("%", vec![]),
        ("_", vec![]),
        ("?", vec![]),
        ("[", vec![]),
        ("b", vec!["b*"]),
        ("a*bc", vec![]),
        ("abc", vec!["abc"]),
        ("abcd", vec![]),
    ] {
        assert_eq!(
            store.list(&ctx, &ns, Some(prefix)).await?,
            expected,
            "prefix {prefix:?}"
        );
    }
    let mut all: Vec<&str> = keys.to_vec();
    all.retain(|k| k.starts_with('a'));
    all.sort_unstable();
    assert_eq!(store.list(&ctx, &ns, Some("a")).await?, all);
    Ok(())
}

#[tokio::test]
async fn list_hides_expired_keys_and_unknown_namespaces_are_empty() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "a", 0).await?;
    store
        .put_with_options(&ctx, &ns, "b", 0, ttl(ms(1)))
        .await?;
    store.put(&ctx, &ns, "c", 0).await?;
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "b", "c"]);
    clock.advance(ms(1));
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "c"]);
    assert_eq!(
        store.list(&ctx, &ns, Some("b")).await?,
        Vec::<String>::new()
    );
    let unknown = Namespace::new(t("nobody"));
    assert!(store.list(&ctx, &unknown, None).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_child_namespace_never_shows_in_its_parents_list() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let tenant = Namespace::new(t("acme"));
    let parent = tenant.clone().with_scope("agent-a");
    let child = parent.clone().with_scope("conv-1");
    let empty_child = parent.clone().with_scope("");
    store.put(&ctx, &tenant, "t", 0).await?;
    store.put(&ctx, &parent, "p", 0).await?;
    store.put(&ctx, &child, "c", 0).await?;
    store.put(&ctx, &empty_child, "e", 0).await?;
    assert_eq!(store.list(&ctx, &tenant, None).await?, vec!["t"]);
    assert_eq!(store.list(&ctx, &parent, None).await?, vec!["p"]);
    assert_eq!(store.list(&ctx, &child, None).await?, vec!["c"]);
    assert_eq!(store.list(&ctx, &empty_child, None).await?, vec!["e"]);
    assert_eq!(store.get(&ctx, &parent, "c").await?, None);
    assert_eq!(store.get(&ctx, &child, "p").await?, None);
    Ok(())
}

/// A key containing `:` must not be confused with a namespace segment: the
/// naive "rendered namespace + ':' + key" flattening would collide here.
#[tokio::test]
async fn keys_containing_colons_never_bleed() -> Result<()> {
    let store: SkipStore<String> = SkipStore::new();
    let ctx = ctx();
    let parent = Namespace::new(t("acme")).with_scope("agent-a");
    let child = parent.clone().with_scope("conv-1");
    let tenant_a = Namespace::new(t("a"));
    let tenant_a_b = Namespace::new(t("a")).with_scope("b");
    let tenant_colon = Namespace::new(t("a:b"));
    store
        .put(&ctx, &parent, "conv-1:k", "parent".into())
        .await?;
    store.put(&ctx, &child, "k", "child".into()).await?;
    store.put(&ctx, &tenant_a, "b:c", "a".into()).await?;
    store.put(&ctx, &tenant_a_b, "c", "a/b".into()).await?;
    store.put(&ctx, &tenant_colon, "c", "a:b".into()).await?;
    store
        .put(&ctx, &tenant_a, "b\\:c", "escaped".into())
        .await?;

    assert_eq!(store.list(&ctx, &parent, None).await?, vec!["conv-1:k"]);
    assert_eq!(store.list(&ctx, &child, None).await?, vec!["k"]);
    assert_eq!(
        store.list(&ctx, &tenant_a, None).await?,
        vec!["b:c", "b\\:c"]
    );
    assert_eq!(store.list(&ctx, &tenant_a_b, None).await?, vec!["c"]);
    assert_eq!(store.list(&ctx, &tenant_colon, None).await?, vec!["c"]);
    assert_eq!(
        store.list(&ctx, &parent, Some("conv-1")).await?,
        vec!["conv-1:k"]
    );
    assert_eq!(store.get(&ctx, &child, "conv-1:k").await?, None);
    assert_eq!(store.get(&ctx, &parent, "k").await?, None);
    assert_eq!(store.get(&ctx, &tenant_a_b, "b:c").await?, None);
    assert_eq!(
        store.get(&ctx, &tenant_colon, "c").await?.as_deref(),
        Some("a:b")
    );
    // The tenant "a" holds keys only in itself and in "a"/"b".
    let under_a = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("a")))
        .await?;
    assert_eq!(under_a, vec![tenant_a.clone(), tenant_a_b.clone()]);
    Ok(())
}

// ── list_namespaces ─────────────────────────────────────────────────────────

#[tokio::test]
async fn list_namespaces_is_sorted_by_rendered_form_and_deduplicated() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let acme = || Namespace::new(t("acme"));
    let spaces = vec![
        acme().with_scope("zeta"),
        acme(),
        acme().with_scope("a:b"),
        acme().with_scope("a").with_scope("b"),
        acme().with_scope(""),
        acme().with_scope("a\\"),
        acme().with_scope("a-b"),
        acme().with_scope("\0"),
        acme().with_scope("é"),
        acme().with_scope("a"),
    ];
    for ns in &spaces {
        for k in ["x", "y", "z"] {
            store.put(&ctx, ns, k, 0).await?;
        }
    }
    // Other tenants that share a textual prefix with "acme".
    store.put(&ctx, &Namespace::new(t("acme2")), "k", 0).await?;
    store.put(&ctx, &Namespace::new(t("acm")), "k", 0).await?;
    store
        .put(&ctx, &Namespace::new(t("acme:x")), "k", 0)
        .await?;
    store
        .put(&ctx, &Namespace::new(t("acme\\")), "k", 0)
        .await?;

    let mut expected = spaces.clone();
    expected.sort_by_key(Namespace::render);
    let found = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
        .await?;
    assert_eq!(found, expected);

    let under_a = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")).with_scope("a"))
        .await?;
    assert_eq!(
        under_a,
        vec![
            acme().with_scope("a"),
            acme().with_scope("a").with_scope("b")
        ]
    );
    let under_empty = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")).with_scope(""))
        .await?;
    assert_eq!(under_empty, vec![acme().with_scope("")]);
    let none = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("nobody")))
        .await?;
    assert!(none.is_empty());
    Ok(())
}

#[tokio::test]
async fn list_namespaces_lists_only_namespaces_with_a_live_entry() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let acme = || Namespace::new(t("acme"));
    let expired_only = acme().with_scope("expired-only");
    let mixed = acme().with_scope("mixed");
    let emptied = acme().with_scope("emptied");
    let permanent = acme().with_scope("permanent");
    let later = acme().with_scope("later");
    store
        .put_with_options(&ctx, &expired_only, "a", 0, ttl(ms(1)))
        .await?;
    store
        .put_with_options(&ctx, &expired_only, "b", 0, ttl(ms(2)))
        .await?;
    store
        .put_with_options(&ctx, &mixed, "a", 0, ttl(ms(1)))
        .await?;
    store.put(&ctx, &mixed, "z", 0).await?;
    store.put(&ctx, &emptied, "a", 0).await?;
    store.delete(&ctx, &emptied, "a").await?;
    store.put(&ctx, &permanent, "a", 0).await?;
    store
        .put_with_options(&ctx, &later, "a", 0, ttl(ms(100)))
        .await?;
    let prefix = NamespacePrefix::new(t("acme"));
    let mut all = vec![
        expired_only.clone(),
        mixed.clone(),
        permanent.clone(),
        later.clone(),
    ];
    all.sort_by_key(Namespace::render);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, all);

    clock.advance(ms(2));
    // Before any sweep: the expired-only namespace is already gone.
    let mut live = vec![mixed.clone(), permanent.clone(), later.clone()];
    live.sort_by_key(Namespace::render);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, live);
    assert_eq!(store.evict_expired(&ctx).await?, 3);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, live);

    // Refill the emptied namespace and the expired one.
    store.put(&ctx, &emptied, "b", 0).await?;
    store.put(&ctx, &expired_only, "c", 0).await?;
    clock.advance(ms(100));
    let mut now_live = vec![mixed, permanent, emptied, expired_only];
    now_live.sort_by_key(Namespace::render);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, now_live);
    Ok(())
}

// ── regressions: timers the wheel once lost (fixed in 587380c) ─────────────

/// A TTL beyond the wheel's range (about 2.2 years) waits in the overflow
/// heap. When the clock then jumps past its deadline, the timer must still
/// fire (before the fix, `evict_expired` returned 0 and the row was held for
/// good).
#[tokio::test]
async fn evict_expired_finds_rows_whose_ttl_overflowed_the_wheel() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    store
        .put_with_options(&ctx, &ns(), "k", 1, ttl(YEAR * 3))
        .await?;
    clock.advance(YEAR * 10);
    assert_eq!(store.get(&ctx, &ns(), "k").await?, None);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

/// Same, with a jump that lands inside the wheel's range (before the fix,
/// the overflowed timer was pulled in behind the wheel's position, and debug
/// builds panicked on the wheel's `debug_assert!` in the next sweep).
#[tokio::test]
async fn evict_expired_finds_rows_whose_ttl_overflowed_the_wheel_short_jump() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    store
        .put_with_options(&ctx, &ns(), "k", 1, ttl(YEAR * 3))
        .await?;
    clock.advance(YEAR * 4);
    let first = store.evict_expired(&ctx).await?;
    let second = store.evict_expired(&ctx).await?;
    assert_eq!((first, second, store.total_entries()), (1, 0, 0));
    Ok(())
}

/// Writers sweep in bounded steps. A step may run out of budget in the
/// middle of cascading a coarse wheel slot; the next step must finish it
/// before firing finer slots (before the fix, it fired finer slots first,
/// moving the wheel forward, then cascaded the rest of the coarse slot to
/// positions behind the wheel: debug builds panicked inside a plain `put`,
/// release builds lost those timers until the wheel wrapped around).
#[tokio::test]
async fn amortised_sweeps_after_a_mass_expiry_lose_no_timer() -> Result<()> {
    let (clock, store) = manual::<u32>();
    let ctx = ctx();
    let ns = ns();
    // 3000 timers in one level-1 slot (deadlines 64..127 ms): more than one
    // bounded step can cascade.
    for i in 0..3000u32 {
        let d = ms(64 + u64::from(i % 64));
        store
            .put_with_options(&ctx, &ns, &format!("k{i:05}"), i, ttl(d))
            .await?;
    }
    clock.advance(ms(200));
    for i in 0..64 * 20 {
        store.put(&ctx, &ns, "perm", i).await?;
    }
    store.evict_expired(&ctx).await?;
    assert_eq!(store.total_entries(), 1);
    assert_eq!(store.stats().pending_timers, 0);
    Ok(())
}
