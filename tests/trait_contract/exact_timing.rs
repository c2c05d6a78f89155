//! Timing exact to the nanosecond on a manual clock, and row counts of
//! expired but unswept rows: SkipStore's own promises, beyond the shared
//! suite (which runs on real time too, so it cannot stop the clock one
//! nanosecond before a deadline).

use super::*;

/// entelix's `store.rs` `ttl_expires_on_get`, to the nanosecond: live until
/// the last nanosecond, absent at the deadline, held until swept.
#[tokio::test]
async fn ttl_expires_on_get_exactly_at_the_deadline() -> Result<()> {
    let (clock, store) = manual::<String>();
    store
        .put_with_options(&ctx(), &ns(), "k", "v".into(), ttl(ms(20)))
        .await?;
    assert!(store.get(&ctx(), &ns(), "k").await?.is_some());
    clock.advance(ms(20) - Duration::from_nanos(1));
    assert!(
        store.get(&ctx(), &ns(), "k").await?.is_some(),
        "live until the last nanosecond"
    );
    clock.advance(Duration::from_nanos(1));
    assert!(store.get(&ctx(), &ns(), "k").await?.is_none());
    assert_eq!(store.total_entries(), 1, "held until swept");
    assert_eq!(store.evict_expired(&ctx()).await?, 1);
    assert_eq!(store.total_entries(), 0);
    Ok(())
}

/// Row counts after the point operations of entelix's `basic.rs`.
#[tokio::test]
async fn total_entries_follows_puts_and_deletes() -> Result<()> {
    let store = SkipStore::<i64>::new();
    let ctx = ctx();
    let alpha = Namespace::new(t("alpha"));
    let beta = Namespace::new(t("beta"));
    store.put(&ctx, &alpha, "k", 1).await?;
    store.put(&ctx, &beta, "k", 2).await?;
    assert_eq!(store.total_entries(), 2);
    store.delete(&ctx, &alpha, "k").await?;
    store.delete(&ctx, &alpha, "k").await?;
    assert_eq!(store.total_entries(), 1);
    store.delete(&ctx, &beta, "k").await?;
    assert_eq!(store.total_entries(), 0);
    Ok(())
}
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
