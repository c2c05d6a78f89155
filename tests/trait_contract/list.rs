//! List.

use super::*;

#[tokio::test]
async fn list_returns_sorted_keys() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let keys = ["zeta", "alpha", "", "Beta", "alpha2", "é", "a:b", "\0", "m"];
    for k in keys {
        store.put(&ctx, &ns(), k, 0).await?;
    }
    let mut expected: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    expected.sort();
    assert_eq!(store.list(&ctx, &ns(), None).await?, expected);
    assert_eq!(store.list(&ctx, &ns(), Some("")).await?, expected);
    Ok(())
}

#[tokio::test]
async fn list_prefixes_are_literal() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let ns = ns();
    let keys = [
        "a*b", "a?c", "a%d", "a_e", "a[f]", "abc", "aXb", "a.b", "a\\b", "a^b", "a", "b*",
    ];
    for k in keys {
        store.put(&ctx, &ns, k, 0).await?;
    }
    for (prefix, expected) in [
        ("a*", vec!["a*b"]),
        ("a?", vec!["a?c"]),
        ("a%", vec!["a%d"]),
        ("a_", vec!["a_e"]),
        ("a[", vec!["a[f]"]),
        ("a[f", vec!["a[f]"]),
        ("a.", vec!["a.b"]),
        ("a\\", vec!["a\\b"]),
        ("a^", vec!["a^b"]),
        ("*", vec![]),
        ("%", vec![]),
        ("_", vec![]),
        ("?", vec![]),
        ("[", vec![]),
        ("b", vec!["b*"]),
        ("a*bc", vec![]),
        ("abc", vec!["abc"]),
        ("abcd", vec![]),
    ] {
        assert_eq!(
            store.list(&ctx, &ns, Some(prefix)).await?,
            expected,
            "prefix {prefix:?}"
        );
    }
    let mut all: Vec<&str> = keys.to_vec();
    all.retain(|k| k.starts_with('a'));
    all.sort_unstable();
    assert_eq!(store.list(&ctx, &ns, Some("a")).await?, all);
    Ok(())
}

#[tokio::test]
async fn list_hides_expired_keys_and_unknown_namespaces_are_empty() -> Result<()> {
    let (clock, store) = manual::<u8>();
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "a", 0).await?;
    store
        .put_with_options(&ctx, &ns, "b", 0, ttl(ms(1)))
        .await?;
    store.put(&ctx, &ns, "c", 0).await?;
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "b", "c"]);
    clock.advance(ms(1));
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "c"]);
    assert_eq!(
        store.list(&ctx, &ns, Some("b")).await?,
        Vec::<String>::new()
    );
    let unknown = Namespace::new(t("nobody"));
    assert!(store.list(&ctx, &unknown, None).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_child_namespace_never_shows_in_its_parents_list() -> Result<()> {
    let store: SkipStore<u8> = SkipStore::new();
    let ctx = ctx();
    let tenant = Namespace::new(t("acme"));
    let parent = tenant.clone().with_scope("agent-a");
    let child = parent.clone().with_scope("conv-1");
    let empty_child = parent.clone().with_scope("");
    store.put(&ctx, &tenant, "t", 0).await?;
    store.put(&ctx, &parent, "p", 0).await?;
    store.put(&ctx, &child, "c", 0).await?;
    store.put(&ctx, &empty_child, "e", 0).await?;
    assert_eq!(store.list(&ctx, &tenant, None).await?, vec!["t"]);
    assert_eq!(store.list(&ctx, &parent, None).await?, vec!["p"]);
    assert_eq!(store.list(&ctx, &child, None).await?, vec!["c"]);
    assert_eq!(store.list(&ctx, &empty_child, None).await?, vec!["e"]);
    assert_eq!(store.get(&ctx, &parent, "c").await?, None);
    assert_eq!(store.get(&ctx, &child, "p").await?, None);
    Ok(())
}

/// A key containing `:` must not be confused with a namespace segment: the
/// naive "rendered namespace + ':' + key" flattening would collide here.
#[tokio::test]
async fn keys_containing_colons_never_bleed() -> Result<()> {
    let store: SkipStore<String> = SkipStore::new();
    let ctx = ctx();
    let parent = Namespace::new(t("acme")).with_scope("agent-a");
    let child = parent.clone().with_scope("conv-1");
    let tenant_a = Namespace::new(t("a"));
    let tenant_a_b = Namespace::new(t("a")).with_scope("b");
    let tenant_colon = Namespace::new(t("a:b"));
    store
        .put(&ctx, &parent, "conv-1:k", "parent".into())
        .await?;
    store.put(&ctx, &child, "k", "child".into()).await?;
    store.put(&ctx, &tenant_a, "b:c", "a".into()).await?;
    store.put(&ctx, &tenant_a_b, "c", "a/b".into()).await?;
    store.put(&ctx, &tenant_colon, "c", "a:b".into()).await?;
    store
        .put(&ctx, &tenant_a, "b\\:c", "escaped".into())
        .await?;

    assert_eq!(store.list(&ctx, &parent, None).await?, vec!["conv-1:k"]);
    assert_eq!(store.list(&ctx, &child, None).await?, vec!["k"]);
    assert_eq!(
        store.list(&ctx, &tenant_a, None).await?,
        vec!["b:c", "b\\:c"]
    );
    assert_eq!(store.list(&ctx, &tenant_a_b, None).await?, vec!["c"]);
    assert_eq!(store.list(&ctx, &tenant_colon, None).await?, vec!["c"]);
    assert_eq!(
        store.list(&ctx, &parent, Some("conv-1")).await?,
        vec!["conv-1:k"]
    );
    assert_eq!(store.get(&ctx, &child, "conv-1:k").await?, None);
    assert_eq!(store.get(&ctx, &parent, "k").await?, None);
    assert_eq!(store.get(&ctx, &tenant_a_b, "b:c").await?, None);
    assert_eq!(
        store.get(&ctx, &tenant_colon, "c").await?.as_deref(),
        Some("a:b")
    );
    // The tenant "a" holds keys only in itself and in "a"/"b".
    let under_a = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("a")))
        .await?;
    assert_eq!(under_a, vec![tenant_a.clone(), tenant_a_b.clone()]);
    Ok(())
}
