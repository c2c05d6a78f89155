//! `list_namespaces_page`: namespaces under a prefix that hold a live entry,
//! cut to `max_depth` scope segments, each listed once, paginated by limit
//! and cursor. Checked against a brute-force model built from the stored
//! namespaces and `NamespacePrefix::matches`.
//!
//! Order, as documented: without `max_depth`, by rendered form; with it,
//! each namespace (or cut group) at the index position of the first stored
//! namespace it stands for (a group `t:a` whose first namespace is `t:a:b`
//! comes after a sibling `t:a-x`, since `-` sorts before `:`). Cursors are
//! treated as opaque: whatever a page hands out must resume the walk.

use entelix_core::ExecutionContext;
use entelix_memory::{Namespace, NamespacePrefix, Store};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use skipstore::SkipStore;

use super::{assert_invariants, manual, ms, ns, prefix, ready, t};

/// `n` cut to its first `depth` scope segments.
fn cut(n: &Namespace, depth: usize) -> Namespace {
    n.scope()
        .iter()
        .take(depth)
        .fold(Namespace::new(n.tenant_id().clone()), |acc, s| {
            acc.with_scope(s.clone())
        })
}

/// A store holding one live row in each of `live` and one expired (not yet
/// swept) row in each of `dead`.
struct Tree {
    store: SkipStore<u32>,
    live: Vec<Namespace>,
    /// Every namespace holding a row, live or expired.
    stored: Vec<Namespace>,
}

impl Tree {
    fn new(live: &[Namespace], dead: &[Namespace]) -> Self {
        let (clock, store) = manual();
        for n in live {
            store.put_versioned(n, "live", 1, None);
        }
        for n in dead {
            store.put_versioned(n, "dead", 0, Some(ms(5)));
        }
        clock.advance(ms(10));
        Self {
            store,
            live: live.to_vec(),
            stored: live.iter().chain(dead).cloned().collect(),
        }
    }

    /// The brute-force answer: every live namespace the prefix matches, cut
    /// to `max_depth` (never above the prefix's own depth), once each, in
    /// the documented order.
    fn model(&self, p: &NamespacePrefix, max_depth: Option<usize>) -> Vec<Namespace> {
        let depth = max_depth.map(|d| d.max(p.scope().len()));
        let mut out: Vec<(String, Namespace)> = self
            .live
            .iter()
            .filter(|n| p.matches(n))
            .map(|n| match depth {
                Some(d) if n.scope().len() >= d => {
                    let group = cut(n, d);
                    (self.first_under(&group), group)
                }
                _ => (n.render(), n.clone()),
            })
            .collect();
        out.sort_by_key(|(position, n)| (position.clone(), n.render()));
        out.dedup_by(|a, b| a.1 == b.1);
        out.into_iter().map(|(_, n)| n).collect()
    }

    /// The smallest rendered form of a stored namespace under `group`.
    fn first_under(&self, group: &Namespace) -> String {
        let under = NamespacePrefix::from(group);
        let first = self
            .stored
            .iter()
            .filter(|n| under.matches(n))
            .map(Namespace::render)
            .min();
        first.unwrap_or_else(|| panic!("group {} stands for nothing", group.render()))
    }

    /// Walks every page size and compares with `expected` (and the model).
    fn assert_walks(&self, p: &NamespacePrefix, max_depth: Option<usize>, expected: &[Namespace]) {
        assert_eq!(
            renders(&self.model(p, max_depth)),
            renders(expected),
            "the model disagrees with the test's expectation"
        );
        for limit in [1, 2, 3, expected.len().max(1), expected.len() + 1, 100] {
            let got = walk(&self.store, p, max_depth, limit);
            assert_eq!(
                renders(&got),
                renders(expected),
                "prefix {p:?}, max_depth {max_depth:?}, limit {limit}"
            );
            assert_eq!(got, expected, "structurally equal, not just by rendering");
        }
    }

    /// Compares every page size with the model.
    fn assert_model(&self, p: &NamespacePrefix, max_depth: Option<usize>) {
        self.assert_walks(p, max_depth, &self.model(p, max_depth));
    }
}

