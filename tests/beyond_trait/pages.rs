//! `list_page`: sorted, cursor-paginated keys of one namespace.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use entelix_core::ExecutionContext;
use entelix_memory::Store;
use skipstore::SkipStore;

use super::{RUN, WRITE_BUFFER, assert_invariants, manual, ms, ns, ready, walk_keys};

/// A namespace holding `msg-000`..`msg-024` under prefix `msg-`, written in
/// a scrambled order, beside keys just outside the prefix on both sides.
fn conversation() -> (SkipStore<u32>, entelix_memory::Namespace, Vec<String>) {
    let store = SkipStore::new();
    let conv = ns("acme", &["agent-1", "conv-1"]);
    let mut msgs: Vec<String> = (0..25).map(|i| format!("msg-{i:03}")).collect();
    for i in (0..25).map(|i| (i * 7) % 25) {
        store.put_versioned(&conv, &msgs[i], 1, None);
    }
    for outside in ["a", "msg", "msg+", "msh", "msg.", "msf-999", "zzz"] {
        store.put_versioned(&conv, outside, 0, None);
    }
    msgs.sort();
    (store, conv, msgs)
}

#[test]
fn pages_walk_a_prefix_in_order_and_the_last_has_no_next() {
    let (store, conv, msgs) = conversation();
    for limit in [1, 2, 3, 4, 5, 24, 25, 26, 100] {
        assert_eq!(
            walk_keys(&store, &conv, Some("msg-"), limit),
            msgs,
            "limit {limit}"
        );
    }
    // Pages of 4: six full pages, then one key and no cursor.
    let mut cursor = None;
    for page_no in 0..6 {
        let page = store.list_page(&conv, Some("msg-"), cursor.as_deref(), 4);
        assert_eq!(page.keys, msgs[page_no * 4..page_no * 4 + 4]);
        assert_eq!(page.next.as_deref(), Some(msgs[page_no * 4 + 3].as_str()));
        cursor = page.next;
    }
    let last = store.list_page(&conv, Some("msg-"), cursor.as_deref(), 4);
    assert_eq!(last.keys, ["msg-024"]);
    assert_eq!(last.next, None);
    // A limit that divides the count exactly: the fifth page is the last.
    let fifth = store.list_page(&conv, Some("msg-"), Some("msg-019"), 5);
    assert_eq!(fifth.keys, msgs[20..25]);
    assert_eq!(fifth.next, None, "no empty page after a full last page");
    // No prefix: everything, sorted.
    let mut all = msgs.clone();
    all.extend(["a", "msg", "msg+", "msh", "msg.", "msf-999", "zzz"].map(str::to_owned));
    all.sort();
    assert_eq!(walk_keys(&store, &conv, None, 3), all);
    assert_eq!(store.list_page(&conv, Some(""), None, 100).keys, all);
    assert_invariants(&store);
}

#[test]
fn limit_zero_returns_an_empty_page_without_a_cursor() {
    let (store, conv, _) = conversation();
    for after in [None, Some("msg-003"), Some("a")] {
        let page = store.list_page(&conv, Some("msg-"), after, 0);
        assert!(page.keys.is_empty());
        // Nothing was returned, so there is nothing to continue after: a
        // caller looping on `next` stops instead of spinning.
        assert_eq!(page.next, None);
    }
    let empty = store.list_page(&ns("acme", &["nobody"]), None, None, 0);
    assert!(empty.keys.is_empty() && empty.next.is_none());
    assert_invariants(&store);
}

#[test]
fn cursors_before_inside_and_after_the_prefix_range() {
    let (store, conv, msgs) = conversation();
    let from = |after: &str, limit| store.list_page(&conv, Some("msg-"), Some(after), limit);
    // Before the range: the walk starts at its first key.
    for before in ["", "a", "msg", "msg+", "msg-"] {
        let page = from(before, 3);
        assert_eq!(page.keys, msgs[..3], "after {before:?}");
        assert_eq!(page.next.as_deref(), Some("msg-002"));
    }
    // Inside, on a key and between keys.
    assert_eq!(from("msg-010", 2).keys, ["msg-011", "msg-012"]);
    assert_eq!(from("msg-0105", 2).keys, ["msg-011", "msg-012"]);
    assert_eq!(from("msg-023", 5).keys, ["msg-024"]);
    assert_eq!(from("msg-023", 5).next, None);
    // At the last key and after the range: an empty last page.
    for after in ["msg-024", "msg-1", "msg.", "msh", "zzz", "\u{10ffff}"] {
        let page = from(after, 3);
        assert!(page.keys.is_empty(), "after {after:?}: {:?}", page.keys);
        assert_eq!(page.next, None);
    }
    // Without a prefix the cursor alone bounds the walk.
    let page = store.list_page(&conv, None, Some("msg-024"), 3);
    assert_eq!(page.keys, ["msg.", "msh", "zzz"]);
    assert_eq!(page.next, None);
    assert_invariants(&store);
}

