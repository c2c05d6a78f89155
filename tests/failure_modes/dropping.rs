//! Dropping a store that clones, threads and its sweeper still use.

use super::*;

/// Runs `body` on a thread and fails if it is not done within `limit`.
fn within(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("hung for {limit:?}"),
    }
}

/// One store with a 1 ms sweeper and three worker threads of different
/// lifetimes, each with a clone; the original is dropped first, so the last
/// clone goes on a worker (or on the sweeper, mid-sweep).
fn drop_while_in_use(armed: &Arc<AtomicBool>, live: &Arc<AtomicIsize>) {
    /// Operations of the shortest-lived worker (Miri: a tenth).
    const OPS: usize = if cfg!(miri) { 30 } else { 300 };
    let clock = ManualClock::new();
    let store: SkipStore<Fragile> = SkipStore::builder()
        .clock(clock.clone())
        .background_sweep(Duration::from_millis(1))
        .build();
    let workers: Vec<_> = (0..3usize)
        .map(|t| {
            let (store, clock) = (store.clone(), clock.clone());
            let (armed, live) = (Arc::clone(armed), Arc::clone(live));
            std::thread::spawn(move || {
                let ctx = ExecutionContext::new();
                for i in 0..OPS * (t + 1) {
                    let space = ns(&format!("w{}", i % 4));
                    let key = format!("k{}", i % 16);
                    let value = Fragile::new(0, &armed, &live);
                    let opts = ttl(Duration::from_micros(50 * (i as u64 % 8)));
                    ready(store.put_with_options(&ctx, &space, &key, value, opts)).unwrap();
                    let _ = ready(store.get(&ctx, &space, &key)).unwrap();
                    if i % 3 == 0 {
                        ready(store.delete(&ctx, &space, &key)).unwrap();
                    }
                    clock.advance(Duration::from_micros(20));
                    if i % 64 == 0 {
                        std::thread::sleep(Duration::from_micros(500));
                    }
                }
            })
        })
        .collect();
    drop(store);
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn dropping_the_store_in_use_leaks_nothing_and_does_not_hang() {
    const DROPPED_STORES: usize = if cfg!(miri) { 2 } else { 20 };
    let _serial = serial();
    // Miri's clock is virtual (it advances with every interpreted step), so
    // its limit is one no interpreted run reaches; a hang still never ends.
    let limit = Duration::from_secs(if cfg!(miri) { 24 * 3600 } else { 60 });
    within(limit, || {
        let (armed, live) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicIsize::new(0)),
        );
        reclaim_until(|| false);
        let baseline = allocated();
        for _ in 0..DROPPED_STORES {
            drop_while_in_use(&armed, &live);
        }
        let freed = reclaim_until(|| live.load(Ordering::SeqCst) == 0);
        assert!(freed, "{} values never freed", live.load(Ordering::SeqCst));
        reclaim_until(|| false);
        let residue = allocated() - baseline;
        println!("after {DROPPED_STORES} dropped stores: {residue} bytes still allocated");
        assert!(residue < MB / 4, "{residue} bytes leaked");
    });
}
