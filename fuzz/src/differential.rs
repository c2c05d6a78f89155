//! The `differential` target: a sequence of [`Op`]s applied to a
//! `SkipStore<u32>` on a `ManualClock` and to a [`StoreModel`]; every
//! result must agree, and the store's invariants must hold after each step.
//!
//! Namespaces and keys come from a small alphabet rich in `:`, `\`, empty
//! strings, NUL and multi-byte characters, so that rendered-name collisions,
//! escaping, prefix and ordering edge cases are likely.
//!
//! Writers sweep expired rows in small bounded steps on their own, so
//! between evictions the store may hold fewer expired rows than the model,
//! never more and never fewer live ones; `evict_expired` removes exactly the
//! expired rows the store still held, after which both hold the same rows.

use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use skipstore::{EntryVersion, ManualClock, SkipStore};

use super::store_model::StoreModel;

/// Tenants must be non-empty (`TenantId::new` panics on empty).
const TENANTS: &[&str] = &["a", "b", "a:b", ":", "\\", "\\:", "\0", "é"];
/// Scope segments. `"a:b"` renders like the two segments `a`, `b` would
/// if escaping were broken; `"\\:"` like an escaped colon.
const SEGMENTS: &[&str] = &["", ":", "\\", "a", "a:b", "\0", "é", "\\:"];
/// Pieces keys and key prefixes are built from (up to [`MAX_PIECES`]).
const PIECES: &[&str] = &["a", "b", ":", "\\", "\0", "é", "\\:", "a:b", "*", "%"];
const MAX_DEPTH: usize = 3;
const MAX_PIECES: usize = 4;
/// Ops per input: enough for long histories, few enough to stay fast.
const MAX_STEPS: usize = 2_000;
/// The clock's last instant (584 years). The store keeps TTLs finite up to
/// it (a zero TTL written then is still expired), and the model says so.
const END_OF_TIME: u64 = u64::MAX;

/// A namespace (or prefix): a tenant and up to [`MAX_DEPTH`] segments, each
/// an index into the alphabets above.
#[derive(Arbitrary, Debug)]
pub(crate) struct NsPick {
    tenant: u8,
    scope: Vec<u8>,
}

fn pick<'a>(table: &[&'a str], i: u8) -> &'a str {
    table[usize::from(i) % table.len()]
}

impl NsPick {
    fn segments(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.scope
            .iter()
            .take(MAX_DEPTH)
            .map(|&i| pick(SEGMENTS, i))
    }

    fn tenant(&self) -> TenantId {
        TenantId::new(pick(TENANTS, self.tenant))
    }

    fn namespace(&self) -> Namespace {
        self.segments()
            .fold(Namespace::new(self.tenant()), Namespace::with_scope)
    }

    fn prefix(&self) -> NamespacePrefix {
        self.segments().fold(
            NamespacePrefix::new(self.tenant()),
            NamespacePrefix::with_scope,
        )
    }
}

/// A key or key prefix: mostly built from [`PIECES`] (so that keys share
/// prefixes), sometimes any string at all.
#[derive(Arbitrary, Debug)]
pub(crate) enum Text {
    Pieces(Vec<u8>),
    Raw(String),
}

impl Text {
    fn render(&self) -> String {
        match self {
            Self::Pieces(p) => p
                .iter()
                .take(MAX_PIECES)
                .map(|&i| pick(PIECES, i))
                .collect(),
            Self::Raw(s) => s.clone(),
        }
    }
}

/// A TTL, from zero through sub-tick and wheel-level sizes to `Duration::MAX`.
#[derive(Arbitrary, Debug)]
pub(crate) enum Ttl {
    Zero,
    Max,
    Nanos(u32),
    Millis(u16),
    Secs(u32),
    WideNanos(u64),
    HugeSecs(u64),
}

impl Ttl {
    fn duration(&self) -> Duration {
        match *self {
            Self::Zero => Duration::ZERO,
            Self::Max => Duration::MAX,
            Self::Nanos(n) => Duration::from_nanos(u64::from(n)),
            Self::Millis(m) => Duration::from_millis(u64::from(m)),
            Self::Secs(s) => Duration::from_secs(u64::from(s)),
            Self::WideNanos(n) => Duration::from_nanos(n),
            Self::HugeSecs(s) => Duration::from_secs(s),
        }
    }
}