/// Keys still in the namespace's write buffer and keys in its ordered index
/// are merged: every key once, sorted, whichever side holds it.
#[test]
fn buffered_and_ordered_keys_appear_once_in_order() {
    let store: SkipStore<u32> = SkipStore::new();
    let conv = ns("acme", &["agent-1", "conv-2"]);
    let key = |i: usize| format!("k{i:03}");
    // The first WRITE_BUFFER new keys (the even ones) fill the buffer and
    // are drained into the ordered index; the odd keys after them stay in
    // the buffer, interleaved with them in key order.
    for i in (0..2 * WRITE_BUFFER).step_by(2) {
        store.put_versioned(&conv, &key(i), 0, None);
    }
    for i in (1..2 * 10).step_by(2) {
        store.put_versioned(&conv, &key(i), 0, None);
    }
    // Overwrites keep each key's entry where it is.
    for i in [0, 1, 2, 3, 19, 62] {
        store.put_versioned(&conv, &key(i), 1, None);
    }
    let mut expected: Vec<String> = (0..2 * WRITE_BUFFER)
        .step_by(2)
        .chain((1..20).step_by(2))
        .map(key)
        .collect();
    expected.sort();
    for limit in [1, 2, 3, 7, 41, 42, 43, 1000] {
        assert_eq!(
            walk_keys(&store, &conv, None, limit),
            expected,
            "limit {limit}"
        );
    }
    assert_eq!(walk_keys(&store, &conv, Some("k01"), 2), expected[10..20]);
    // A cursor that is a buffered key, and one that is an ordered key.
    let page = store.list_page(&conv, None, Some("k005"), 4);
    assert_eq!(page.keys, ["k006", "k007", "k008", "k009"]);
    let page = store.list_page(&conv, None, Some("k006"), 3);
    assert_eq!(page.keys, ["k007", "k008", "k009"]);
    // The trait's `list` agrees.
    let listed = ready(store.list(&ExecutionContext::new(), &conv, None)).unwrap();
    assert_eq!(listed, expected);
    // A key deleted from the ordered index and written again lands in the
    // buffer: still once.
    ready(store.delete(&ExecutionContext::new(), &conv, "k010")).unwrap();
    assert!(!walk_keys(&store, &conv, None, 5).contains(&"k010".to_owned()));
    store.put_versioned(&conv, "k010", 2, None);
    assert_eq!(walk_keys(&store, &conv, None, 5), expected);
    assert_invariants(&store);
}

#[test]
fn expired_keys_never_appear() {
    let (clock, store) = manual::<u32>();
    let conv = ns("acme", &["agent-1", "conv-3"]);
    let key = |i: usize| format!("k{i:03}");
    // 50 keys: 32 drained into the ordered index, 18 buffered; every third
    // one expires at 10 ms, one more at 20 ms.
    for i in 0..50 {
        let ttl = (i % 3 == 0).then(|| ms(10));
        store.put_versioned(&conv, &key(i), 0, ttl);
    }
    store.put_versioned(&conv, "k049", 0, Some(ms(20)));
    let all: Vec<String> = (0..50).map(key).collect();
    let first = store.list_page(&conv, Some("k"), None, 4);
    assert_eq!(first.keys, all[..4]);
    assert_eq!(walk_keys(&store, &conv, Some("k"), 4), all);

    clock.advance(ms(10));
    let live: Vec<String> = (0..50).filter(|i| i % 3 != 0).map(key).collect();
    for limit in [1, 4, 33, 100] {
        assert_eq!(walk_keys(&store, &conv, Some("k"), limit), live);
    }
    // A cursor handed out before its key expired still works.
    let page = store.list_page(&conv, Some("k"), first.next.as_deref(), 3);
    assert_eq!(page.keys, ["k004", "k005", "k007"]);

    clock.advance(ms(10));
    let live: Vec<String> = (0..49).filter(|i| i % 3 != 0).map(key).collect();
    assert_eq!(walk_keys(&store, &conv, None, 6), live);
    // Expired-but-unswept rows are still held, just never listed.
    assert_eq!(store.total_entries(), 50);
    assert_invariants(&store);
    let swept = ready(store.evict_expired(&ExecutionContext::new())).unwrap();
    assert_eq!(swept, 18);
    assert_eq!(walk_keys(&store, &conv, None, 6), live);
    assert_invariants(&store);
}

#[test]
fn pages_never_show_other_namespaces() {
    let store: SkipStore<u32> = SkipStore::new();
    let parent = ns("t", &["a"]);
    // Neighbours in rendered order: a child, a sibling whose name contains
    // `:` (renders `t:a\:b`), longer sibling names, another tenant.
    let neighbours = [
        ns("t", &["a", "b"]),
        ns("t", &["a:b"]),
        ns("t", &["a-b"]),
        ns("t", &["ab"]),
        ns("t", &[]),
        ns("t:a", &[]),
    ];
    for n in &neighbours {
        for k in ["b:x", "x", "a"] {
            store.put_versioned(n, k, 9, None);
        }
    }
    for k in ["b:x", "b", "c"] {
        store.put_versioned(&parent, k, 1, None);
    }
    assert_eq!(walk_keys(&store, &parent, None, 1), ["b", "b:x", "c"]);
    assert_eq!(walk_keys(&store, &parent, Some("b"), 1), ["b", "b:x"]);
    let absent = ns("t", &["a", "c"]);
    let page = store.list_page(&absent, None, None, 10);
    assert!(page.keys.is_empty() && page.next.is_none());
    assert_invariants(&store);
}

