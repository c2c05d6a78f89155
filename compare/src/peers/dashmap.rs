//! `DashMapStore`: a `DashMap` (dashmap 6, its current stable line) behind
//! `Store<V>`. `put` inserts a row holding the value and its deadline
//! under `(rendered namespace, key)`; `get` reads it and hides it past its
//! deadline; `delete` removes it; `list` walks every shard under its read
//! lock, keeps the live keys of the namespace under the literal prefix and
//! sorts them; `list_namespaces` walks the whole map the same way, collects
//! the distinct rendered namespaces of live rows that start like the
//! prefix's rendering and matches them structurally; `evict_expired` is one `retain` over the map, counting what
//! it drops. What it gives up: a hash map has no order, so every listing
//! costs a scan of all rows, whatever their namespace, and holds each
//! shard's lock while it reads it (writers to that shard wait); expired rows
//! stay in memory until `evict_expired` runs.

use std::collections::BTreeSet;
use std::time::Instant;

use ::dashmap::DashMap;
use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

use super::{Row, RowKey, has_prefix, namespaces_under, rendered_prefix, row_key};

/// `Store<V>` over a `DashMap`; see the module documentation.
pub struct DashMapStore<V> {
    rows: DashMap<RowKey, Row<V>>,
}

impl<V> Default for DashMapStore<V> {
    fn default() -> Self {
        Self {
            rows: DashMap::new(),
        }
    }
}

impl<V> DashMapStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows held, expired-but-unswept ones included.
    #[must_use]
    pub fn total_entries(&self) -> usize {
        self.rows.len()
    }
}

#[async_trait]
impl<V> Store<V> for DashMapStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    async fn put_with_options(
        &self,
        _ctx: &ExecutionContext,
        ns: &Namespace,
        key: &str,
        value: V,
        options: PutOptions,
    ) -> Result<()> {
        let row = Row::new(value, options.ttl, Instant::now());
        self.rows.insert(row_key(ns, key), row);
        Ok(())
    }

    async fn get(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        let now = Instant::now();
        Ok(self
            .rows
            .get(&row_key(ns, key))
            .filter(|row| row.is_live(now))
            .map(|row| row.value.clone()))
    }

    async fn delete(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        self.rows.remove(&row_key(ns, key));
        Ok(())
    }

    async fn list(
        &self,
        _ctx: &ExecutionContext,
        ns: &Namespace,
        prefix: Option<&str>,
    ) -> Result<Vec<String>> {
        let rendered = ns.render();
        let now = Instant::now();
        let mut keys: Vec<String> = self
            .rows
            .iter()
            .filter(|entry| {
                let (row_ns, key) = entry.key();
                *row_ns == rendered && has_prefix(key, prefix) && entry.value().is_live(now)
            })
            .map(|entry| entry.key().1.clone())
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    async fn list_namespaces(
        &self,
        _ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        let under = rendered_prefix(prefix);
        let now = Instant::now();
        let mut rendered = BTreeSet::new();
        for entry in &self.rows {
            let row_ns = &entry.key().0;
            if row_ns.starts_with(&under)
                && !rendered.contains(row_ns)
                && entry.value().is_live(now)
            {
                rendered.insert(row_ns.clone());
            }
        }
        namespaces_under(rendered, prefix)
    }

    async fn evict_expired(&self, _ctx: &ExecutionContext) -> Result<usize> {
        let now = Instant::now();
        let mut evicted = 0;
        self.rows.retain(|_, row| {
            let live = row.is_live(now);
            evicted += usize::from(!live);
            live
        });
        Ok(evicted)
    }
}
