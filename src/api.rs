//! The inherent API: what agent hosts need beyond the `Store` trait, on the
//! same ordered index and timing wheel. None of these names is a trait
//! method's, so calling the trait on a `SkipStore` never resolves here.

use std::fmt;
use std::time::Duration;

use entelix_memory::{Namespace, NamespacePrefix};

use crate::engine::{Condition, Expiring, Written};
use crate::stats::Stats;
use crate::store::SkipStore;

/// The version of one write of one entry, as returned by
/// [`SkipStore::get_versioned`] and every versioned write.
///
/// Versions never repeat for a key within a process: a key deleted and
/// written again gets versions of a new incarnation, so a stale version can
/// never match (no ABA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryVersion(u64);

impl EntryVersion {
    /// The version as a number (opaque: compare for equality only).
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// A conditional write was refused: the live version found (`None` if the
/// key was absent or expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// The version the write found instead of the one it expected.
    pub current: Option<EntryVersion>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current {
            Some(v) => write!(f, "conditional write refused: entry is at version {}", v.0),
            None => f.write_str("conditional write refused: entry is absent"),
        }
    }
}

impl std::error::Error for Conflict {}

/// One page of a namespace's keys, from [`SkipStore::list_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyPage {
    /// The keys, sorted.
    pub keys: Vec<String>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// One page of namespaces, from [`SkipStore::list_namespaces_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespacePage {
    /// The namespaces, sorted by rendered form.
    pub namespaces: Vec<Namespace>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

fn outcome(w: Written) -> Result<EntryVersion, Conflict> {
    match w {
        Written::Stored(v) => Ok(EntryVersion(v)),
        Written::Refused(current) => Err(Conflict {
            current: current.map(EntryVersion),
        }),
    }
}

