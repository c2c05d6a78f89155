//! `list_namespaces`: exactly the namespaces that hold a live row and that
//! the prefix matches, sorted by rendered form, each once, structurally equal
//! to the namespaces written.

use entelix_memory::{Namespace, NamespacePrefix};

use crate::support::{BATCH, LONG, PAST_BATCH, PAST_SHORT, SHORT, by_render, ctx, t, ttl};
use crate::{CaseResult, Harness};

/// entelix's `store.rs`: a prefix finds itself and its sub-scopes, not its
/// siblings.
pub async fn list_namespaces_finds_subscopes_under_prefix<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    let ns_a = Namespace::new(t("acme")).with_scope("agent-a");
    let ns_b = ns_a.clone().with_scope("conv-1");
    let ns_other = Namespace::new(t("acme")).with_scope("agent-b");
    store.put(&ctx, &ns_a, "k", "v".into()).await?;
    store.put(&ctx, &ns_b, "k", "v".into()).await?;
    store.put(&ctx, &ns_other, "k", "v".into()).await?;
    let prefix = NamespacePrefix::new(t("acme")).with_scope("agent-a");
    assert_eq!(
        store.list_namespaces(&ctx, &prefix).await?,
        vec![ns_a, ns_b]
    );
    Ok(())
}

/// entelix's `store.rs`: segments holding `:` and `\` come back intact.
pub async fn list_namespaces_recovers_escaped_segments<H: Harness>(h: &H) -> CaseResult {
    let store = h.store::<String>().await?;
    let ctx = ctx();
    let agent = Namespace::new(t("acme")).with_scope("agent-a");
    let ns_colon = agent.clone().with_scope("k8s:pod:foo");
    let ns_backslash = agent.with_scope("c:\\dir\\");
    store.put(&ctx, &ns_colon, "k", "v".into()).await?;
    store.put(&ctx, &ns_backslash, "k", "v".into()).await?;
    let prefix = NamespacePrefix::new(t("acme")).with_scope("agent-a");
    assert_eq!(
        store.list_namespaces(&ctx, &prefix).await?,
        by_render(vec![ns_colon, ns_backslash])
    );
    Ok(())
}

/// Awkward segments (empty, `:`, `\`, NUL, non-ASCII) sort by rendered form,
/// each namespace once however many rows it holds; tenants that merely share
/// a textual prefix with the prefix's tenant stay out.
pub async fn list_namespaces_is_sorted_by_rendered_form_and_deduplicated<H: Harness>(
    h: &H,
) -> CaseResult {
    let store = h.store::<u8>().await?;
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
    for tenant in ["acme2", "acm", "acme:x", "acme\\"] {
        store.put(&ctx, &Namespace::new(t(tenant)), "k", 0).await?;
    }
    let found = store
        .list_namespaces(&ctx, &NamespacePrefix::new(t("acme")))
        .await?;
    assert_eq!(found, by_render(spaces));

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
    assert!(none.is_empty(), "found {none:?}");
    Ok(())
}

/// A namespace whose rows have all expired (before any sweep) or been
/// deleted is not listed; writing to it again brings it back.
pub async fn list_namespaces_lists_only_namespaces_with_a_live_entry<H: Harness>(
    h: &H,
) -> CaseResult {
    let store = h.store::<u8>().await?;
    let ctx = ctx();
    let acme = || Namespace::new(t("acme"));
    let expired_only = acme().with_scope("expired-only");
    let mixed = acme().with_scope("mixed");
    let emptied = acme().with_scope("emptied");
    let permanent = acme().with_scope("permanent");
    let later = acme().with_scope("later");
    store
        .put_with_options(&ctx, &expired_only, "a", 0, ttl(LONG))
        .await?;
    store
        .put_with_options(&ctx, &expired_only, "b", 0, ttl(LONG))
        .await?;
    store
        .put_with_options(&ctx, &mixed, "a", 0, ttl(LONG))
        .await?;
    store.put(&ctx, &mixed, "z", 0).await?;
    store.put(&ctx, &emptied, "a", 0).await?;
    store.delete(&ctx, &emptied, "a").await?;
    store.put(&ctx, &permanent, "a", 0).await?;
    store
        .put_with_options(&ctx, &later, "a", 0, ttl(LONG))
        .await?;
    let prefix = NamespacePrefix::new(t("acme"));
    let all = by_render(vec![
        expired_only.clone(),
        mixed.clone(),
        permanent.clone(),
        later.clone(),
    ]);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, all);

    // The TTL'd rows of two namespaces are rewritten to expire, as one batch
    // since the sweep below counts them.
    for (ns, key) in [(&expired_only, "a"), (&expired_only, "b"), (&mixed, "a")] {
        store.put_with_options(&ctx, ns, key, 0, ttl(BATCH)).await?;
    }
    h.advance(PAST_BATCH).await;
    // Before any sweep: the expired-only namespace is already gone.
    let live = by_render(vec![mixed.clone(), permanent.clone(), later.clone()]);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, live);
    assert_eq!(store.evict_expired(&ctx).await?, 3);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, live);

    // Refill the emptied namespace and the expired one; `later` expires.
    store.put(&ctx, &emptied, "b", 0).await?;
    store.put(&ctx, &expired_only, "c", 0).await?;
    store
        .put_with_options(&ctx, &later, "a", 0, ttl(SHORT))
        .await?;
    h.advance(PAST_SHORT).await;
    let now_live = by_render(vec![mixed, permanent, emptied, expired_only]);
    assert_eq!(store.list_namespaces(&ctx, &prefix).await?, now_live);
    Ok(())
}