/// Stable keys, present throughout, interleave in key order with keys that
/// writers keep inserting and deleting (here and in neighbouring
/// namespaces). A reader paginating in small pages must see every stable
/// key exactly once, in strictly increasing order across pages, and no key
/// of another namespace.
#[test]
fn pagination_is_stable_under_concurrent_writes() {
    const STABLE: usize = 300;
    const WRITERS: usize = 2;
    let store: SkipStore<u64> = SkipStore::new();
    let home = ns("t", &["home"]);
    // Writers' keys in other namespaces are tagged `foreign` so that a
    // leak shows.
    let others = [
        ns("t", &["home", "child"]),
        ns("t", &["home-2"]),
        ns("t", &["hom"]),
    ];
    let stable: Vec<String> = (0..STABLE).map(|i| format!("k{i:04}")).collect();
    for k in &stable {
        store.put_versioned(&home, k, 0, None);
    }
    let stop = AtomicBool::new(false);
    let walks = AtomicUsize::new(0);
    let start = Barrier::new(WRITERS + 2);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (store, home, others, stop, start) = (&store, &home, &others, &stop, &start);
            s.spawn(move || {
                let ctx = ExecutionContext::new();
                start.wait();
                churn(store, &ctx, home, others, w, stop);
            });
        }
        let (store, home, stable, stop, walks, start) =
            (&store, &home, &stable, &stop, &walks, &start);
        s.spawn(move || {
            start.wait();
            while !stop.load(Ordering::Relaxed) {
                check_one_walk(store, home, stable);
                walks.fetch_add(1, Ordering::Relaxed);
            }
        });
        start.wait();
        std::thread::sleep(RUN);
        // At least one whole walk under the writers, however late a loaded
        // machine schedules the reader.
        let waiting = Instant::now();
        while walks.load(Ordering::Relaxed) == 0 {
            assert!(
                waiting.elapsed() < 20 * RUN,
                "the reader never finished a walk"
            );
            std::thread::sleep(ms(1));
        }
        stop.store(true, Ordering::Relaxed);
    });
    // Writers leave up to 40 of their keys each behind.
    let left: Vec<String> = walk_keys(&store, &home, None, 1000)
        .into_iter()
        .filter(|k| !k.contains("-w"))
        .collect();
    assert_eq!(left, stable);
    assert_invariants(&store);
}

/// Writer `w`: inserts `k{i}-w{w}-{n}` between the stable keys, deleting
/// each a few dozen writes later (so buffers fill, drain and empty), and
/// does the same in the neighbouring namespaces with `foreign` keys.
fn churn(
    store: &SkipStore<u64>,
    ctx: &ExecutionContext,
    home: &entelix_memory::Namespace,
    others: &[entelix_memory::Namespace],
    w: usize,
    stop: &AtomicBool,
) {
    let mut live = std::collections::VecDeque::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("k{:04}-w{w}-{n}", n % 300);
        store.put_versioned(home, &key, n, None);
        let other = &others[n as usize % others.len()];
        store.put_versioned(other, &format!("k{:04}-foreign", n % 300), n, None);
        live.push_back((key, other));
        if live.len() > 40 {
            let (old, other) = live.pop_front().unwrap();
            ready(store.delete(ctx, home, &old)).unwrap();
            let foreign = format!("k{:04}-foreign", (n - 40) % 300);
            ready(store.delete(ctx, other, &foreign)).unwrap();
        }
    }
}

fn check_one_walk(store: &SkipStore<u64>, home: &entelix_memory::Namespace, stable: &[String]) {
    let mut seen_stable = BTreeSet::new();
    let mut last: Option<String> = None;
    let mut cursor: Option<String> = None;
    let began = Instant::now();
    loop {
        let page = store.list_page(home, Some("k"), cursor.as_deref(), 7);
        assert!(page.keys.len() <= 7);
        for key in &page.keys {
            assert!(!key.contains("foreign"), "key {key:?} of another namespace");
            if let Some(prev) = &last {
                assert!(prev < key, "{prev:?} then {key:?}: not strictly increasing");
            }
            last = Some(key.clone());
            if !key.contains("-w") {
                assert!(seen_stable.insert(key.clone()), "{key:?} twice");
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
        assert!(began.elapsed() < 20 * RUN, "the walk does not end");
    }
    let expected: BTreeSet<String> = stable.iter().cloned().collect();
    assert_eq!(seen_stable, expected, "a stable key was skipped");
}
