//! Ported: entelix-memory 0.6.1 tests/namespace_collision.rs.

use super::*;

#[tokio::test]
async fn store_isolates_distinct_tenants_under_identical_scope() {
    let store: Arc<dyn Store<String>> = Arc::new(SkipStore::<String>::new());
    let ctx = ctx();
    let acme = Namespace::new(t("acme")).with_scope("session-42");
    let beta = Namespace::new(t("beta")).with_scope("session-42");
    store
        .put(&ctx, &acme, "msg", "acme private".to_owned())
        .await
        .unwrap();
    store
        .put(&ctx, &beta, "msg", "beta private".to_owned())
        .await
        .unwrap();
    assert_eq!(
        store.get(&ctx, &acme, "msg").await.unwrap().as_deref(),
        Some("acme private"),
    );
    assert_eq!(
        store.get(&ctx, &beta, "msg").await.unwrap().as_deref(),
        Some("beta private"),
    );
    let leaked_to_beta = store
        .get(&ctx, &beta, "non-existent-in-beta-but-present-in-acme")
        .await
        .unwrap();
    assert!(leaked_to_beta.is_none());
    assert_eq!(store.list(&ctx, &acme, None).await.unwrap(), vec!["msg"]);
    assert_eq!(store.list(&ctx, &beta, None).await.unwrap(), vec!["msg"]);
    store.delete(&ctx, &acme, "msg").await.unwrap();
    assert!(store.get(&ctx, &acme, "msg").await.unwrap().is_none());
    assert_eq!(
        store.get(&ctx, &beta, "msg").await.unwrap().as_deref(),
        Some("beta private"),
        "delete on tenant A must not touch tenant B",
    );
}

#[tokio::test]
async fn store_isolates_colon_bearing_segments_via_escaping() {
    let store: Arc<dyn Store<String>> = Arc::new(SkipStore::<String>::new());
    let ctx = ctx();
    let a = Namespace::new(t("t:1")).with_scope("a:b");
    let b = Namespace::new(t("t")).with_scope("1:a:b");
    assert_ne!(a.render(), b.render());
    store.put(&ctx, &a, "k", "from-a".to_owned()).await.unwrap();
    store.put(&ctx, &b, "k", "from-b".to_owned()).await.unwrap();
    assert_eq!(
        store.get(&ctx, &a, "k").await.unwrap().as_deref(),
        Some("from-a")
    );
    assert_eq!(
        store.get(&ctx, &b, "k").await.unwrap().as_deref(),
        Some("from-b")
    );
    // Neither is under the other's tenant.
    let under_t = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("t")))
        .await
        .unwrap();
    assert_eq!(under_t, vec![b]);
    let under_t1 = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("t:1")))
        .await
        .unwrap();
    assert_eq!(under_t1, vec![a]);
}
