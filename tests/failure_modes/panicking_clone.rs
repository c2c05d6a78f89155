//! A value whose `Clone` panics while the store clones it.

use super::*;

#[test]
fn a_panicking_clone_poisons_nothing() {
    let _serial = serial();
    let (armed, live) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicIsize::new(0)),
    );
    let make = |id| Fragile::new(id, &armed, &live);
    let (store, clock) = manual::<Fragile>();
    let ctx = ExecutionContext::new();
    let (p, q) = (ns("p"), ns("q"));
    for (id, key) in (0u32..).zip(["a", "b", "c", "d"]) {
        ready(store.put(&ctx, &p, key, make(id))).unwrap();
    }
    ready(store.put_with_options(&ctx, &p, "e", make(4), ttl(Duration::from_secs(1)))).unwrap();
    ready(store.put(&ctx, &q, "x", make(9))).unwrap();
    let id = |got: Option<Fragile>| got.map(|v| v.id);

    armed.store(true, Ordering::SeqCst);
    // Quiet the expected panics (the lock keeps other tests out meanwhile).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let refused = (0..100)
        .filter(|_| catch_unwind(AssertUnwindSafe(|| ready(store.get(&ctx, &p, "a")))).is_err())
        .count();
    std::panic::set_hook(hook);
    assert_eq!(refused, 100, "get cloned an armed value");
    // Calls that clone no value work while it is armed.
    assert!(ready(store.get(&ctx, &p, "missing")).unwrap().is_none());
    assert_eq!(
        ready(store.list(&ctx, &p, None)).unwrap(),
        ["a", "b", "c", "d", "e"]
    );
    let all = NamespacePrefix::new(TenantId::new("t"));
    assert_eq!(
        ready(store.list_namespaces(&ctx, &all)).unwrap(),
        [p.clone(), q.clone()]
    );
    armed.store(false, Ordering::SeqCst);

    store.check_invariants().unwrap();
    assert_eq!(id(ready(store.get(&ctx, &p, "a")).unwrap()), Some(0));
    assert_eq!(id(ready(store.get(&ctx, &q, "x")).unwrap()), Some(9));
    ready(store.put(&ctx, &p, "a", make(10))).unwrap();
    assert_eq!(id(ready(store.get(&ctx, &p, "a")).unwrap()), Some(10));
    ready(store.delete(&ctx, &p, "b")).unwrap();
    ready(store.put(&ctx, &p, "f", make(5))).unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        ready(store.list(&ctx, &p, None)).unwrap(),
        ["a", "c", "d", "f"]
    );
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 1);
    assert_eq!(store.total_entries(), 5);
    store.check_invariants().unwrap();

    // Nothing stayed pinned by the panics: every value is freed in the end.
    drop(store);
    assert!(
        reclaim_until(|| live.load(Ordering::SeqCst) == 0),
        "{} values never freed",
        live.load(Ordering::SeqCst)
    );
}
