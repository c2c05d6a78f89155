//! TTL on reads: `Duration::ZERO`, sub-millisecond and `Duration::MAX` TTLs,
//! and a later write superseding an earlier TTL.

use std::time::Duration;

use entelix_memory::NamespacePrefix;

use crate::support::{LONG, PAST_SHORT, SHORT, ctx, ms, ns, t, ttl};
use crate::{CaseResult, Harness};

/// entelix's `store.rs`: an expired row reads as absent before any sweep,
/// while a live one beside it reads as present.
pub async fn ttl_expires_on_get<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    store
        .put_with_options(&ctx, &ns(), "live", "v".into(), ttl(LONG))
        .await?;
    store
        .put_with_options(&ctx, &ns(), "k", "v".into(), ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.get(&ctx, &ns(), "k").await?, None);
    assert_eq!(store.get(&ctx, &ns(), "live").await?.as_deref(), Some("v"));
    assert_eq!(store.list(&ctx, &ns(), None).await?, vec!["live"]);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    Ok(())
}

/// A zero TTL is expired at once: on `get`, `list` and `list_namespaces`.
/// The store may keep the row until a sweep (then `evict_expired` counts it)
/// or not write it at all; either way one sweep leaves nothing to count.
pub async fn zero_ttl_is_expired_immediately<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "z", 1, ttl(Duration::ZERO))
        .await?;
    assert_eq!(store.get(&ctx, &ns, "z").await?, None);
    assert!(store.list(&ctx, &ns, None).await?.is_empty());
    let under_acme = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
        .await?;
    assert!(under_acme.is_empty(), "listed: {under_acme:?}");
    let swept = store.evict_expired(&ctx).await?;
    assert!(swept <= 1, "one zero-TTL row, {swept} evicted");
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    Ok(())
}

/// A zero-TTL write over a live row replaces it: the old value is gone.
pub async fn zero_ttl_put_hides_the_previous_value<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "k", 1).await?;
    store.put(&ctx, &ns, "keep", 3).await?;
    store
        .put_with_options(&ctx, &ns, "k", 2, ttl(Duration::ZERO))
        .await?;
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["keep"]);
    Ok(())
}

/// `Duration::MAX` (and other TTLs whose deadline overflows an `Instant`)
/// never panics and never expires, from a clock that has already moved.
pub async fn max_ttl_never_panics_and_stays_live<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "max", 1, ttl(Duration::MAX))
        .await?;
    h.advance(ms(7)).await;
    store
        .put_with_options(&ctx, &ns, "max2", 2, ttl(Duration::MAX))
        .await?;
    store
        .put_with_options(&ctx, &ns, "huge", 3, ttl(Duration::from_secs(u64::MAX)))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "max").await?, Some(1));
    assert_eq!(store.get(&ctx, &ns, "max2").await?, Some(2));
    assert_eq!(store.get(&ctx, &ns, "huge").await?, Some(3));
    assert_eq!(
        store.list(&ctx, &ns, None).await?,
        vec!["huge", "max", "max2"]
    );
    Ok(())
}

/// TTLs under a millisecond are accepted (not rejected, as a `PX 0` would
/// be), expire (not rounded up to something long), and are counted once by
/// `evict_expired`. Each TTL gets a store of its own, written last, so that a
/// store which sweeps on writes cannot take the row before the count.
pub async fn sub_millisecond_ttls_are_honoured<H: Harness>(h: &H) -> CaseResult {
    let ctx = ctx();
    let ns = ns();
    let ttls = [
        Duration::from_nanos(1),
        Duration::from_micros(100),
        Duration::from_micros(900),
        Duration::from_micros(1500),
    ];
    let mut stores = Vec::new();
    for d in ttls {
        let store = h.store::<u8>().await?;
        store
            .put_with_options(&ctx, &ns, "keep", 0, ttl(LONG))
            .await?;
        store
            .put_with_options(&ctx, &ns, "brief", 1, ttl(d))
            .await?;
        stores.push((d, store));
    }
    h.advance(PAST_SHORT).await;
    for (d, store) in stores {
        assert_eq!(store.get(&ctx, &ns, "brief").await?, None, "TTL {d:?}");
        assert_eq!(
            store.list(&ctx, &ns, None).await?,
            vec!["keep"],
            "TTL {d:?}"
        );
        assert_eq!(store.evict_expired(&ctx).await?, 1, "TTL {d:?}");
        assert_eq!(store.get(&ctx, &ns, "keep").await?, Some(0), "TTL {d:?}");
    }
    Ok(())
}

/// A second write with a shorter TTL wins, and the first write's deadline
/// later finds nothing to count.
pub async fn a_shorter_ttl_supersedes_a_longer_one<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    let first = ms(300);
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(first))
        .await?;
    store
        .put_with_options(&ctx, &ns, "k", 2, ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    h.advance(first).await;
    assert_eq!(
        store.evict_expired(&ctx).await?,
        0,
        "the first write's deadline is stale"
    );
    assert!(store.list(&ctx, &ns, None).await?.is_empty());
    Ok(())
}

/// A second write with a longer TTL wins: the first write's deadline passes
/// and the row stays.
pub async fn a_longer_ttl_supersedes_a_shorter_one<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(SHORT))
        .await?;
    store.put_with_options(&ctx, &ns, "k", 2, ttl(LONG)).await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(
        store.evict_expired(&ctx).await?,
        0,
        "the first write's deadline must not fire"
    );
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["k"]);
    Ok(())
}

/// A write without a TTL clears an earlier TTL.
pub async fn a_put_without_ttl_supersedes_an_earlier_ttl<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(SHORT))
        .await?;
    store.put(&ctx, &ns, "k", 2).await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["k"]);
    Ok(())
}

/// A write over a row that expired but was not swept brings the key back,
/// with the new value and no TTL.
pub async fn a_put_over_an_expired_unswept_row_revives_it<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store
        .put_with_options(&ctx, &ns, "k", 1, ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.get(&ctx, &ns, "k").await?, None);
    store.put(&ctx, &ns, "k", 2).await?;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "k").await?, Some(2));
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["k"]);
    Ok(())
}
