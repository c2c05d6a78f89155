//! The memory patterns over `Arc<dyn Store<_>>`: entelix-memory 0.6.1's
//! `tests/patterns.rs` (the store-backed ones) and `tests/basic.rs`'s
//! `BufferMemory` tests. Each pattern stores a serde type of its own
//! (`Vec<Message>`, `String`, `HashMap<String, EntityRecord>`), so a store
//! that encodes values round-trips them here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use entelix_core::ir::{ContentPart, Message};
use entelix_memory::{BufferMemory, EntityMemory, EntityRecord, Namespace, SummaryMemory};

use crate::support::{ctx, ms, t};
use crate::{CaseResult, Harness};

fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m.content.first() {
            Some(ContentPart::Text { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

async fn buffer<H: Harness>(h: &H, capacity: usize) -> entelix_core::Result<BufferMemory> {
    let store = h.store::<Vec<Message>>().await?;
    Ok(BufferMemory::new(
        store,
        Namespace::new(t("tenant")),
        capacity,
    ))
}

async fn summary<H: Harness>(h: &H) -> entelix_core::Result<SummaryMemory> {
    Ok(SummaryMemory::new(
        h.store::<String>().await?,
        Namespace::new(t("t")),
    ))
}

async fn entities<H: Harness>(h: &H) -> entelix_core::Result<EntityMemory> {
    let store = h.store::<HashMap<String, EntityRecord>>().await?;
    Ok(EntityMemory::new(store, Namespace::new(t("t"))))
}

/// Appends come back in order.
pub async fn buffer_memory_appends_and_returns_messages<H: Harness>(h: &H) -> CaseResult {
    let buf = buffer(h, 10).await?;
    let ctx = ctx();
    buf.append(&ctx, Message::user("hi")).await?;
    buf.append(&ctx, Message::assistant("hello")).await?;
    assert_eq!(texts(&buf.messages(&ctx).await?), vec!["hi", "hello"]);
    Ok(())
}

/// Over capacity, the oldest messages go.
pub async fn buffer_memory_drops_oldest_when_over_capacity<H: Harness>(h: &H) -> CaseResult {
    let buf = buffer(h, 3).await?;
    let ctx = ctx();
    for i in 0..5 {
        buf.append(&ctx, Message::user(format!("turn {i}"))).await?;
    }
    assert_eq!(
        texts(&buf.messages(&ctx).await?),
        vec!["turn 2", "turn 3", "turn 4"]
    );
    Ok(())
}

/// `clear` empties the buffer, which then takes new messages.
pub async fn buffer_memory_clear_resets_to_empty<H: Harness>(h: &H) -> CaseResult {
    let buf = buffer(h, 10).await?;
    let ctx = ctx();
    buf.append(&ctx, Message::user("hi")).await?;
    assert_eq!(buf.messages(&ctx).await?.len(), 1);
    buf.clear(&ctx).await?;
    assert_eq!(buf.messages(&ctx).await?.len(), 0);
    buf.append(&ctx, Message::user("again")).await?;
    assert_eq!(texts(&buf.messages(&ctx).await?), vec!["again"]);
    Ok(())
}

/// Two buffers over one store, in two namespaces, keep apart.
pub async fn buffer_memory_namespaces_are_isolated<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<Vec<Message>>().await?;
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

/// `set` then `get`.
pub async fn summary_set_and_get_round_trip<H: Harness>(h: &H) -> CaseResult {
    let mem = summary(h).await?;
    let ctx = ctx();
    assert!(mem.get(&ctx).await?.is_none());
    mem.set(&ctx, "user prefers brief replies").await?;
    assert_eq!(
        mem.get(&ctx).await?.as_deref(),
        Some("user prefers brief replies")
    );
    Ok(())
}

/// `append` joins with a blank line.
pub async fn summary_append_concatenates_with_blank_line<H: Harness>(h: &H) -> CaseResult {
    let mem = summary(h).await?;
    let ctx = ctx();
    mem.append(&ctx, "turn 1: hello").await?;
    mem.append(&ctx, "turn 2: hi back").await?;
    assert_eq!(
        mem.get(&ctx).await?.as_deref(),
        Some("turn 1: hello\n\nturn 2: hi back")
    );
    Ok(())
}

/// `append` to nothing starts the summary.
pub async fn summary_append_to_empty_starts_fresh<H: Harness>(h: &H) -> CaseResult {
    let mem = summary(h).await?;
    let ctx = ctx();
    mem.append(&ctx, "first content").await?;
    assert_eq!(mem.get(&ctx).await?.as_deref(), Some("first content"));
    Ok(())
}

/// `clear` removes the summary.
pub async fn summary_clear_removes_value<H: Harness>(h: &H) -> CaseResult {
    let mem = summary(h).await?;
    let ctx = ctx();
    mem.set(&ctx, "anything").await?;
    mem.clear(&ctx).await?;
    assert!(mem.get(&ctx).await?.is_none());
    Ok(())
}

/// Facts by entity name.
pub async fn entity_set_and_get<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
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

/// `all` returns every entity.
pub async fn entity_all_returns_full_map<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "v").await?;
    mem.set_entity(&ctx, "Bob", "k").await?;
    let all = mem.all(&ctx).await?;
    assert_eq!(all.len(), 2);
    assert_eq!(all.get("Alice").map(String::as_str), Some("v"));
    assert_eq!(all.get("Bob").map(String::as_str), Some("k"));
    Ok(())
}

/// `remove` drops one entity.
pub async fn entity_remove_drops_one<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    let ctx = ctx();
    mem.set_entity(&ctx, "A", "1").await?;
    mem.set_entity(&ctx, "B", "2").await?;
    mem.remove(&ctx, "A").await?;
    assert!(mem.entity(&ctx, "A").await?.is_none());
    assert_eq!(mem.entity(&ctx, "B").await?.as_deref(), Some("2"));
    Ok(())
}

