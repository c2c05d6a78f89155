//! A first end-to-end check through the trait.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{ManualClock, SkipStore};

#[tokio::test]
async fn smoke() {
    let clock = ManualClock::new();
    let store: SkipStore<String> = SkipStore::builder().clock(clock.clone()).build();
    let ctx = ExecutionContext::new();
    let a = Namespace::new(TenantId::new("acme")).with_scope("agent-a");
    let b = a.clone().with_scope("conv-1");
    store.put(&ctx, &a, "k", "v".into()).await.unwrap();
    store.put(&ctx, &b, "k2", "v2".into()).await.unwrap();
    store
        .put_with_options(
            &ctx,
            &a,
            "t",
            "x".into(),
            PutOptions::default().with_ttl(Duration::from_millis(5)),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(&ctx, &a, "k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(store.list(&ctx, &a, None).await.unwrap(), vec!["k", "t"]);
    let p = NamespacePrefix::new(TenantId::new("acme"));
    assert_eq!(
        store.list_namespaces(&ctx, &p).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    clock.advance(Duration::from_millis(5));
    assert_eq!(store.get(&ctx, &a, "t").await.unwrap(), None);
    assert_eq!(store.total_entries(), 3);
    assert_eq!(store.evict_expired(&ctx).await.unwrap(), 1);
    assert_eq!(store.total_entries(), 2);
    store.delete(&ctx, &b, "k2").await.unwrap();
    assert_eq!(
        store.list_namespaces(&ctx, &p).await.unwrap(),
        vec![a.clone()]
    );
    assert_eq!(store.stats().namespaces, 1);
}
