//! `list_namespaces` is a range scan over rendered namespaces; it must agree
//! with the structural truth, `NamespacePrefix::matches`, for every input,
//! including segments that are empty or contain `:`, `\`, `-`, NUL or
//! multibyte characters, and return each match once, sorted by
//! `Namespace::render`.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::collections::BTreeMap;
use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use proptest::prelude::*;
use skipstore::{ManualClock, SkipStore};

/// Characters that stress the escaping and the order: the separator, the
/// escape, characters sorting just below and above `:` and `\`, NUL, and a
/// multibyte character.
const ALPHABET: &[char] = &[':', '\\', '-', '\0', 'é', 'a', ';', ']'];

fn segment(max_len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..=max_len)
        .prop_map(|chars| chars.into_iter().collect())
}

fn tenant() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 1..=2)
        .prop_map(|chars| chars.into_iter().collect())
}

fn namespace() -> impl Strategy<Value = (String, Vec<String>)> {
    (tenant(), prop::collection::vec(segment(2), 0..4))
}

fn build_ns(tenant: &str, scope: &[String]) -> Namespace {
    scope
        .iter()
        .fold(Namespace::new(TenantId::new(tenant)), |ns, s| {
            ns.with_scope(s.clone())
        })
}

fn build_prefix(tenant: &str, scope: &[String]) -> NamespacePrefix {
    scope
        .iter()
        .fold(NamespacePrefix::new(TenantId::new(tenant)), |p, s| {
            p.with_scope(s.clone())
        })
}

/// A prefix to query: either a truncation of a stored namespace (so that
/// queries hit), or an independent random one.
#[derive(Debug, Clone)]
enum PrefixSpec {
    Of { index: usize, keep: usize },
    Random { tenant: String, scope: Vec<String> },
}

fn prefix_spec() -> impl Strategy<Value = PrefixSpec> {
    prop_oneof![
        3 => (any::<usize>(), 0usize..4).prop_map(|(index, keep)| PrefixSpec::Of { index, keep }),
        2 => (tenant(), prop::collection::vec(segment(2), 0..3))
            .prop_map(|(tenant, scope)| PrefixSpec::Random { tenant, scope }),
    ]
}

fn resolve(spec: &PrefixSpec, stored: &[(String, Vec<String>, bool)]) -> NamespacePrefix {
    match spec {
        PrefixSpec::Of { index, keep } => {
            let (tenant, scope, _) = &stored[index % stored.len()];
            build_prefix(tenant, &scope[..(*keep).min(scope.len())])
        }
        PrefixSpec::Random { tenant, scope } => build_prefix(tenant, scope),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().unwrap();
    }
    RT.with(|rt| rt.block_on(f))
}

/// What `list_namespaces(prefix)` must return: the live namespaces that
/// `prefix` matches, each once, sorted by rendered form.
fn expected(live: &BTreeMap<String, Namespace>, prefix: &NamespacePrefix) -> Vec<Namespace> {
    // The map is keyed by rendered form, so iteration is already sorted.
    live.values()
        .filter(|ns| prefix.matches(ns))
        .cloned()
        .collect()
}