impl<V> SkipStore<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// The live value of `(ns, key)` and its version, for a later
    /// [`compare_and_swap`](Self::compare_and_swap). Lock-free.
    ///
    /// ```
    /// use entelix_core::TenantId;
    /// use entelix_memory::Namespace;
    /// use skipstore::SkipStore;
    ///
    /// let store = SkipStore::new();
    /// let ns = Namespace::new(TenantId::new("acme")).with_scope("user-1");
    /// let v1 = store.put_versioned(&ns, "profile", 1_u32, None);
    /// let (value, seen) = store.get_versioned(&ns, "profile").unwrap();
    /// assert_eq!((value, seen), (1, v1));
    /// // Read-modify-write without lost updates:
    /// let v2 = store.compare_and_swap(&ns, "profile", seen, value + 1, None).unwrap();
    /// assert!(store.compare_and_swap(&ns, "profile", seen, 99, None).is_err());
    /// assert_eq!(store.get_versioned(&ns, "profile"), Some((2, v2)));
    /// ```
    #[must_use]
    pub fn get_versioned(&self, ns: &Namespace, key: &str) -> Option<(V, EntryVersion)> {
        self.inner
            .engine
            .read(ns, key, |v| (v.value.clone(), EntryVersion(v.version)))
    }

    /// Writes `(ns, key)` like `Store::put_with_options` and returns the new
    /// version.
    pub fn put_versioned(
        &self,
        ns: &Namespace,
        key: &str,
        value: V,
        ttl: Option<Duration>,
    ) -> EntryVersion {
        let written =
            self.inner
                .engine
                .write(ns, key, value, Expiring::plain(ttl), Condition::Always);
        // An unconditional write is never refused.
        outcome(written).unwrap_or(EntryVersion(0))
    }

    /// Writes `(ns, key)` only if it holds no live value (an expired one
    /// counts as none).
    ///
    /// # Errors
    ///
    /// [`Conflict`] with the live version if the key is present.
    pub fn put_if_absent(
        &self,
        ns: &Namespace,
        key: &str,
        value: V,
        ttl: Option<Duration>,
    ) -> Result<EntryVersion, Conflict> {
        outcome(
            self.inner
                .engine
                .write(ns, key, value, Expiring::plain(ttl), Condition::IfAbsent),
        )
    }

    /// Replaces the value of `(ns, key)` only if its live version is still
    /// `expected`: concurrent read-modify-write cycles never lose an update.
    ///
    /// # Errors
    ///
    /// [`Conflict`] with the live version found (or `None` if the key is
    /// absent or expired).
    pub fn compare_and_swap(
        &self,
        ns: &Namespace,
        key: &str,
        expected: EntryVersion,
        value: V,
        ttl: Option<Duration>,
    ) -> Result<EntryVersion, Conflict> {
        outcome(self.inner.engine.write(
            ns,
            key,
            value,
            Expiring::plain(ttl),
            Condition::IfVersion(expected.0),
        ))
    }

    /// Writes `(ns, key)` with a sliding TTL: every read (`get`,
    /// `get_versioned`) that finds it live pushes its expiry to `ttl` after
    /// the read, but never beyond `max_lifetime` after this write (no cap if
    /// `None`). Reads refresh lock-free; listings do not refresh.
    ///
    /// ```
    /// use std::time::Duration;
    /// use entelix_core::TenantId;
    /// use entelix_memory::Namespace;
    /// use skipstore::{ManualClock, SkipStore};
    ///
    /// let clock = ManualClock::new();
    /// let store = SkipStore::builder().clock(clock.clone()).build();
    /// let ns = Namespace::new(TenantId::new("acme")).with_scope("session");
    /// let ms = Duration::from_millis;
    /// store.put_sliding(&ns, "token", 7_u32, ms(10), Some(ms(25)));
    /// clock.advance(ms(8));
    /// assert!(store.get_versioned(&ns, "token").is_some()); // now expires at 18 ms
    /// clock.advance(ms(8));
    /// assert!(store.get_versioned(&ns, "token").is_some()); // capped at 25 ms
    /// clock.advance(ms(9));
    /// assert!(store.get_versioned(&ns, "token").is_none());
    /// ```
    pub fn put_sliding(
        &self,
        ns: &Namespace,
        key: &str,
        value: V,
        ttl: Duration,
        max_lifetime: Option<Duration>,
    ) -> EntryVersion {
        let expiring = Expiring {
            ttl: Some(ttl),
            slide_cap: Some(max_lifetime.unwrap_or(Duration::MAX)),
        };
        let written = self
            .inner
            .engine
            .write(ns, key, value, expiring, Condition::Always);
        outcome(written).unwrap_or(EntryVersion(0))
    }

    /// Up to `limit` live keys of `ns` starting with `prefix`, sorted, after
    /// the cursor `after` (a key from a previous page's `next`, or `None` to
    /// start). Stable under concurrent writes: a key never appears on two
    /// pages, and a key present throughout the walk is never skipped.
    /// Costs O(log n + limit), plus the namespace's small write buffer.
    ///
    /// ```
    /// use entelix_core::TenantId;
    /// use entelix_memory::Namespace;
    /// use skipstore::SkipStore;
    ///
    /// let store = SkipStore::new();
    /// let ns = Namespace::new(TenantId::new("acme")).with_scope("conv-1");
    /// for i in 0..5 {
    ///     store.put_versioned(&ns, &format!("msg-{i}"), i, None);
    /// }
    /// let first = store.list_page(&ns, Some("msg-"), None, 2);
    /// assert_eq!(first.keys, ["msg-0", "msg-1"]);
    /// let second = store.list_page(&ns, Some("msg-"), first.next.as_deref(), 2);
    /// assert_eq!(second.keys, ["msg-2", "msg-3"]);
    /// ```
    #[must_use]
    pub fn list_page(
        &self,
        ns: &Namespace,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> KeyPage {
        let page = self
            .inner
            .engine
            .list_page(ns, prefix.unwrap_or(""), after, limit);
        let next = if page.more {
            page.keys.last().cloned()
        } else {
            None
        };
        KeyPage {
            keys: page.keys,
            next,
        }
    }

    /// Up to `limit` namespaces under `prefix` that hold a live entry, after
    /// the cursor `after` (a previous page's `next`), in the index's order
    /// (by rendered form). With `max_depth`, namespaces with more scope
    /// segments are cut to that many and each cut form is listed once (as
    /// LangGraph's `list_namespaces` does), at the position of the first
    /// namespace it stands for; a depth below the prefix's own is raised to
    /// it. Pages never repeat a namespace. Costs O(namespaces returned x
    /// log n), never O(entries).
    ///
    /// ```
    /// use entelix_core::TenantId;
    /// use entelix_memory::{Namespace, NamespacePrefix};
    /// use skipstore::SkipStore;
    ///
    /// let store = SkipStore::new();
    /// let agent = Namespace::new(TenantId::new("acme")).with_scope("agent-1");
    /// for conv in ["c1", "c2"] {
    ///     store.put_versioned(&agent.clone().with_scope(conv), "k", 1, None);
    /// }
    /// let tenant = NamespacePrefix::new(TenantId::new("acme"));
    /// let page = store.list_namespaces_page(&tenant, Some(1), None, 10);
    /// assert_eq!(page.namespaces, [agent]);
    /// ```
    #[must_use]
    pub fn list_namespaces_page(
        &self,
        prefix: &NamespacePrefix,
        max_depth: Option<usize>,
        after: Option<&str>,
        limit: usize,
    ) -> NamespacePage {
        let page = self
            .inner
            .engine
            .list_namespaces_page(prefix, max_depth, after, limit);
        NamespacePage {
            namespaces: page.namespaces,
            next: if page.more { page.last } else { None },
        }
    }

    /// Deletes every entry of every namespace under `prefix` ("forget this
    /// user", "drop this conversation") and returns how many rows it removed.
    /// Each removal is atomic; the whole is not: a write into the subtree
    /// that races the call may survive it.
    pub fn delete_subtree(&self, prefix: &NamespacePrefix) -> usize {
        self.inner.engine.delete_subtree(prefix)
    }

    /// Counters and sizes, read without stopping writers (striped counters:
    /// counting costs each operation one uncontended atomic add).
    #[must_use]
    pub fn stats(&self) -> Stats {
        let engine = &self.inner.engine;
        let [hits, misses, writes, deletes, expirations, evictions] = engine.counters();
        Stats {
            rows: engine.total_entries(),
            namespaces: engine.namespace_nodes(),
            idle_namespaces: engine.idle_namespaces(),
            pending_timers: engine.pending_timers(),
            hits,
            misses,
            writes,
            deletes,
            expirations,
            evictions,
        }
    }
}
