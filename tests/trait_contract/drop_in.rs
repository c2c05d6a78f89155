//! Drop-in surface.

use super::*;

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