fn check_all(
    store: &SkipStore<u32>,
    live: &BTreeMap<String, Namespace>,
    prefixes: &[NamespacePrefix],
) -> Result<(), TestCaseError> {
    let ctx = ExecutionContext::new();
    for prefix in prefixes {
        let got = block_on(store.list_namespaces(&ctx, prefix)).unwrap();
        prop_assert_eq!(got, expected(live, prefix), "prefix {:?}", prefix);
    }
    // Every namespace's own prefix finds at least itself.
    for ns in live.values() {
        let got = block_on(store.list_namespaces(&ctx, &NamespacePrefix::from(ns))).unwrap();
        prop_assert_eq!(got.first(), Some(ns));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One key per namespace; some namespaces hold only an already-expired
    /// row. Then half of the live ones are emptied by delete, and the check
    /// runs again.
    #[test]
    fn list_namespaces_agrees_with_prefix_matches(
        spaces in prop::collection::vec((namespace(), prop::bool::weighted(0.8)), 1..16),
        specs in prop::collection::vec(prefix_spec(), 1..12),
        deletions in prop::collection::vec(any::<bool>(), 16),
    ) {
        let clock = ManualClock::new();
        let store: SkipStore<u32> = SkipStore::builder().clock(clock).build();
        let ctx = ExecutionContext::new();
        let stored: Vec<(String, Vec<String>, bool)> = spaces
            .into_iter()
            .map(|((tenant, scope), live)| (tenant, scope, live))
            .collect();
        let mut live: BTreeMap<String, Namespace> = BTreeMap::new();
        for (i, (tenant, scope, is_live)) in stored.iter().enumerate() {
            let ns = build_ns(tenant, scope);
            let key = format!("k{i}");
            if *is_live {
                block_on(store.put(&ctx, &ns, &key, 0)).unwrap();
                live.insert(ns.render(), ns);
            } else {
                let opts = PutOptions::default().with_ttl(Duration::ZERO);
                block_on(store.put_with_options(&ctx, &ns, &key, 0, opts)).unwrap();
            }
        }
        let prefixes: Vec<NamespacePrefix> = specs.iter().map(|s| resolve(s, &stored)).collect();
        check_all(&store, &live, &prefixes)?;

        // Empty some namespaces (all their keys), then check again.
        for (i, (tenant, scope, _)) in stored.iter().enumerate() {
            if deletions[i % deletions.len()] {
                let ns = build_ns(tenant, scope);
                block_on(store.delete(&ctx, &ns, &format!("k{i}"))).unwrap();
            }
        }
        live.clear();
        for (i, (tenant, scope, is_live)) in stored.iter().enumerate() {
            if *is_live && !deletions[i % deletions.len()] {
                let ns = build_ns(tenant, scope);
                live.insert(ns.render(), ns);
            }
        }
        check_all(&store, &live, &prefixes)?;
    }
}

/// Hand-picked neighbours in rendered order that a textual prefix test on
/// the rendered strings could confuse.
#[test]
fn escaped_neighbours_are_told_apart() {
    let spaces: Vec<Namespace> = vec![
        build_ns("a", &[]),
        build_ns("a", &[String::new()]),
        build_ns("a", &[String::new(), String::new()]),
        build_ns("a", &[":".into()]),
        build_ns("a", &["\\".into()]),
        build_ns("a:", &[]),
        build_ns("a\\", &[]),
        build_ns("a\\", &[":".into()]),
        build_ns("a\\:", &[]),
        build_ns("a-", &[]),
        build_ns("a\0", &[]),
        build_ns("aé", &[]),
        build_ns("a", &["b".into(), "c".into()]),
        build_ns("a", &["b:c".into()]),
        build_ns("a", &["b\\".into(), "c".into()]),
        build_ns("a", &["b\\:c".into()]),
    ];
    let store: SkipStore<u32> = SkipStore::new();
    let ctx = ExecutionContext::new();
    let mut live = BTreeMap::new();
    for ns in &spaces {
        block_on(store.put(&ctx, ns, "k", 0)).unwrap();
        live.insert(ns.render(), ns.clone());
    }
    let mut prefixes: Vec<NamespacePrefix> = spaces.iter().map(NamespacePrefix::from).collect();
    prefixes.push(build_prefix("a", &["b".into()]));
    prefixes.push(build_prefix("a", &["b\\".into()]));
    prefixes.push(build_prefix("a", &[String::new(), ":".into()]));
    for prefix in &prefixes {
        let got = block_on(store.list_namespaces(&ctx, prefix)).unwrap();
        assert_eq!(got, expected(&live, prefix), "prefix {prefix:?}");
    }
    // Each namespace lists exactly its own key.
    for ns in &spaces {
        assert_eq!(block_on(store.list(&ctx, ns, None)).unwrap(), vec!["k"]);
    }
}