/// Every namespace of the listing, walked in pages of `limit` with the
/// cursors the store hands out; checks each page's shape on the way.
fn walk(
    store: &SkipStore<u32>,
    p: &NamespacePrefix,
    max_depth: Option<usize>,
    limit: usize,
) -> Vec<Namespace> {
    let mut out: Vec<Namespace> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page = store.list_namespaces_page(p, max_depth, cursor.as_deref(), limit);
        assert!(page.namespaces.len() <= limit, "page longer than its limit");
        out.extend(page.namespaces.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.namespaces.len(),
                    limit,
                    "a page with a successor is full"
                );
                cursor = Some(next);
            }
            None => return out,
        }
    }
    panic!("the namespace walk does not end");
}

fn renders(list: &[Namespace]) -> Vec<String> {
    list.iter().map(Namespace::render).collect()
}

#[test]
fn pages_with_and_without_max_depth() {
    let live = [
        ns("acme", &[]),
        ns("acme", &["agent-1"]),
        ns("acme", &["agent-1", "c1"]),
        ns("acme", &["agent-1", "c2"]),
        ns("acme", &["agent-1", "c3"]),
        ns("acme", &["agent-2", "c1"]),
        ns("acme", &["agent-3", "c1", "deep"]),
        ns("globex", &["agent-1", "c1"]),
    ];
    let tree = Tree::new(&live, &[ns("acme", &["agent-4"])]);
    let acme = prefix("acme", &[]);
    tree.assert_walks(&acme, None, &live[..7]);
    tree.assert_walks(&acme, Some(9), &live[..7]);
    let by_agent = [
        ns("acme", &[]),
        ns("acme", &["agent-1"]),
        ns("acme", &["agent-2"]),
        ns("acme", &["agent-3"]),
    ];
    tree.assert_walks(&acme, Some(1), &by_agent);
    let mut two = live[..6].to_vec();
    two.push(ns("acme", &["agent-3", "c1"]));
    tree.assert_walks(&acme, Some(2), &two);
    tree.assert_walks(&acme, Some(0), &[ns("acme", &[])]);
    tree.assert_walks(
        &prefix("globex", &[]),
        Some(1),
        &[ns("globex", &["agent-1"])],
    );
    // Paging by hand: two per page, depth 1.
    let first = tree.store.list_namespaces_page(&acme, Some(1), None, 2);
    assert_eq!(first.namespaces, by_agent[..2]);
    assert!(first.next.is_some());
    let second = tree
        .store
        .list_namespaces_page(&acme, Some(1), first.next.as_deref(), 2);
    assert_eq!(second.namespaces, by_agent[2..]);
    assert_eq!(second.next, None, "no empty page after a full last page");
    // Limit 0: nothing, and no cursor to spin on.
    let none = tree.store.list_namespaces_page(&acme, Some(1), None, 0);
    assert!(none.namespaces.is_empty() && none.next.is_none());
    assert_invariants(&tree.store);
}

#[test]
fn a_cut_group_is_listed_once_and_only_if_its_subtree_is_live() {
    let live = [
        ns("acme", &["agent-2", "c1", "x"]),
        ns("acme", &["agent-3", "c1"]),
        ns("acme", &["agent-3", "c2"]),
        ns("acme", &["agent-3", "c3", "x"]),
        ns("acme", &["agent-3"]),
    ];
    let dead = [
        ns("acme", &["agent-1"]),
        ns("acme", &["agent-1", "c1"]),
        ns("acme", &["agent-1", "c2", "x"]),
        ns("acme", &["agent-2"]),
        ns("acme", &["agent-5"]),
    ];
    let tree = Tree::new(&live, &dead);
    // A namespace whose only row was deleted holds nothing.
    let gone = ns("acme", &["agent-4", "c1"]);
    tree.store.put_versioned(&gone, "k", 1, None);
    ready(tree.store.delete(&ExecutionContext::new(), &gone, "k")).unwrap();
    let acme = prefix("acme", &[]);
    let by_agent = [ns("acme", &["agent-2"]), ns("acme", &["agent-3"])];
    tree.assert_walks(&acme, Some(1), &by_agent);
    let two = [
        ns("acme", &["agent-2", "c1"]),
        ns("acme", &["agent-3"]),
        ns("acme", &["agent-3", "c1"]),
        ns("acme", &["agent-3", "c2"]),
        ns("acme", &["agent-3", "c3"]),
    ];
    tree.assert_walks(&acme, Some(2), &two);
    // Expired-only namespaces are not listed without a depth either.
    tree.assert_model(&acme, None);
    assert_eq!(tree.model(&acme, None).len(), live.len());
    assert_invariants(&tree.store);
}