/// How far to move the clock.
#[derive(Arbitrary, Debug)]
pub(crate) enum Step {
    Nanos(u32),
    Millis(u16),
    Secs(u32),
    WideNanos(u64),
    ToTheEnd,
}

impl Step {
    fn nanos(&self) -> u64 {
        match *self {
            Self::Nanos(n) => u64::from(n),
            Self::Millis(m) => u64::from(m) * 1_000_000,
            Self::Secs(s) => u64::from(s) * 1_000_000_000,
            Self::WideNanos(n) => n,
            Self::ToTheEnd => u64::MAX,
        }
    }
}

/// One step of a run. To fuzz more of the API (the inherent API of issue 6,
/// say), add a variant here, the matching behaviour to [`StoreModel`], and an
/// arm to [`Harness::apply`]; the rest of the harness stays as it is.
#[derive(Arbitrary, Debug)]
pub(crate) enum Op {
    Put {
        ns: NsPick,
        key: Text,
        value: u32,
    },
    PutTtl {
        ns: NsPick,
        key: Text,
        value: u32,
        ttl: Ttl,
    },
    Get {
        ns: NsPick,
        key: Text,
    },
    Delete {
        ns: NsPick,
        key: Text,
    },
    List {
        ns: NsPick,
        prefix: Option<Text>,
    },
    ListNamespaces(NsPick),
    Advance(Step),
    Evict,
    // The inherent API (issue 6).
    PutVersioned {
        ns: NsPick,
        key: Text,
        value: u32,
        ttl: Option<Ttl>,
    },
    GetVersioned {
        ns: NsPick,
        key: Text,
    },
    PutIfAbsent {
        ns: NsPick,
        key: Text,
        value: u32,
        ttl: Option<Ttl>,
    },
    /// Compare-and-swap against the row's known version (`fresh`) or a
    /// version seen earlier for any row.
    CompareAndSwap {
        ns: NsPick,
        key: Text,
        value: u32,
        fresh: bool,
        stale_pick: u8,
    },
    PutSliding {
        ns: NsPick,
        key: Text,
        value: u32,
        ttl: Ttl,
        cap: Option<Ttl>,
    },
    ListPage {
        ns: NsPick,
        prefix: Option<Text>,
        after: Option<Text>,
        limit: u8,
    },
    /// Walks every page and checks the union.
    ListNamespacesPages {
        prefix: NsPick,
        max_depth: Option<u8>,
        limit: u8,
    },
    DeleteSubtree(NsPick),
}

/// Polls a store future once: an in-memory store never waits.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a SkipStore future returned Pending"),
    }
}

struct Harness {
    store: SkipStore<u32>,
    clock: ManualClock,
    model: StoreModel,
    ctx: ExecutionContext,
    /// Every version the store returned: none may repeat.
    versions: Vec<EntryVersion>,
}

impl Harness {
    fn new() -> Self {
        let clock = ManualClock::new();
        Self {
            store: SkipStore::builder().clock(clock.clone()).build(),
            clock,
            model: StoreModel::default(),
            ctx: ExecutionContext::new(),
            versions: Vec::new(),
        }
    }

    fn apply(&mut self, step: usize, op: &Op) {
        let (store, ctx) = (&self.store, &self.ctx);
        match op {
            Op::Put { ns, key, value } => {
                let (ns, key) = (ns.namespace(), key.render());
                ready(store.put(ctx, &ns, &key, *value)).expect("put");
                self.model.put(&ns, &key, *value, None, None);
            }
            Op::PutTtl {
                ns,
                key,
                value,
                ttl,
            } => {
                let (ns, key, ttl) = (ns.namespace(), key.render(), ttl.duration());
                let options = PutOptions::default().with_ttl(ttl);
                ready(store.put_with_options(ctx, &ns, &key, *value, options)).expect("put");
                self.model.put(&ns, &key, *value, Some(ttl), None);
            }
            Op::Get { ns, key } => {
                let (ns, key) = (ns.namespace(), key.render());
                let got = ready(store.get(ctx, &ns, &key)).expect("get");
                assert_eq!(got, self.model.get(&ns, &key), "step {step}: {op:?}");
            }
            Op::Delete { ns, key } => {
                let (ns, key) = (ns.namespace(), key.render());
                ready(store.delete(ctx, &ns, &key)).expect("delete");
                self.model.delete(&ns, &key);
            }
            Op::List { ns, prefix } => {
                let (ns, prefix) = (ns.namespace(), prefix.as_ref().map(Text::render));
                let got = ready(store.list(ctx, &ns, prefix.as_deref())).expect("list");
                let want = self.model.list(&ns, prefix.as_deref().unwrap_or(""));
                assert_eq!(got, want, "step {step}: {op:?}");
            }
            Op::ListNamespaces(prefix) => {
                let prefix = prefix.prefix();
                let got = ready(store.list_namespaces(ctx, &prefix)).expect("list_namespaces");
                let want = self.model.list_namespaces(&prefix);
                assert_eq!(got, want, "step {step}: {op:?}");
            }
            Op::Advance(by) => {
                let by = by.nanos().min(END_OF_TIME - self.model.now);
                self.clock.advance(Duration::from_nanos(by));
                self.model.now += by;
            }
            Op::Evict => self.evict(&format!("step {step}")),
            _ => self.apply_inherent(step, op),
        }
    }

