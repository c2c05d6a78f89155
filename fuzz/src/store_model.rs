//! The reference model the differential target checks the store against:
//! rows keyed by `(rendered namespace, key)` in a `BTreeMap`, each with its
//! value and its expiry in clock nanoseconds, plus the model's own time.
//!
//! Rendering uses entelix's `Namespace::render`, and namespace matching
//! entelix's `NamespacePrefix::matches`: the structural truth, independent of
//! the store's own rendering and range scans.

use std::collections::BTreeMap;
use std::time::Duration;

use entelix_memory::{Namespace, NamespacePrefix};

/// One row: its value and, with a TTL, the clock nanosecond it expires at
/// (`u128`, so that `now + Duration::MAX` is exact).
type Row = (u32, Option<u128>);

#[derive(Default)]
pub(crate) struct StoreModel {
    rows: BTreeMap<(String, String), Row>,
    names: BTreeMap<String, Namespace>,
    /// Clock nanoseconds, as the store's `ManualClock` reads them.
    pub(crate) now: u64,
}

impl StoreModel {
    fn live(&self, row: &Row) -> bool {
        row.1.is_none_or(|at| u128::from(self.now) < at)
    }

    pub(crate) fn put(&mut self, ns: &Namespace, key: &str, value: u32, ttl: Option<Duration>) {
        let rendered = ns.render();
        self.names.insert(rendered.clone(), ns.clone());
        let expiry = ttl.map(|d| u128::from(self.now) + d.as_nanos());
        self.rows
            .insert((rendered, key.to_owned()), (value, expiry));
    }

    pub(crate) fn get(&self, ns: &Namespace, key: &str) -> Option<u32> {
        self.rows
            .get(&(ns.render(), key.to_owned()))
            .filter(|row| self.live(row))
            .map(|row| row.0)
    }

    pub(crate) fn delete(&mut self, ns: &Namespace, key: &str) {
        self.rows.remove(&(ns.render(), key.to_owned()));
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

    pub(crate) fn live_rows(&self) -> usize {
        self.rows.values().filter(|row| self.live(row)).count()
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Drops every expired row; returns how many.
    pub(crate) fn evict(&mut self) -> usize {
        let before = self.rows.len();
        let now = u128::from(self.now);
        self.rows.retain(|_, row| row.1.is_none_or(|at| now < at));
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
