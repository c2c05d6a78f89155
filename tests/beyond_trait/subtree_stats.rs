//! `delete_subtree` ("forget this user") and `stats()`.

use entelix_core::ExecutionContext;
use entelix_memory::{Namespace, Store};
use skipstore::SkipStore;

use super::{assert_invariants, manual, ms, ns, prefix, ready, walk_keys};

/// Rows per namespace, for the subtree scenario.
fn tree() -> Vec<(Namespace, usize)> {
    vec![
        // The subtree of `acme:agent-1`: 4 + 2 + 40 rows.
        (ns("acme", &["agent-1"]), 3),
        (ns("acme", &["agent-1", "c1"]), 2),
        (ns("acme", &["agent-1", "c2", "deep"]), 40),
        // Neighbours, several rendering between `acme:agent-1` and
        // `acme:agent-1:…`.
        (ns("acme", &["agent-1-old"]), 1),
        (ns("acme", &["agent-10"]), 2),
        (ns("acme", &["agent-1:x"]), 1),
        (ns("acme", &["agent-2"]), 1),
        (ns("acme", &[]), 1),
        (ns("acme-corp", &["agent-1"]), 1),
        (ns("other", &["agent-1"]), 1),
    ]
}

#[test]
fn delete_subtree_removes_exactly_the_subtree() {
    let (clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    for (n, rows) in tree() {
        for i in 0..rows {
            store.put_versioned(&n, &format!("k{i:02}"), 1, None);
        }
    }
    // An expired row not yet swept is still a row, and goes too.
    store.put_versioned(&ns("acme", &["agent-1"]), "exp", 1, Some(ms(5)));
    clock.advance(ms(10));
    assert_eq!(store.total_entries(), 54);
    assert_eq!(store.stats().namespaces, 10);

    assert_eq!(store.delete_subtree(&prefix("acme", &["agent-1"])), 46);
    assert_eq!(store.total_entries(), 8);
    assert_eq!(store.stats().namespaces, 7);
    assert_eq!(store.stats().deletes, 46);
    for (n, rows) in tree() {
        let gone = prefix("acme", &["agent-1"]).matches(&n);
        let keys = walk_keys(&store, &n, None, 7);
        assert_eq!(keys.len(), if gone { 0 } else { rows }, "{}", n.render());
        let got = ready(store.get(&ctx, &n, "k00")).unwrap();
        assert_eq!(got.is_none(), gone, "{}", n.render());
    }
    let listed = ready(store.list_namespaces(&ctx, &prefix("acme", &[]))).unwrap();
    assert_eq!(
        listed,
        [
            ns("acme", &[]),
            ns("acme", &["agent-1-old"]),
            ns("acme", &["agent-10"]),
            ns("acme", &["agent-1:x"]),
            ns("acme", &["agent-2"]),
        ]
    );
    let under = ready(store.list_namespaces(&ctx, &prefix("acme", &["agent-1"]))).unwrap();
    assert!(under.is_empty());
    assert_invariants(&store);

    // Again: nothing left to remove. Unknown prefixes remove nothing.
    assert_eq!(store.delete_subtree(&prefix("acme", &["agent-1"])), 0);
    assert_eq!(store.delete_subtree(&prefix("nobody", &[])), 0);
    assert_eq!(store.delete_subtree(&prefix("acme", &["agent-3"])), 0);
    // A tenant prefix takes the whole tenant, not `acme-corp`.
    assert_eq!(store.delete_subtree(&prefix("acme", &[])), 6);
    assert_eq!(store.total_entries(), 2);
    assert_eq!(store.stats().namespaces, 2);
    assert_eq!(store.stats().deletes, 52);
    let left = ready(store.list_namespaces(&ctx, &prefix("acme-corp", &[]))).unwrap();
    assert_eq!(left, [ns("acme-corp", &["agent-1"])]);
    // The forgotten namespaces can be written again.
    store.put_versioned(&ns("acme", &["agent-1", "c1"]), "new", 2, None);
    let listed = ready(store.list_namespaces(&ctx, &prefix("acme", &[]))).unwrap();
    assert_eq!(listed, [ns("acme", &["agent-1", "c1"])]);
    assert_eq!(store.stats().namespaces, 3);
    assert_invariants(&store);
}

/// Every counter, exactly, in a single-threaded scenario.
#[test]
fn stats_count_every_operation_exactly() {
    let (clock, store) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let a = ns("acme", &["a"]);
    let b = ns("acme", &["b"]);
    assert_eq!(store.stats(), skipstore::Stats::default());
    // Writes: three new rows, one overwrite, one put through the trait.
    store.put_versioned(&a, "x", 1, None);
    store.put_versioned(&a, "y", 1, None);
    store.put_versioned(&b, "x", 1, None);
    store.put_versioned(&a, "x", 2, None);
    ready(store.put(&ctx, &b, "y", 1)).unwrap();
    // Reads: hits and misses through both APIs; listings count as neither.
    assert_eq!(ready(store.get(&ctx, &a, "x")).unwrap(), Some(2));
    let (_, vy) = store.get_versioned(&a, "y").unwrap();
    assert_eq!(ready(store.get(&ctx, &a, "nope")).unwrap(), None);
    assert_eq!(store.get_versioned(&ns("acme", &["c"]), "x"), None);
    let _ = store.list_page(&a, None, None, 10);
    let _ = ready(store.list(&ctx, &a, None)).unwrap();
    let stats = store.stats();
    assert_eq!((stats.hits, stats.misses, stats.writes), (2, 2, 5));
    assert_eq!(
        (stats.rows, stats.namespaces, stats.pending_timers),
        (4, 2, 0)
    );
    // Conditional writes count only when they write.
    assert!(store.put_if_absent(&a, "y", 9, None).is_err());
    assert!(store.compare_and_swap(&a, "x", vy, 9, None).is_err());
    assert!(store.compare_and_swap(&a, "y", vy, 3, None).is_ok());
    assert!(store.put_if_absent(&a, "z", 1, None).is_ok());
    assert_eq!(store.stats().writes, 7);
    // Deletes: only rows actually removed.
    ready(store.delete(&ctx, &a, "z")).unwrap();
    ready(store.delete(&ctx, &a, "z")).unwrap();
    ready(store.delete(&ctx, &a, "never")).unwrap();
    assert_eq!(store.delete_subtree(&prefix("acme", &["b"])), 2);
    let stats = store.stats();
    assert_eq!((stats.deletes, stats.rows, stats.namespaces), (3, 2, 1));
    // Expirations: two TTL rows, read after expiry (a miss), then swept.
    store.put_versioned(&a, "t1", 1, Some(ms(10)));
    store.put_versioned(&a, "t2", 1, Some(ms(10)));
    assert_eq!(store.stats().pending_timers, 2);
    clock.advance(ms(10));
    assert_eq!(store.get_versioned(&a, "t1"), None);
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 2);
    let stats = store.stats();
    assert_eq!((stats.expirations, stats.misses, stats.hits), (2, 3, 2));
    assert_eq!((stats.rows, stats.pending_timers, stats.writes), (2, 0, 9));
    assert_eq!((stats.deletes, stats.evictions), (3, 0));
    assert_invariants(&store);
}

#[test]
fn stats_count_evictions_of_a_bounded_store() {
    let store: SkipStore<u32> = SkipStore::builder().max_entries(3).build();
    let space = ns("acme", &["a"]);
    for i in 0..5 {
        store.put_versioned(&space, &format!("k{i}"), i, None);
    }
    let stats = store.stats();
    assert_eq!((stats.rows, stats.writes, stats.evictions), (3, 5, 2));
    assert_eq!((stats.deletes, stats.expirations), (0, 0));
    assert_invariants(&store);
}
