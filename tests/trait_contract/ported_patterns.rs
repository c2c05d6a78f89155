//! Ported: entelix-memory 0.6.1 tests/patterns.rs (store-backed ones).

use super::*;

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
