//! `SccStore`: scc 3's `HashMap` for point operations and its `TreeIndex`
//! for ordered listings, behind `Store<V>`. The map holds each row (the
//! value and its deadline) under `(rendered namespace, key)`; the tree holds
//! the same pairs, ordered by namespace then key, with no value. A key is in
//! the tree exactly when it is in the map: `put` of a new key inserts it in
//! the tree while it holds the map's entry (its bucket lock), and `delete`
//! and `evict_expired` remove it from the tree the same way, so a racing
//! `put` and `delete` of one key cannot leave the two apart. `get` reads the
//! map and hides a row past its deadline; `list` scans the tree from
//! `(namespace, prefix)` until the namespace or the literal prefix ends,
//! keeping the keys whose row is live (one map read each), already sorted;
//! `list_namespaces` seeks the tree to the prefix's rendering, and for each
//! namespace finds its first live row, then jumps past the namespace in one
//! seek, matching the namespaces found structurally; `evict_expired` is one
//! `retain` over the map, counting what it drops. The tree also holds one
//! sentinel key before every row: without it, scc 3.8 seeks to a key before
//! the tree's first key by walking the whole tree. What it gives up: every
//! key is stored twice (in the map and in the tree) and a new key costs two
//! inserts; a listing pays a map lookup per key to learn whether its row is
//! live; expired rows stay in memory until `evict_expired` runs.

use std::collections::BTreeSet;
use std::time::Instant;

use ::scc::hash_map::Entry;
use ::scc::{Guard, HashMap, TreeIndex};
use async_trait::async_trait;
use entelix_core::{ExecutionContext, Result};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};

use super::{Row, RowKey, has_prefix, namespaces_under, rendered_prefix, row_key};

/// `Store<V>` over scc's `HashMap` and `TreeIndex`; see the module
/// documentation.
pub struct SccStore<V> {
    rows: HashMap<RowKey, Row<V>>,
    order: TreeIndex<RowKey, ()>,
}

impl<V> Default for SccStore<V> {
    fn default() -> Self {
        let order = TreeIndex::new();
        // A range seek to a key before the tree's first key takes scc 3.8
        // a walk over the whole tree (seconds at 200k rows; a seek after
        // some key takes microseconds). This sentinel sorts before every
        // row, since a rendered namespace is never empty (its tenant is
        // not), so every seek lands after it; no listing reaches it.
        let _ = order.insert_sync(SENTINEL, ());
        Self {
            rows: HashMap::new(),
            order,
        }
    }
}

/// The tree's first key, before every row's; see [`SccStore::default`].
const SENTINEL: RowKey = (String::new(), String::new());

impl<V> SccStore<V>
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

    fn is_live(&self, key: &RowKey, now: Instant) -> bool {
        self.rows
            .read_sync(key, |_, row| row.is_live(now))
            .unwrap_or(false)
    }
}

#[async_trait]
impl<V> Store<V> for SccStore<V>
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
        match self.rows.entry_sync(row_key(ns, key)) {
            Entry::Occupied(mut held) => *held.get_mut() = row,
            Entry::Vacant(vacant) => {
                // Under the bucket lock: no `delete` of this key can run
                // between the two inserts. An `Err` means the key is in the
                // tree already, which is what we want.
                let _ = self.order.insert_sync(vacant.key().clone(), ());
                vacant.insert_entry(row);
            }
        }
        Ok(())
    }

    async fn get(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<Option<V>> {
        let now = Instant::now();
        Ok(self
            .rows
            .read_sync(&row_key(ns, key), |_, row| {
                row.is_live(now).then(|| row.value.clone())
            })
            .flatten())
    }

    async fn delete(&self, _ctx: &ExecutionContext, ns: &Namespace, key: &str) -> Result<()> {
        let key = row_key(ns, key);
        if let Some(held) = self.rows.get_sync(&key) {
            self.order.remove_sync(&key);
            let _row = held.remove();
        }
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
        let from: RowKey = (rendered, prefix.unwrap_or_default().to_owned());
        let guard = Guard::new();
        let mut keys = Vec::new();
        for (key, ()) in self.order.range::<RowKey, _>(&from.., &guard) {
            if key.0 != from.0 || !has_prefix(&key.1, prefix) {
                break;
            }
            if self.is_live(key, now) {
                keys.push(key.1.clone());
            }
        }
        Ok(keys)
    }

    async fn list_namespaces(
        &self,
        _ctx: &ExecutionContext,
        prefix: &NamespacePrefix,
    ) -> Result<Vec<Namespace>> {
        let under = rendered_prefix(prefix);
        let now = Instant::now();
        let guard = Guard::new();
        let mut rendered = BTreeSet::new();
        let mut from: RowKey = (under.clone(), String::new());
        'seek: loop {
            for (key, ()) in self.order.range::<RowKey, _>(from.clone().., &guard) {
                if !key.0.starts_with(&under) {
                    break 'seek;
                }
                if self.is_live(key, now) {
                    rendered.insert(key.0.clone());
                    // The least namespace after this one: its rendering
                    // followed by the least character.
                    let mut next = key.0.clone();
                    next.push('\0');
                    from = (next, String::new());
                    continue 'seek;
                }
            }
            break;
        }
        namespaces_under(rendered, prefix)
    }

    async fn evict_expired(&self, _ctx: &ExecutionContext) -> Result<usize> {
        let now = Instant::now();
        let mut evicted = 0;
        self.rows.retain_sync(|key, row| {
            let live = row.is_live(now);
            if !live {
                // Under the bucket lock, as in `delete`.
                self.order.remove_sync(key);
                evicted += 1;
            }
            live
        });
        Ok(evicted)
    }
}
