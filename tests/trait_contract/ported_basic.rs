//! Ported: entelix-memory 0.6.1 tests/basic.rs.

use super::*;

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
