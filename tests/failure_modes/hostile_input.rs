//! Hostile input: odd keys, huge keys, deep namespaces, extreme TTLs,
//! prefixes that match nothing.

use super::*;

#[test]
fn odd_keys_are_ordinary_keys() {
    let _serial = serial();
    let (store, _) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let space = ns("s");
    let keys = [
        "",
        "\0",
        "a\0b",
        "\\",
        "\\:",
        ":",
        "t:s",
        "é",
        "\u{10FFFF}",
        "*",
        "%",
    ];
    for (i, key) in (0u32..).zip(keys) {
        ready(store.put(&ctx, &space, key, i)).unwrap();
    }
    for (i, key) in (0u32..).zip(keys) {
        assert_eq!(
            ready(store.get(&ctx, &space, key)).unwrap(),
            Some(i),
            "{key:?}"
        );
    }
    let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    assert_eq!(ready(store.list(&ctx, &space, None)).unwrap(), sorted);
    assert_eq!(ready(store.list(&ctx, &space, Some(""))).unwrap(), sorted);
    assert_eq!(
        ready(store.list(&ctx, &space, Some("\\"))).unwrap(),
        ["\\", "\\:"]
    );
    assert_eq!(ready(store.list(&ctx, &space, Some("*"))).unwrap(), ["*"]);
    // A key spelling a namespace stays a key of its own namespace.
    let parent = Namespace::new(TenantId::new("t"));
    assert_eq!(ready(store.get(&ctx, &parent, "s")).unwrap(), None);
    assert!(ready(store.list(&ctx, &parent, None)).unwrap().is_empty());
    ready(store.delete(&ctx, &space, "")).unwrap();
    assert_eq!(ready(store.get(&ctx, &space, "")).unwrap(), None);
    assert_eq!(ready(store.get(&ctx, &space, "\0")).unwrap(), Some(1));
    assert_eq!(store.total_entries(), keys.len() - 1);
    store.check_invariants().unwrap();
}

/// Rendered namespaces around the length that a namespace node holds in
/// place (47 bytes) and past it: namespaces that differ only in their last
/// byte, or only after the first 47, are distinct everywhere.
#[test]
fn namespace_names_around_the_inline_length() {
    let _serial = serial();
    let (store, _) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let mut spaces = Vec::new();
    for len in [45, 46, 47, 48, 49, 200] {
        for last in ["a", "b"] {
            // "t:" + the segment: `len` bytes rendered.
            let segment = format!("{}{last}", "s".repeat(len - 3));
            let space = Namespace::new(TenantId::new("t")).with_scope(segment);
            assert_eq!(space.render().len(), len);
            spaces.push(space);
        }
    }
    for (i, space) in (0u32..).zip(&spaces) {
        ready(store.put(&ctx, space, "k", i)).unwrap();
    }
    for (i, space) in (0u32..).zip(&spaces) {
        assert_eq!(ready(store.get(&ctx, space, "k")).unwrap(), Some(i));
        assert_eq!(ready(store.list(&ctx, space, None)).unwrap(), ["k"]);
    }
    let listed =
        ready(store.list_namespaces(&ctx, &NamespacePrefix::new(TenantId::new("t")))).unwrap();
    let mut expected: Vec<Namespace> = spaces.clone();
    expected.sort_by_key(Namespace::render);
    assert_eq!(listed, expected);
    for space in spaces.iter().step_by(2) {
        ready(store.delete(&ctx, space, "k")).unwrap();
    }
    for (i, space) in (0u32..).zip(&spaces) {
        let kept = (i % 2 == 1).then_some(i);
        assert_eq!(
            ready(store.get(&ctx, space, "k")).unwrap(),
            kept,
            "{}",
            space.render()
        );
    }
    assert_eq!(store.total_entries(), spaces.len() / 2);
    store.check_invariants().unwrap();
}

#[test]
fn one_mebibyte_keys() {
    let _serial = serial();
    let (store, _) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let space = ns("big");
    let stem = "k".repeat((1 << 20) - 1);
    let (a, b) = (format!("{stem}a"), format!("{stem}b"));
    ready(store.put(&ctx, &space, &b, 2)).unwrap();
    ready(store.put(&ctx, &space, &a, 1)).unwrap();
    assert_eq!(ready(store.get(&ctx, &space, &a)).unwrap(), Some(1));
    assert_eq!(ready(store.get(&ctx, &space, &b)).unwrap(), Some(2));
    assert_eq!(ready(store.get(&ctx, &space, &stem)).unwrap(), None);
    let listed = ready(store.list(&ctx, &space, Some(&stem))).unwrap();
    assert!(
        listed == [a.clone(), b.clone()],
        "1 MiB keys listed out of order"
    );
    ready(store.delete(&ctx, &space, &a)).unwrap();
    assert_eq!(ready(store.list(&ctx, &space, Some(&a))).unwrap().len(), 0);
    assert_eq!(store.total_entries(), 1);
    store.check_invariants().unwrap();
}