#[test]
fn a_max_depth_below_the_prefix_depth_is_raised_to_it() {
    let live = [
        ns("acme", &["agent-3", "c1"]),
        ns("acme", &["agent-3", "c2", "x"]),
        ns("acme", &["agent-4", "c1"]),
    ];
    let tree = Tree::new(&live, &[ns("acme", &["agent-5", "c1"])]);
    let agent = prefix("acme", &["agent-3"]);
    for depth in [0, 1] {
        tree.assert_walks(&agent, Some(depth), &[ns("acme", &["agent-3"])]);
    }
    let by_conversation = [
        ns("acme", &["agent-3", "c1"]),
        ns("acme", &["agent-3", "c2"]),
    ];
    tree.assert_walks(&agent, Some(2), &by_conversation);
    tree.assert_walks(&prefix("acme", &["agent-5"]), Some(0), &[]);
    tree.assert_walks(&prefix("acme", &["agent-9"]), Some(0), &[]);
    tree.assert_walks(&prefix("nobody", &[]), Some(1), &[]);
    assert_invariants(&tree.store);
}

/// Segments holding `:`, `\` or nothing: the cut forms are the right
/// `Namespace`s (not re-parsed renderings), and their cursors resume at the
/// right place.
#[test]
fn escaped_and_empty_segments_cut_and_paginate() {
    let live = [
        ns("t", &[""]),
        ns("t", &["", "x"]),
        ns("t", &["", ""]),
        ns("t", &[":"]),
        ns("t", &[":", "y"]),
        ns("t", &["\\", ":"]),
        ns("t", &["a:b"]),
        ns("t", &["a", "b"]),
        ns("t", &["a\\", "c"]),
        ns("t", &["a:", "\\"]),
        ns("t:a", &["x"]),
        ns("t\\", &[""]),
    ];
    let tree = Tree::new(&live, &[ns("t", &["\\\\", "z"])]);
    let tenant = prefix("t", &[]);
    let by_segment = [
        ns("t", &[""]),
        ns("t", &[":"]),
        ns("t", &["\\"]),
        ns("t", &["a"]),
        ns("t", &["a:"]),
        ns("t", &["a:b"]),
        ns("t", &["a\\"]),
    ];
    assert_eq!(
        renders(&by_segment),
        [
            "t:", "t:\\:", "t:\\\\", "t:a", "t:a\\:", "t:a\\:b", "t:a\\\\"
        ]
    );
    tree.assert_walks(&tenant, Some(1), &by_segment);
    for depth in [None, Some(0), Some(2), Some(3)] {
        tree.assert_model(&tenant, depth);
    }
    for p in [
        prefix("t", &[""]),
        prefix("t", &[":"]),
        prefix("t", &["\\"]),
        prefix("t", &["a"]),
        prefix("t", &["a:"]),
        prefix("t:a", &[]),
        prefix("t\\", &[]),
    ] {
        for depth in [None, Some(1), Some(2)] {
            tree.assert_model(&p, depth);
        }
    }
    assert_invariants(&tree.store);
}

// ── names that continue past a prefix with a byte below `:` ────────────────
//
// `-`, digits, `.` and NUL sort below the separator `:`, so `acme-corp`
// sorts between `acme` and `acme:…`, and `agent-10` between `agent-1` and
// `agent-1:…`: a prefix's subtree is not one contiguous range of the
// rendered order.

#[test]
fn a_tenant_prefix_is_not_cut_short_by_a_longer_tenant_name() {
    let live = [
        ns("acme", &["agent-1"]),
        ns("acme", &["agent-2", "c1"]),
        ns("acme-corp", &["agent-1"]),
    ];
    let tree = Tree::new(&live, &[]);
    let acme = prefix("acme", &[]);
    let listed = ready(tree.store.list_namespaces(&ExecutionContext::new(), &acme)).unwrap();
    assert_eq!(listed, live[..2], "the trait's list_namespaces");
    tree.assert_walks(&acme, None, &live[..2]);
    tree.assert_walks(
        &acme,
        Some(1),
        &[ns("acme", &["agent-1"]), ns("acme", &["agent-2"])],
    );
    assert_invariants(&tree.store);
}

#[test]
fn an_agent_prefix_is_not_cut_short_by_a_longer_sibling_name() {
    let live = [
        ns("acme", &["agent-1", "c1"]),
        ns("acme", &["agent-10", "c1"]),
        ns("acme", &["agent-1.old"]),
    ];
    let tree = Tree::new(&live, &[]);
    let agent = prefix("acme", &["agent-1"]);
    tree.assert_walks(&agent, None, &[ns("acme", &["agent-1", "c1"])]);
    tree.assert_walks(&agent, Some(1), &[ns("acme", &["agent-1"])]);
    assert_invariants(&tree.store);
}

