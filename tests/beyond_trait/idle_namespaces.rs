//! Emptied namespace nodes linger (idle) for reuse, stay unlisted, and stay
//! bounded however many namespaces churn through the store.

use entelix_core::ExecutionContext;
use entelix_memory::Store;
use skipstore::{SkipStore, Stats};

use super::{assert_invariants, manual, ms, ns, prefix, ready};

/// (namespaces with a row, idle nodes).
fn counts<V: Clone + Send + Sync + 'static>(store: &SkipStore<V>) -> (usize, usize) {
    let s = store.stats();
    (s.namespaces, s.idle_namespaces)
}

#[test]
fn an_emptied_namespace_lingers_unlisted_and_is_reused() {
    let (clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let a = ns("acme", &["a"]);
    let b = ns("acme", &["b"]);
    store.put_versioned(&a, "x", 1, None);
    store.put_versioned(&b, "x", 1, Some(ms(5)));
    assert_eq!(counts(&store), (2, 0));

    // Emptied by a delete, and by an expiry: both nodes stay, idle.
    ready(store.delete(&ctx, &a, "x")).unwrap();
    clock.advance(ms(10));
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 1);
    assert_eq!(counts(&store), (0, 2));
    assert_invariants(&store);
    // Idle nodes hold nothing a reader can see.
    let listed = ready(store.list_namespaces(&ctx, &prefix("acme", &[]))).unwrap();
    assert!(listed.is_empty(), "idle namespaces listed: {listed:?}");
    let page = store.list_namespaces_page(&prefix("acme", &[]), Some(1), None, 10);
    assert!(page.namespaces.is_empty() && page.next.is_none());
    assert!(ready(store.list(&ctx, &a, None)).unwrap().is_empty());
    assert_eq!(ready(store.get(&ctx, &b, "x")).unwrap(), None);

    // The next write reuses the idle node.
    store.put_versioned(&a, "y", 2, None);
    assert_eq!(counts(&store), (1, 1));
    let listed = ready(store.list_namespaces(&ctx, &prefix("acme", &[]))).unwrap();
    assert_eq!(listed, std::slice::from_ref(&a));
    assert_eq!(ready(store.list(&ctx, &a, None)).unwrap(), ["y"]);
    assert_invariants(&store);
}

/// A million namespaces, each written once and emptied: the idle nodes
/// never pass the bound, and none is listed.
#[test]
fn namespace_churn_keeps_idle_nodes_bounded() {
    let (_clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let mut most_idle = 0;
    for i in 0..1_000_000u32 {
        let n = ns("churn", &[&format!("n{i}")]);
        store.put_versioned(&n, "k", i, None);
        ready(store.delete(&ctx, &n, "k")).unwrap();
        if i % 4096 == 0 {
            let (held, idle) = counts(&store);
            assert_eq!(held, 0, "after {i} namespaces");
            assert!(idle <= Stats::MAX_IDLE_NAMESPACES, "{idle} idle after {i}");
            most_idle = most_idle.max(idle);
        }
    }
    let (held, idle) = counts(&store);
    assert_eq!(held, 0);
    assert!(idle <= Stats::MAX_IDLE_NAMESPACES, "{idle} idle at the end");
    // The bound is reached, so the churn did linger nodes.
    assert_eq!(most_idle.max(idle), Stats::MAX_IDLE_NAMESPACES);
    let listed = ready(store.list_namespaces(&ctx, &prefix("churn", &[]))).unwrap();
    assert!(listed.is_empty());
    assert_invariants(&store);
}
