//! Adversarial tenants, scopes and keys on a real server: rows of different
//! `(tenant, scope, key)` triples never read each other, list each other's
//! keys, or show up in each other's `list_namespaces`.

use std::collections::{BTreeMap, BTreeSet};

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, Store};
use proptest::prelude::*;
use skipstore::redis::RedisStore;

use super::fixture;

/// Separators, escapes and escape-looking pieces of our layout and of
/// entelix's, globs, braces, NUL, non-ASCII.
fn text(min: usize) -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        ":",
        "\\",
        "*",
        "?",
        "[",
        "]",
        "{",
        "}",
        "\0",
        "\\k",
        "\\n",
        "\\:",
        "\\)",
        "a",
        "é",
        "}{",
        "entelix:store:",
        "%",
        "_",
    ]);
    prop::collection::vec(piece, min..4).prop_map(|p| p.concat())
}

type Triple = (String, Vec<String>, String);

fn triple() -> impl Strategy<Value = Triple> {
    // Few distinct tenants so that triples often share one.
    let tenant = prop_oneof![Just("a".to_owned()), Just("a:".to_owned()), text(1)];
    (tenant, prop::collection::vec(text(0), 0..3), text(0))
}

fn namespace(tenant: &str, scope: &[String]) -> Namespace {
    scope
        .iter()
        .fold(Namespace::new(TenantId::new(tenant)), |ns, s| {
            ns.with_scope(s)
        })
}

async fn check(store: &RedisStore<usize>, triples: &[Triple]) -> Result<(), TestCaseError> {
    let ctx = ExecutionContext::new();
    // The model: the last write of each triple wins.
    let mut model: BTreeMap<(String, Vec<String>), BTreeMap<String, usize>> = BTreeMap::new();
    for (i, (t, scope, key)) in triples.iter().enumerate() {
        store
            .put(&ctx, &namespace(t, scope), key, i)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        model
            .entry((t.clone(), scope.clone()))
            .or_default()
            .insert(key.clone(), i);
    }
    let fail = |e: entelix_core::Error| TestCaseError::fail(e.to_string());
    for ((t, scope), rows) in &model {
        let ns = namespace(t, scope);
        for (key, value) in rows {
            prop_assert_eq!(store.get(&ctx, &ns, key).await.map_err(fail)?, Some(*value));
        }
        let keys: Vec<String> = rows.keys().cloned().collect();
        prop_assert_eq!(store.list(&ctx, &ns, None).await.map_err(fail)?, keys);
    }
    let tenants: BTreeSet<&String> = model.keys().map(|(t, _)| t).collect();
    for t in tenants {
        let mut expected: Vec<Namespace> = model
            .keys()
            .filter(|(mt, _)| mt == t)
            .map(|(mt, scope)| namespace(mt, scope))
            .collect();
        expected.sort_by_key(Namespace::render);
        let prefix = NamespacePrefix::new(TenantId::new(t));
        prop_assert_eq!(
            store.list_namespaces(&ctx, &prefix).await.map_err(fail)?,
            expected
        );
    }
    // A triple never written reads as absent, whatever it shares with others.
    for (t, scope, key) in triples {
        let probe = format!("{key}\u{1}");
        prop_assert_eq!(
            store
                .get(&ctx, &namespace(t, scope), &probe)
                .await
                .map_err(fail)?,
            None
        );
    }
    Ok(())
}

#[test]
fn adversarial_triples_never_meet() {
    let server = fixture::server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = ProptestConfig::with_cases(96);
    proptest!(config, |(triples in prop::collection::vec(triple(), 1..10))| {
        runtime.block_on(async {
            let store = fixture::store::<usize>(&server).await;
            check(&store, &triples).await
        })?;
    });
}
