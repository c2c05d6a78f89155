//! Regressions: timers the wheel once lost (fixed in 587380c).

use super::*;

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