    /// A version the store just returned: it must be new.
    fn fresh_version(&mut self, v: EntryVersion, at: &str) -> EntryVersion {
        assert!(!self.versions.contains(&v), "{at}: version {v:?} repeated");
        self.versions.push(v);
        v
    }

    fn apply_inherent(&mut self, step: usize, op: &Op) {
        let at = format!("step {step}: {op:?}");
        match op {
            Op::PutVersioned {
                ns,
                key,
                value,
                ttl,
            } => {
                let (ns, key, ttl) = (
                    ns.namespace(),
                    key.render(),
                    ttl.as_ref().map(Ttl::duration),
                );
                let v = self.store.put_versioned(&ns, &key, *value, ttl);
                let v = self.fresh_version(v, &at);
                self.model.put(&ns, &key, *value, ttl, Some(v));
            }
            Op::GetVersioned { ns, key } => {
                let (ns, key) = (ns.namespace(), key.render());
                let got = self.store.get_versioned(&ns, &key);
                let want = self.model.read(&ns, &key);
                assert_eq!(got.map(|g| g.0), want.as_ref().map(|r| r.value), "{at}");
                if let (Some((_, v)), Some(Some(known))) = (got, want.map(|r| r.version)) {
                    assert_eq!(v, known, "{at}: version");
                }
            }
            Op::PutIfAbsent {
                ns,
                key,
                value,
                ttl,
            } => {
                let (ns, key, ttl) = (
                    ns.namespace(),
                    key.render(),
                    ttl.as_ref().map(Ttl::duration),
                );
                let live = self.model.peek(&ns, &key).cloned();
                match (self.store.put_if_absent(&ns, &key, *value, ttl), live) {
                    (Ok(v), None) => {
                        let v = self.fresh_version(v, &at);
                        self.model.put(&ns, &key, *value, ttl, Some(v));
                    }
                    (Err(conflict), Some(row)) => {
                        assert!(conflict.current.is_some(), "{at}: conflict without version");
                        if let Some(known) = row.version {
                            assert_eq!(conflict.current, Some(known), "{at}");
                        }
                    }
                    (got, row) => panic!("{at}: store {got:?}, model row {row:?}"),
                }
            }
            Op::CompareAndSwap {
                ns,
                key,
                value,
                fresh,
                stale_pick,
            } => {
                let (ns, key) = (ns.namespace(), key.render());
                let live = self.model.peek(&ns, &key).cloned();
                let expected = if *fresh {
                    live.as_ref().and_then(|r| r.version)
                } else if self.versions.is_empty() {
                    None
                } else {
                    Some(self.versions[usize::from(*stale_pick) % self.versions.len()])
                };
                let Some(expected) = expected else {
                    return;
                };
                let succeeds = live.as_ref().is_some_and(|r| r.version == Some(expected));
                match self
                    .store
                    .compare_and_swap(&ns, &key, expected, *value, None)
                {
                    Ok(v) => {
                        assert!(succeeds, "{at}: swapped against {live:?}");
                        let v = self.fresh_version(v, &at);
                        self.model.put(&ns, &key, *value, None, Some(v));
                    }
                    Err(conflict) => {
                        assert!(!succeeds, "{at}: refused ({conflict}) against {live:?}");
                        assert_eq!(conflict.current.is_some(), live.is_some(), "{at}");
                    }
                }
            }
            Op::PutSliding {
                ns,
                key,
                value,
                ttl,
                cap,
            } => {
                let (ns, key) = (ns.namespace(), key.render());
                let (ttl, cap) = (ttl.duration(), cap.as_ref().map(Ttl::duration));
                let v = self.store.put_sliding(&ns, &key, *value, ttl, cap);
                let v = self.fresh_version(v, &at);
                self.model.put_sliding(&ns, &key, *value, ttl, cap, v);
            }
            Op::ListPage {
                ns,
                prefix,
                after,
                limit,
            } => {
                let ns = ns.namespace();
                let (prefix, after) = (
                    prefix.as_ref().map(Text::render),
                    after.as_ref().map(Text::render),
                );
                let limit = usize::from(*limit % 8);
                let page = self
                    .store
                    .list_page(&ns, prefix.as_deref(), after.as_deref(), limit);
                let all: Vec<String> = self
                    .model
                    .list(&ns, prefix.as_deref().unwrap_or(""))
                    .into_iter()
                    .filter(|k| after.as_ref().is_none_or(|a| k > a))
                    .collect();
                let want: Vec<String> = all.iter().take(limit).cloned().collect();
                assert_eq!(page.keys, want, "{at}");
                let next = (all.len() > limit).then(|| want.last().cloned()).flatten();
                assert_eq!(page.next, next, "{at}: next");
            }
            Op::ListNamespacesPages {
                prefix,
                max_depth,
                limit,
            } => {
                let prefix = prefix.prefix();
                let depth = max_depth.map(|d| usize::from(d % 5));
                let limit = usize::from(*limit % 4) + 1;
                let want = self.model.namespace_groups(&prefix, depth);
                let mut got = std::collections::BTreeSet::new();
                let mut after: Option<String> = None;
                for _ in 0..=want.len() + 1 {
                    let page =
                        self.store
                            .list_namespaces_page(&prefix, depth, after.as_deref(), limit);
                    assert!(page.namespaces.len() <= limit, "{at}: page too long");
                    for ns in &page.namespaces {
                        assert!(got.insert(ns.render()), "{at}: {ns:?} listed twice");
                    }
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                assert_eq!(got, want, "{at}");
            }
            Op::DeleteSubtree(prefix) => {
                let prefix = prefix.prefix();
                let removed = self.store.delete_subtree(&prefix);
                let (live, all) = self.model.delete_subtree(&prefix);
                assert!(
                    live <= removed && removed <= all,
                    "{at}: removed {removed}, model live {live} of {all}"
                );
            }
            _ => unreachable!("trait ops are applied by `apply`"),
        }
    }

    /// Evicts in both; the store must remove exactly the expired rows it
    /// still held, leaving the model's rows.
    fn evict(&mut self, at: &str) {
        let held = self.store.total_entries();
        let evicted = ready(self.store.evict_expired(&self.ctx)).expect("evict_expired");
        self.model.evict();
        let left = held.checked_sub(evicted);
        assert_eq!(
            left,
            Some(self.model.rows()),
            "{at}: held {held}, evicted {evicted}"
        );
        assert_eq!(
            self.store.total_entries(),
            self.model.rows(),
            "{at}: after evict"
        );
    }

    fn check(&self, step: usize, op: &Op) {
        if let Err(e) = self.store.check_invariants() {
            panic!("step {step} ({op:?}): invariant broken: {e}");
        }
        let (live, rows) = (self.model.live_rows(), self.model.rows());
        let total = self.store.total_entries();
        assert!(
            live <= total && total <= rows,
            "step {step} ({op:?}): live {live} <= total_entries {total} <= model rows {rows}"
        );
    }

    /// Reads back every row the model ever held, then evicts.
    fn finish(&mut self) {
        for (ns, key) in self.model.keys() {
            let got = ready(self.store.get(&self.ctx, &ns, &key)).expect("get");
            assert_eq!(
                got,
                self.model.get(&ns, &key),
                "final read of {ns:?} / {key:?}"
            );
        }
        self.evict("final");
        if let Err(e) = self.store.check_invariants() {
            panic!("final: invariant broken: {e}");
        }
    }
}

/// Runs the `differential` target on one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut harness = Harness::new();
    for step in 0..MAX_STEPS {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        harness.apply(step, &op);
        harness.check(step, &op);
        if u.is_empty() {
            break;
        }
    }
    harness.finish();
}