#[test]
fn namespaces_a_thousand_segments_deep() {
    let _serial = serial();
    let (store, _) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let tenant = || TenantId::new("t");
    let segs: Vec<String> = (0..1000).map(|i| format!("s{i}:\\")).collect();
    let deep = segs
        .iter()
        .fold(Namespace::new(tenant()), |n, s| n.with_scope(s.as_str()));
    let empties = (0..1000).fold(Namespace::new(tenant()), |n, _| n.with_scope(""));
    let shallower = (0..999).fold(Namespace::new(tenant()), |n, _| n.with_scope(""));
    for space in [&deep, &empties, &shallower] {
        ready(store.put(&ctx, space, "k", 7)).unwrap();
        assert_eq!(ready(store.get(&ctx, space, "k")).unwrap(), Some(7));
    }
    let prefix = |n: usize, segs: &[String]| {
        segs[..n]
            .iter()
            .fold(NamespacePrefix::new(tenant()), |p, s| {
                p.with_scope(s.as_str())
            })
    };
    let list = |p: &NamespacePrefix| ready(store.list_namespaces(&ctx, p)).unwrap();
    assert_eq!(list(&prefix(500, &segs)), std::slice::from_ref(&deep));
    assert_eq!(list(&prefix(1000, &segs)), std::slice::from_ref(&deep));
    let too_deep = prefix(1000, &segs).with_scope("one more");
    assert!(list(&too_deep).is_empty());
    let blank: Vec<String> = vec![String::new(); 1000];
    // Rendered order: 999 colons sort before 1000.
    assert_eq!(
        list(&prefix(999, &blank)),
        [shallower.clone(), empties.clone()]
    );
    assert_eq!(list(&prefix(1000, &blank)), std::slice::from_ref(&empties));
    assert_eq!(list(&NamespacePrefix::new(tenant())).len(), 3);
    assert_eq!(ready(store.list(&ctx, &deep, None)).unwrap(), ["k"]);
    store.check_invariants().unwrap();
}

#[test]
fn zero_and_maximal_ttls() {
    let _serial = serial();
    let (store, clock) = manual::<u32>();
    let ctx = ExecutionContext::new();
    let (zero, forever) = (ns("zero"), ns("forever"));
    ready(store.put_with_options(&ctx, &zero, "k", 1, ttl(Duration::ZERO))).unwrap();
    ready(store.put_with_options(&ctx, &forever, "k", 2, ttl(Duration::MAX))).unwrap();
    ready(store.put_with_options(&ctx, &forever, "n", 3, ttl(Duration::from_nanos(1)))).unwrap();
    // Zero is expired at once, yet held until swept.
    assert_eq!(ready(store.get(&ctx, &zero, "k")).unwrap(), None);
    assert!(ready(store.list(&ctx, &zero, None)).unwrap().is_empty());
    let all = NamespacePrefix::new(TenantId::new("t"));
    assert_eq!(
        ready(store.list_namespaces(&ctx, &all)).unwrap(),
        std::slice::from_ref(&forever)
    );
    assert_eq!(store.total_entries(), 3);
    assert_eq!(ready(store.get(&ctx, &forever, "n")).unwrap(), Some(3));
    clock.advance(Duration::from_nanos(1));
    assert_eq!(ready(store.get(&ctx, &forever, "n")).unwrap(), None);
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 2);
    // Five centuries on, Duration::MAX still holds.
    clock.advance(Duration::from_secs(500 * 365 * 86_400));
    assert_eq!(ready(store.evict_expired(&ctx)).unwrap(), 0);
    assert_eq!(ready(store.get(&ctx, &forever, "k")).unwrap(), Some(2));
    assert_eq!(store.total_entries(), 1);
    store.check_invariants().unwrap();
}

#[test]
fn prefixes_that_match_nothing() {
    let _serial = serial();
    let (store, _) = manual::<u32>();
    let ctx = ExecutionContext::new();
    ready(store.put(&ctx, &ns("ab"), "key", 1)).unwrap();
    let t = || NamespacePrefix::new(TenantId::new("t"));
    let nothing = [
        NamespacePrefix::new(TenantId::new("nobody")),
        NamespacePrefix::new(TenantId::new("t:ab")),
        t().with_scope("a"),
        t().with_scope("ab").with_scope(""),
        t().with_scope("*"),
        t().with_scope("a%"),
    ];
    for prefix in &nothing {
        let got = ready(store.list_namespaces(&ctx, prefix)).unwrap();
        assert!(got.is_empty(), "{prefix:?} matched {got:?}");
    }
    for key_prefix in ["kez", "key\0", "*", "k%", "k_y", "[k]"] {
        assert!(
            ready(store.list(&ctx, &ns("ab"), Some(key_prefix)))
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        ready(store.list(&ctx, &ns("unknown"), None))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ready(store.list(&ctx, &ns("ab"), Some("key"))).unwrap(),
        ["key"]
    );
}
