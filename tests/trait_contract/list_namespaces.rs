//! List_namespaces.

use super::*;

#[tokio::test]
async fn list_namespaces_is_sorted_by_rendered_form_and_deduplicated() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let acme = || Namespace::new(t("acme"));
    let spaces = vec![
        acme().with_scope("zeta"),
        acme(),
        acme().with_scope("a:b"),
        acme().with_scope("a").with_scope("b"),
        acme().with_scope(""),
        acme().with_scope("a\\"),
        acme().with_scope("a-b"),
        acme().with_scope("\0"),
        acme().with_scope("é"),
        acme().with_scope("a"),
    ];
    for ns in &spaces {
        for k in ["x", "y", "z"] {
            store.put(&ctx, ns, k, 0).await?;
        }
    }
    // Other tenants that share a textual prefix with "acme".
    store.put(&ctx, &Namespace::new(t("acme2")), "k", 0).await?;
    store.put(&ctx, &Namespace::new(t("acm")), "k", 0).await?;
    store
        .put(&ctx, &Namespace::new(t("acme:x")), "k", 0)
        .await?;
    store
        .put(&ctx, &Namespace::new(t("acme\\")), "k", 0)
        .await?;

    let mut expected = spaces.clone();
    expected.sort_by_key(Namespace::render);
    let found = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
        .await?;
    assert_eq!(found, expected);

    let under_a = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")).with_scope("a"))
        .await?;
    assert_eq!(
        under_a,
        vec![
            acme().with_scope("a"),
            acme().with_scope("a").with_scope("b")
        ]
    );
    let under_empty = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")).with_scope(""))
        .await?;
    assert_eq!(under_empty, vec![acme().with_scope("")]);
    let none = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("nobody")))
        .await?;
    assert!(none.is_empty());
    Ok(())
}

#[tokio::test]
async fn list_namespaces_lists_only_namespaces_with_a_live_entry() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let acme = || Namespace::new(t("acme"));
    let expired_only = acme().with_scope("expired-only");
    let mixed = acme().with_scope("mixed");
    let emptied = acme().with_scope("emptied");
    let permanent = acme().with_scope("permanent");
    let later = acme().with_scope("later");
    store
        .put_with_options(&ctx, &expired_only, "a", 0, ttl(ms(1)))
        .await?;
    store
        .put_with_options(&ctx, &expired_only, "b", 0, ttl(ms(2)))
        .await?;
    store
        .put_with_options(&ctx, &mixed, "a", 0, ttl(ms(1)))
        .await?;
    store.put(&ctx, &mixed, "z", 0).await?;
    store.put(&ctx, &emptied, "a", 0).await?;
    store.delete(&ctx, &emptied, "a").await?;
    store.put(&ctx, &permanent, "a", 0).await?;
    store
        .put_with_options(&ctx, &later, "a", 0, ttl(ms(100)))
        .await?;
    let prefix = NamespacePrefix::new(t("acme"));
    let mut all = vec![
        expired_only.clone(),
        mixed.clone(),
        permanent.clone(),
        later.clone(),
    ];
    all.sort_by_key(Namespace::render);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, all);

    clock.advance(ms(2));
    // Before any sweep: the expired-only namespace is already gone.
    let mut live = vec![mixed.clone(), permanent.clone(), later.clone()];
    live.sort_by_key(Namespace::render);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, live);
    assert_eq!(store.evict_expired(&ctx).await?, 3);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, live);

    // Refill the emptied namespace and the expired one.
    store.put(&ctx, &emptied, "b", 0).await?;
    store.put(&ctx, &expired_only, "c", 0).await?;
    clock.advance(ms(100));
    let mut now_live = vec![mixed, permanent, emptied, expired_only];
    now_live.sort_by_key(Namespace::render);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, now_live);
    Ok(())
}