#[test]
fn cut_groups_beside_longer_sibling_names_are_each_listed_once() {
    let tenant = prefix("t", &[]);
    // `t:a-x` renders before `t:a:b`, the first namespace of group `t:a`.
    let tree = Tree::new(&[ns("t", &["a-x"]), ns("t", &["a", "b"])], &[]);
    tree.assert_walks(&tenant, Some(1), &[ns("t", &["a-x"]), ns("t", &["a"])]);
    // With the group's own namespace stored, the group comes first.
    let live = [ns("t", &["a"]), ns("t", &["a-x"]), ns("t", &["a", "b"])];
    let tree = Tree::new(&live, &[]);
    tree.assert_walks(&tenant, Some(1), &[ns("t", &["a"]), ns("t", &["a-x"])]);
    // Deeper, and with the group's own namespace expired.
    let live = [
        ns("t", &["a", "b0"]),
        ns("t", &["a", "b", "c"]),
        ns("t", &["a0"]),
    ];
    let tree = Tree::new(&live, &[ns("t", &["a", "b"])]);
    let two = [
        ns("t", &["a0"]),
        ns("t", &["a", "b"]),
        ns("t", &["a", "b0"]),
    ];
    tree.assert_walks(&tenant, Some(2), &two);
    tree.assert_model(&tenant, Some(1));
    assert_invariants(&tree.store);
}

// ── the model, on random trees ──────────────────────────────────────────────

/// Characters that stress escaping and order: the separator and the escape,
/// characters sorting just below and above them, NUL, a multibyte one.
const ALPHABET: &[char] = &[':', '\\', '-', '\0', 'é', 'a', ';', '0'];

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..=2)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Tenant names: `a`, `a-`, `a:`, … (a longer name sorts among the
/// rendered namespaces of a shorter one).
const TENANT_CHARS: &[char] = &['a', '-', ':', 'é'];

fn tenant_name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TENANT_CHARS), 1..=2)
        .prop_map(|chars| chars.into_iter().collect())
}

/// A stored namespace: tenant, scope, and whether its row is live.
fn stored() -> impl Strategy<Value = (String, Vec<String>, bool)> {
    (
        tenant_name(),
        prop::collection::vec(segment(), 0..=3),
        prop::bool::weighted(0.8),
    )
}

/// A query: which stored namespace to take a prefix of and how many of its
/// segments to keep, a depth, a page size.
fn query() -> impl Strategy<Value = (usize, usize, Option<usize>, usize)> {
    (
        any::<usize>(),
        0usize..=3,
        prop::option::of(0usize..=3),
        1usize..=4,
    )
}

fn build(tenant: &str, scope: &[String]) -> Namespace {
    scope
        .iter()
        .fold(Namespace::new(t(tenant)), |n, s| n.with_scope(s.clone()))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Beside the other suites' seeds (this file lives in a folder, where
        // proptest's default cannot place them).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/beyond_trait_namespaces.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn namespace_pages_match_the_model(
        spaces in prop::collection::vec(stored(), 1..12),
        queries in prop::collection::vec(query(), 1..8),
    ) {
        let live: Vec<Namespace> =
            spaces.iter().filter(|s| s.2).map(|(t, s, _)| build(t, s)).collect();
        let dead: Vec<Namespace> =
            spaces.iter().filter(|s| !s.2).map(|(t, s, _)| build(t, s)).collect();
        let tree = Tree::new(&live, &dead);
        for (pick, keep, depth, limit) in queries {
            let (tenant, scope, _) = &spaces[pick % spaces.len()];
            let keep = keep.min(scope.len());
            let p = scope[..keep]
                .iter()
                .fold(NamespacePrefix::new(t(tenant)), |p, s| p.with_scope(s.clone()));
            let expected = tree.model(&p, depth);
            let got = walk(&tree.store, &p, depth, limit);
            prop_assert_eq!(
                renders(&got), renders(&expected),
                "prefix {:?}, depth {:?}, limit {}", p, depth, limit
            );
            prop_assert_eq!(got, expected);
        }
        prop_assert_eq!(tree.store.check_invariants(), Ok(()));
    }
}