/// `remove` of an absent entity succeeds.
pub async fn entity_remove_idempotent_when_absent<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    mem.remove(&ctx(), "ghost").await?;
    Ok(())
}

/// `clear` drops every entity.
pub async fn entity_clear_drops_everything<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    let ctx = ctx();
    mem.set_entity(&ctx, "A", "1").await?;
    mem.set_entity(&ctx, "B", "2").await?;
    mem.clear(&ctx).await?;
    assert!(mem.all(&ctx).await?.is_empty());
    Ok(())
}

// EntityMemory stamps records with the wall clock (chrono), not with the
// store's clock, so the cases below sleep on real time whatever the harness;
// the store's TTL is not involved.

/// An update keeps `created_at` and moves `last_seen`.
pub async fn entity_set_preserves_created_at_on_update<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "v1").await?;
    let initial = mem.entity_record(&ctx, "Alice").await?;
    tokio::time::sleep(ms(15)).await;
    mem.set_entity(&ctx, "Alice", "v2").await?;
    let updated = mem.entity_record(&ctx, "Alice").await?;
    let (Some(initial), Some(updated)) = (initial, updated) else {
        panic!("Alice's record is missing");
    };
    assert_eq!(updated.fact, "v2");
    assert_eq!(updated.created_at, initial.created_at);
    assert!(updated.last_seen > initial.last_seen);
    Ok(())
}

/// `touch` moves `last_seen` and keeps the fact.
pub async fn entity_touch_refreshes_last_seen_without_changing_fact<H: Harness>(
    h: &H,
) -> CaseResult {
    let mem = entities(h).await?;
    let ctx = ctx();
    mem.set_entity(&ctx, "Alice", "v1").await?;
    let initial = mem.entity_record(&ctx, "Alice").await?;
    tokio::time::sleep(ms(15)).await;
    assert!(mem.touch(&ctx, "Alice").await?);
    let after = mem.entity_record(&ctx, "Alice").await?;
    let (Some(initial), Some(after)) = (initial, after) else {
        panic!("Alice's record is missing");
    };
    assert_eq!(after.fact, initial.fact);
    assert!(after.last_seen > initial.last_seen);
    Ok(())
}

/// `touch` of an absent entity says so.
pub async fn entity_touch_returns_false_for_absent_entity<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    assert!(!mem.touch(&ctx(), "ghost").await?);
    Ok(())
}

/// `prune_older_than` drops the records last seen before the cutoff. The
/// original slept 50 ms and cut at 25 ms; here both margins are 250 ms. A
/// loaded machine can still take longer than that between writing the fresh
/// record and pruning (it did: two pruned), and then the fresh record is
/// past the cutoff too and the round proves nothing: it runs again, on a
/// fresh store.
pub async fn entity_prune_drops_records_past_ttl<H: Harness>(h: &H) -> CaseResult {
    let cutoff = ms(250);
    for _ in 0..10 {
        let mem = entities(h).await?;
        let ctx = ctx();
        mem.set_entity(&ctx, "old", "stale").await?;
        tokio::time::sleep(ms(500)).await;
        let fresh = std::time::Instant::now();
        mem.set_entity(&ctx, "new", "fresh").await?;
        let pruned = mem.prune_older_than(&ctx, cutoff).await?;
        if fresh.elapsed() >= cutoff {
            continue;
        }
        assert_eq!(pruned, 1);
        assert!(mem.entity(&ctx, "old").await?.is_none());
        assert_eq!(mem.entity(&ctx, "new").await?.as_deref(), Some("fresh"));
        return Ok(());
    }
    panic!("no round wrote and pruned within {cutoff:?}");
}

/// Pruning nothing prunes nothing.
pub async fn entity_prune_returns_zero_when_namespace_is_empty<H: Harness>(h: &H) -> CaseResult {
    let mem = entities(h).await?;
    assert_eq!(
        mem.prune_older_than(&ctx(), Duration::from_secs(1)).await?,
        0
    );
    Ok(())
}
