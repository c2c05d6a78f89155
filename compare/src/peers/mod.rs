//! The peers: `Store<V>` adapters over the concurrent maps a host would
//! reach for instead of skipstore (the command measures them as
//! `Store<String>`, as it does skipstore), each written the way a competent user
//! would write it in an afternoon, and each held to the same contract as
//! `SkipStore` (the trait-contract suite runs against all three).
//!
//! | peer | points | listings | TTL |
//! |---|---|---|---|
//! | [`MokaStore`] | moka's sync `Cache` | a scan of the whole cache, sorted | moka's `Expiry`, plus a swept deadline heap |
//! | [`DashMapStore`] | a `DashMap` | a scan of the whole map, sorted | a stored deadline, swept by `retain` |
//! | [`SccStore`] | scc's `HashMap` | scc's `TreeIndex`, ordered by namespace then key | a stored deadline, swept by `retain` |
//!
//! What they share lives here: the row key (the rendered namespace and the
//! key, as a pair, so a key holding `:` never meets a child namespace), the
//! row with its deadline, and the namespace listing's structural match.

mod dashmap;
mod moka;
mod scc;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use entelix_core::Result;
use entelix_memory::{Namespace, NamespacePrefix};

pub use self::dashmap::DashMapStore;
pub use self::moka::MokaStore;
pub use self::scc::SccStore;

/// A row's identity: the namespace as [`Namespace::render`] writes it, then
/// the key. Kept as a pair rather than one joined string: the rendered form
/// escapes `:` inside segments, but a key may hold `:` too, and
/// `render(ns) + ":" + key` would let `(acme/x, "y:z")` meet `(acme/x/y, "z")`.
/// Ordered as a pair, rows sort by namespace and then by key.
pub(crate) type RowKey = (String, String);

/// The key of `key` in `ns`.
pub(crate) fn row_key(ns: &Namespace, key: &str) -> RowKey {
    (ns.render(), key.to_owned())
}

/// A stored value and the instant it stops being readable, if any.
#[derive(Clone, Debug)]
pub(crate) struct Row<V> {
    pub(crate) value: V,
    pub(crate) expires_at: Option<Instant>,
}

impl<V> Row<V> {
    /// A row written at `now` with `ttl`. A TTL too long to add to `now`
    /// (`Duration::MAX`) never expires; `Duration::ZERO` is expired at once.
    pub(crate) fn new(value: V, ttl: Option<Duration>, now: Instant) -> Self {
        Self {
            value,
            expires_at: ttl.and_then(|ttl| now.checked_add(ttl)),
        }
    }

    /// Whether the row is readable at `now` (live until its deadline, not at
    /// it: the baseline's rule).
    pub(crate) fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|deadline| deadline > now)
    }
}

/// Whether `key` falls under the literal `prefix` (every key when `None`).
pub(crate) fn has_prefix(key: &str, prefix: Option<&str>) -> bool {
    prefix.is_none_or(|p| key.starts_with(p))
}

/// The namespaces among `rendered` (distinct rendered forms, in order) that
/// fall under `prefix`, parsed back and matched structurally, as
/// [`NamespacePrefix::matches`] does: a textual prefix match would take
/// tenant `acme2` for `acme`.
pub(crate) fn namespaces_under(
    rendered: BTreeSet<String>,
    prefix: &NamespacePrefix,
) -> Result<Vec<Namespace>> {
    let mut found = Vec::new();
    for text in rendered {
        let ns = Namespace::parse(&text)?;
        if prefix.matches(&ns) {
            found.push(ns);
        }
    }
    Ok(found)
}

/// The rendered form every namespace under `prefix` starts with, as a
/// string: escaping is per segment, so a namespace under the prefix renders
/// to the prefix's rendering followed by more segments (or nothing).
pub(crate) fn rendered_prefix(prefix: &NamespacePrefix) -> String {
    let mut ns = Namespace::new(prefix.tenant_id().clone());
    for segment in prefix.scope() {
        ns = ns.with_scope(segment.clone());
    }
    ns.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use entelix_core::TenantId;

    #[test]
    fn rows_expire_at_their_deadline_and_never_past_the_clock() {
        let now = Instant::now();
        let zero = Row::new((), Some(Duration::ZERO), now);
        assert!(!zero.is_live(now));
        let max = Row::new((), Some(Duration::MAX), now);
        assert!(max.expires_at.is_none() && max.is_live(now));
        let short = Row::new((), Some(Duration::from_millis(5)), now);
        assert!(short.is_live(now + Duration::from_millis(4)));
        assert!(!short.is_live(now + Duration::from_millis(5)));
        assert!(Row::new((), None, now).is_live(now + Duration::from_secs(1 << 40)));
    }

    #[test]
    fn namespaces_match_structurally() {
        let acme = Namespace::new(TenantId::new("acme"));
        let rendered: BTreeSet<String> = [
            acme.clone().with_scope("a").render(),
            acme.clone().with_scope("a:b").render(),
            Namespace::new(TenantId::new("acme2")).render(),
            Namespace::new(TenantId::new("acme:x")).render(),
            acme.render(),
        ]
        .into_iter()
        .collect();
        let prefix = NamespacePrefix::new(TenantId::new("acme"));
        let found = namespaces_under(rendered.clone(), &prefix).expect("rendered forms parse");
        assert_eq!(found.len(), 3, "{found:?}");
        let under_a = namespaces_under(rendered, &prefix.clone().with_scope("a"))
            .expect("rendered forms parse");
        assert_eq!(under_a, vec![acme.with_scope("a")]);
        assert_eq!(rendered_prefix(&prefix.with_scope("x:y")), "acme:x\\:y");
    }
}
