//! `list`: sorted, confined to its namespace, with a literal prefix, live
//! rows only.

use entelix_memory::{Namespace, NamespacePrefix};

use crate::support::{LONG, PAST_SHORT, SHORT, ctx, ns, sorted, t, ttl};
use crate::{CaseResult, Harness};

/// Keys come back in byte order, whatever order they were written in, with
/// `None` and `Some("")` alike.
pub async fn list_returns_sorted_keys<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let keys = ["zeta", "alpha", "", "Beta", "alpha2", "é", "a:b", "\0", "m"];
    for k in keys {
        store.put(&ctx, &ns(), k, 0).await?;
    }
    let expected = sorted(&keys);
    assert_eq!(store.list(&ctx, &ns(), None).await?, expected);
    assert_eq!(store.list(&ctx, &ns(), Some("")).await?, expected);
    Ok(())
}

/// Glob and SQL `LIKE` metacharacters in a prefix match themselves only.
pub async fn list_prefixes_are_literal<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
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
    assert_eq!(store.list(&ctx, &ns, Some("a")).await?, sorted(&all));
    Ok(())
}

/// An expired row leaves the listing before any sweep; a namespace nobody
/// wrote to lists nothing.
pub async fn list_hides_expired_keys_and_unknown_namespaces_are_empty<H: Harness>(
    h: &H,
) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let ns = ns();
    store.put(&ctx, &ns, "a", 0).await?;
    store.put_with_options(&ctx, &ns, "b", 0, ttl(LONG)).await?;
    store.put(&ctx, &ns, "c", 0).await?;
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "b", "c"]);
    store
        .put_with_options(&ctx, &ns, "b", 0, ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    assert_eq!(store.list(&ctx, &ns, None).await?, vec!["a", "c"]);
    assert_eq!(
        store.list(&ctx, &ns, Some("b")).await?,
        Vec::<String>::new()
    );
    let unknown = Namespace::new(t("nobody"));
    assert!(store.list(&ctx, &unknown, None).await?.is_empty());
    Ok(())
}

/// A parent's listing holds its own keys only, not its children's (nor the
/// child whose scope segment is empty).
pub async fn a_child_namespace_never_shows_in_its_parents_list<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<u8>().await?;
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

/// A key containing `:` is not a namespace segment: the naive "rendered
/// namespace + ':' + key" flattening would collide here.
pub async fn keys_containing_colons_never_bleed<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
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
    assert_eq!(
        store.get(&ctx, &tenant_a, "b\\:c").await?.as_deref(),
        Some("escaped")
    );
    // The tenant "a" holds keys only in itself and in "a"/"b".
    let under_a = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("a")))
        .await?;
    assert_eq!(under_a, vec![tenant_a, tenant_a_b]);
    Ok(())
}
