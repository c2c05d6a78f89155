//! `evict_expired`: removes what expired, counts exactly what it removed,
//! and never takes a live row; deletes and re-puts leave no stale deadline
//! behind.

use entelix_memory::{Namespace, NamespacePrefix, Store};

use crate::support::{BATCH, LONG, PAST_BATCH, PAST_SHORT, SHORT, ctx, ms, ns, t, ttl};
use crate::{CaseResult, Harness};

/// entelix's `store.rs`: one expired row is evicted and counted, the live
/// one stays, and a second sweep finds nothing.
pub async fn evict_expired_returns_count_and_drops_rows<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    store.put(&ctx, &ns(), "alive", "v".into()).await?;
    store
        .put_with_options(&ctx, &ns(), "doomed", "v".into(), ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.list(&ctx, &ns(), None).await?, vec!["alive"]);
    assert_eq!(store.get(&ctx, &ns(), "alive").await?.as_deref(), Some("v"));
    Ok(())
}

/// A TTL'd row deleted and written again keeps no trace of its first
/// deadline: not as an expiry of the new row, not as a second count.
pub async fn delete_then_reput<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    // Deleted, then re-put without a TTL.
    store
        .put_with_options(&ctx, &ns, "a", 1, ttl(SHORT))
        .await?;
    store.delete(&ctx, &ns, "a").await?;
    store.put(&ctx, &ns, "a", 2).await?;
    // Deleted, then re-put with a longer TTL.
    store
        .put_with_options(&ctx, &ns, "b", 1, ttl(SHORT))
        .await?;
    store.delete(&ctx, &ns, "b").await?;
    store.put_with_options(&ctx, &ns, "b", 2, ttl(LONG)).await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    assert_eq!(store.get(&ctx, &ns, "a").await?, Some(2));
    assert_eq!(store.get(&ctx, &ns, "b").await?, Some(2));
    // Deleted, then re-put with the same TTL: one row, counted once.
    store
        .put_with_options(&ctx, &ns, "c", 1, ttl(SHORT))
        .await?;
    store.delete(&ctx, &ns, "c").await?;
    store
        .put_with_options(&ctx, &ns, "c", 2, ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.evict_expired(&ctx).await?, 1);
    assert_eq!(store.get(&ctx, &ns, "c").await?, None);
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "b"]);
    // Delete, re-put, delete again: the namespace disappears.
    store.delete(&ctx, &ns, "a").await?;
    store.put(&ctx, &ns, "a", 3).await?;
    assert_eq!(store.get(&ctx, &ns, "a").await?, Some(3));
    store.delete(&ctx, &ns, "a").await?;
    store.delete(&ctx, &ns, "b").await?;
    let under_acme = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
        .await?;
    assert!(under_acme.is_empty(), "left behind: {under_acme:?}");
    Ok(())
}

/// Exact counts over several namespaces and several rounds: permanent rows
/// and rows with an hour to live are never counted; each round counts
/// exactly the batch that expired in it.
///
/// A batch whose first rows expired before its last was written (on a
/// loaded machine) may have lost them to the store's own sweeps before the
/// count, and then the count proves nothing (a store on a cluster counted
/// fewer so): the case then runs again on a fresh store.
pub async fn evict_expired_returns_exact_counts<H: Harness>(h: &H) -> CaseResult {
    for _ in 0..10 {
        if exact_counts_round(h).await? {
            return Ok(());
        }
    }
    panic!("no round wrote a batch within its {BATCH:?} TTL");
}

/// Writes `keys` of each namespace in `spaces` with the [`BATCH`] TTL;
/// `false` if the first row written (the first to expire) has expired by
/// the time the last one is written. (Asked of the store, not of a clock:
/// on a manual clock nothing expires meanwhile, however slow the machine.)
async fn write_batch(
    store: &dyn Store<u32>,
    spaces: &[Namespace],
    keys: impl Fn(u32) -> bool,
) -> entelix_core::Result<bool> {
    let ctx = ctx();
    let mut first = None;
    for ns in spaces {
        for j in (0..50u32).filter(|j| keys(*j)) {
            let key = format!("k{j:03}");
            store
                .put_with_options(&ctx, ns, &key, j, ttl(BATCH))
                .await?;
            first.get_or_insert((ns, key, j));
        }
    }
    let Some((ns, key, j)) = first else {
        return Ok(true);
    };
    Ok(store.get(&ctx, ns, &key).await? == Some(j))
}

