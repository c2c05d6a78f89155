//! The reference model the differential target checks the store against:
//! rows keyed by `(rendered namespace, key)` in a `BTreeMap`, each with its
//! value, its expiry in clock nanoseconds, its sliding TTL if any, and the
//! version the store reported for its last versioned write, plus the model's
//! own time.
//!
//! Rendering uses entelix's `Namespace::render`, and namespace matching
//! entelix's `NamespacePrefix::matches`: the structural truth, independent of
//! the store's own rendering and range scans.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use entelix_memory::{Namespace, NamespacePrefix};
use skipstore::EntryVersion;

/// Expiry stamps are `u64` nanoseconds; `u64::MAX` is "never".
const NEVER: u64 = u64::MAX;

/// The store's rule: a TTL too long for the clock never expires; any other
/// expires, at the latest one tick before the end of time.
fn expiry_after(now: u64, ttl: Duration) -> u64 {
    match u64::try_from(ttl.as_nanos()) {
        Ok(n) if n != u64::MAX => now.saturating_add(n).min(NEVER - 1),
        _ => NEVER,
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) value: u32,
    expires_at: u64,
    /// Sliding: `(ttl nanos, cap)`.
    slide: Option<(u64, u64)>,
    pub(crate) version: Option<EntryVersion>,
}

#[derive(Default)]
pub(crate) struct StoreModel {
    rows: BTreeMap<(String, String), Row>,
    names: BTreeMap<String, Namespace>,
    /// Clock nanoseconds, as the store's `ManualClock` reads them.
    pub(crate) now: u64,
}

impl StoreModel {
    fn live(&self, row: &Row) -> bool {
        row.expires_at == NEVER || self.now < row.expires_at
    }

    fn id(ns: &Namespace, key: &str) -> (String, String) {
        (ns.render(), key.to_owned())
    }

    /// A plain or versioned write with an optional TTL.
    pub(crate) fn put(
        &mut self,
        ns: &Namespace,
        key: &str,
        value: u32,
        ttl: Option<Duration>,
        version: Option<EntryVersion>,
    ) {
        let expires_at = ttl.map_or(NEVER, |d| expiry_after(self.now, d));
        self.insert(
            ns,
            key,
            Row {
                value,
                expires_at,
                slide: None,
                version,
            },
        );
    }

    /// A sliding write.
    pub(crate) fn put_sliding(
        &mut self,
        ns: &Namespace,
        key: &str,
        value: u32,
        ttl: Duration,
        cap: Option<Duration>,
        version: EntryVersion,
    ) {
        let cap_at = expiry_after(self.now, cap.unwrap_or(Duration::MAX));
        // The cap bounds the first expiry too.
        let expires_at = expiry_after(self.now, ttl).min(cap_at);
        let slide = Some((nanos(ttl), cap_at));
        self.insert(
            ns,
            key,
            Row {
                value,
                expires_at,
                slide,
                version: Some(version),
            },
        );
    }

    fn insert(&mut self, ns: &Namespace, key: &str, row: Row) {
        let id = Self::id(ns, key);
        self.names.insert(id.0.clone(), ns.clone());
        self.rows.insert(id, row);
    }

    /// The live row, if any (no refresh).
    pub(crate) fn peek(&self, ns: &Namespace, key: &str) -> Option<&Row> {
        self.rows
            .get(&Self::id(ns, key))
            .filter(|row| self.live(row))
    }

    /// A read: the live row, its sliding expiry refreshed.
    pub(crate) fn read(&mut self, ns: &Namespace, key: &str) -> Option<Row> {
        let now = self.now;
        let id = Self::id(ns, key);
        let live = self.peek(ns, key).is_some();
        let row = self.rows.get_mut(&id).filter(|_| live)?;
        if let Some((ttl, cap)) = row.slide
            && row.expires_at != NEVER
        {
            let want = now.saturating_add(ttl).min(cap).min(NEVER - 1);
            row.expires_at = row.expires_at.max(want);
        }
        Some(row.clone())
    }

    pub(crate) fn get(&mut self, ns: &Namespace, key: &str) -> Option<u32> {
        self.read(ns, key).map(|row| row.value)
    }

    pub(crate) fn delete(&mut self, ns: &Namespace, key: &str) {
        self.rows.remove(&Self::id(ns, key));
    }

    /// Live keys of `ns` starting with `prefix`, in key order.
    pub(crate) fn list(&self, ns: &Namespace, prefix: &str) -> Vec<String> {
        let rendered = ns.render();
        self.rows
            .iter()
            .filter(|((n, k), row)| *n == rendered && k.starts_with(prefix) && self.live(row))
            .map(|((_, k), _)| k.clone())
            .collect()
    }

    /// Namespaces matching `prefix` that hold a live row, in rendered order
    /// (the map's order: rows are keyed by rendered namespace first).
    pub(crate) fn list_namespaces(&self, prefix: &NamespacePrefix) -> Vec<Namespace> {
        let mut out: Vec<Namespace> = Vec::new();
        for ((rendered, _), row) in &self.rows {
            let ns = &self.names[rendered];
            if self.live(row) && prefix.matches(ns) && out.last() != Some(ns) {
                out.push(ns.clone());
            }
        }
        out
    }

    /// [`Self::list_namespaces`] with every namespace cut to `depth` scope
    /// segments (never fewer than the prefix's), as a set of rendered forms.
    pub(crate) fn namespace_groups(
        &self,
        prefix: &NamespacePrefix,
        depth: Option<usize>,
    ) -> BTreeSet<String> {
        let depth = depth.map(|d| d.max(prefix.scope().len()));
        self.list_namespaces(prefix)
            .into_iter()
            .map(|ns| match depth {
                Some(d) => ns
                    .scope()
                    .iter()
                    .take(d)
                    .fold(Namespace::new(ns.tenant_id().clone()), |acc, s| {
                        acc.with_scope(s.clone())
                    })
                    .render(),
                None => ns.render(),
            })
            .collect()
    }

    /// Drops every row of every namespace under `prefix`; returns
    /// `(live rows, all rows)` removed.
    pub(crate) fn delete_subtree(&mut self, prefix: &NamespacePrefix) -> (usize, usize) {
        let doomed: Vec<(String, String)> = self
            .rows
            .keys()
            .filter(|(n, _)| prefix.matches(&self.names[n]))
            .cloned()
            .collect();
        let live = doomed
            .iter()
            .filter(|id| self.live(&self.rows[*id]))
            .count();
        for id in &doomed {
            self.rows.remove(id);
        }
        (live, doomed.len())
    }

    pub(crate) fn live_rows(&self) -> usize {
        self.rows.values().filter(|row| self.live(row)).count()
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Drops every expired row; returns how many.
    pub(crate) fn evict(&mut self) -> usize {
        let before = self.rows.len();
        let now = self.now;
        self.rows
            .retain(|_, row| row.expires_at == NEVER || now < row.expires_at);
        before - self.rows.len()
    }

    /// Every row, live or not, for a final sweep of point reads.
    pub(crate) fn keys(&self) -> Vec<(Namespace, String)> {
        self.rows
            .keys()
            .map(|(n, k)| (self.names[n].clone(), k.clone()))
            .collect()
    }
}