/// One round of [`evict_expired_returns_exact_counts`]; `false` if a
/// batch took as long as its TTL to write.
async fn exact_counts_round<H: Harness>(h: &H) -> entelix_core::Result<bool> {
    let store = h.store::<u32>().await?;
    let ctx = ctx();
    let spaces: Vec<Namespace> = (0..4)
        .map(|i| Namespace::new(t("acme")).with_scope(format!("agent-{i}")))
        .collect();
    let key = |j: u32| format!("k{j:03}");
    // Keys j with j % 5 == 0 are permanent, == 4 live for an hour; 1 and 2
    // expire in round one; 3 expires in round two in agents 0 and 1 only.
    for ns in &spaces {
        for j in (0..50u32).filter(|j| j % 5 == 0) {
            store.put(&ctx, ns, &key(j), j).await?;
        }
        for j in (0..50u32).filter(|j| j % 5 == 4 || j % 5 == 3) {
            store
                .put_with_options(&ctx, ns, &key(j), j, ttl(LONG))
                .await?;
        }
    }
    assert_eq!(store.evict_expired(&ctx).await?, 0);

    if !write_batch(&*store, &spaces, |j| j % 5 == 1 || j % 5 == 2).await? {
        return Ok(false);
    }
    h.advance(PAST_BATCH).await;
    assert_eq!(store.evict_expired(&ctx).await?, 80, "round one");
    assert_eq!(store.evict_expired(&ctx).await?, 0);

    if !write_batch(&*store, &spaces[..2], |j| j % 5 == 3).await? {
        return Ok(false);
    }
    h.advance(PAST_BATCH).await;
    assert_eq!(
        store.evict_expired(&ctx).await?,
        20,
        "round two: agents 0 and 1"
    );
    assert_eq!(store.evict_expired(&ctx).await?, 0);

    for (i, ns) in spaces.iter().enumerate() {
        let kept: Vec<String> = (0..50u32)
            .filter(|j| j % 5 == 0 || j % 5 == 4 || (i >= 2 && j % 5 == 3))
            .map(key)
            .collect();
        assert_eq!(store.list(&ctx, ns, None).await?, kept, "agent-{i}");
    }
    Ok(true)
}

/// Thousands of rows expire at once; writes go on; then a sweep. Every row
/// with an hour to live, and the row being rewritten, survive; nothing
/// expired is listed or read; a second sweep finds nothing. (The store may
/// sweep on its write path, so the first sweep's count is not asserted.)
pub async fn mass_expiry_then_writes_loses_no_row<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u32>().await?;
    let ctx = ctx();
    let ns = ns();
    let key = |i: u32| format!("k{i:05}");
    let is_kept = |i: u32| i.is_multiple_of(100);
    // Deadlines spread over 64..127 ms: on a millisecond timer wheel, more
    // rows in one coarse slot than a bounded sweep step can cascade.
    for i in 0..3000u32 {
        let d = if is_kept(i) {
            LONG
        } else {
            ms(64 + u64::from(i % 64))
        };
        store
            .put_with_options(&ctx, &ns, &key(i), i, ttl(d))
            .await?;
    }
    h.advance(ms(200)).await;
    for i in 0..64 * 20 {
        store.put(&ctx, &ns, "perm", i).await?;
    }
    store.evict_expired(&ctx).await?;
    assert_eq!(store.evict_expired(&ctx).await?, 0);
    let mut expected: Vec<String> = (0..3000).filter(|i| is_kept(*i)).map(key).collect();
    expected.push("perm".to_owned());
    assert_eq!(store.list(&ctx, &ns, None).await?, expected);
    assert_eq!(store.get(&ctx, &ns, "perm").await?, Some(64 * 20 - 1));
    for i in (0..3000).step_by(37) {
        let want = is_kept(i).then_some(i);
        assert_eq!(store.get(&ctx, &ns, &key(i)).await?, want, "{}", key(i));
    }
    Ok(())
}
