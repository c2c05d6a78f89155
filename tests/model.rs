//! Model-based property test: random operation sequences applied to a
//! `SkipStore` on a `ManualClock` and to a `BTreeMap` model; every result
//! must agree.
//!
//! Writers also sweep expired rows on their own, in small bounded steps (in
//! an integration test build: every 64 writes per thread). So between
//! evictions the store may hold *fewer* expired rows than the model, never
//! more and never fewer live ones; `evict_expired` must remove exactly the
//! expired rows the store still held, after which both hold the same rows.
#![allow(clippy::unwrap_used, clippy::disallowed_types)]

use std::collections::BTreeMap;
use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, NamespacePrefix, PutOptions, Store};
use proptest::prelude::*;
use skipstore::{ManualClock, SkipStore};

/// A small namespace space with a parent/child chain, a sibling whose name
/// contains `:` (it renders next to the child), an empty segment and a
/// second tenant.
fn spaces() -> Vec<Namespace> {
    let t = |s: &str| Namespace::new(TenantId::new(s));
    vec![
        t("t"),
        t("t").with_scope("a"),
        t("t").with_scope("a").with_scope("b"),
        t("t").with_scope("a:b"),
        t("t").with_scope(""),
        t("u").with_scope("a"),
    ]
}

fn prefixes() -> Vec<NamespacePrefix> {
    let p = |s: &str| NamespacePrefix::new(TenantId::new(s));
    vec![
        p("t"),
        p("t").with_scope("a"),
        p("t").with_scope("a").with_scope("b"),
        p("t").with_scope("a:b"),
        p("t").with_scope(""),
        p("u"),
        p("t:a"),
        p("v"),
    ]
}

const KEYS: &[&str] = &["", "a", "ab", "a:b", "b", "é"];
const KEY_PREFIXES: &[&str] = &["", "a", "a:", "ab", "b", "z"];

#[derive(Debug, Clone)]
enum Op {
    Put {
        ns: usize,
        key: usize,
        value: u32,
    },
    PutTtl {
        ns: usize,
        key: usize,
        value: u32,
        ttl: Duration,
    },
    Get {
        ns: usize,
        key: usize,
    },
    Delete {
        ns: usize,
        key: usize,
    },
    List {
        ns: usize,
        prefix: Option<usize>,
    },
    ListNamespaces {
        prefix: usize,
    },
    Advance(Duration),
    Evict,
}

fn ttl() -> impl Strategy<Value = Duration> {
    prop_oneof![
        // Whole milliseconds (the wheel's tick), including zero.
        6 => (0u64..50).prop_map(Duration::from_millis),
        // Sub-tick precision.
        3 => (0u64..50_000).prop_map(Duration::from_micros),
        // Coarse wheel levels.
        1 => (1u64..600).prop_map(Duration::from_secs),
    ]
}

fn advance() -> impl Strategy<Value = Duration> {
    prop_oneof![
        6 => (0u64..20).prop_map(Duration::from_millis),
        3 => (0u64..20_000).prop_map(Duration::from_micros),
        1 => (1u64..300).prop_map(Duration::from_secs),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let ns = 0..spaces().len();
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (ns.clone(), key.clone(), any::<u32>())
            .prop_map(|(ns, key, value)| Op::Put { ns, key, value }),
        6 => (ns.clone(), key.clone(), any::<u32>(), ttl())
            .prop_map(|(ns, key, value, ttl)| Op::PutTtl { ns, key, value, ttl }),
        4 => (ns.clone(), key.clone()).prop_map(|(ns, key)| Op::Get { ns, key }),
        2 => (ns.clone(), key).prop_map(|(ns, key)| Op::Delete { ns, key }),
        2 => (ns, prop::option::of(0..KEY_PREFIXES.len()))
            .prop_map(|(ns, prefix)| Op::List { ns, prefix }),
        2 => (0..prefixes().len()).prop_map(|prefix| Op::ListNamespaces { prefix }),
        3 => advance().prop_map(Op::Advance),
        1 => Just(Op::Evict),
    ]
}

/// The model: `(rendered namespace, key) -> (value, expiry in clock ns)`.
#[derive(Default)]
struct Model {
    rows: BTreeMap<(String, String), (u32, Option<u128>)>,
    names: BTreeMap<String, Namespace>,
    now: u128,
}

impl Model {
    fn live(&self, expiry: Option<u128>) -> bool {
        expiry.is_none_or(|at| self.now < at)
    }

    fn put(&mut self, ns: &Namespace, key: &str, value: u32, ttl: Option<Duration>) {
        let rendered = ns.render();
        self.names.insert(rendered.clone(), ns.clone());
        let expiry = ttl.map(|d| self.now + d.as_nanos());
        self.rows
            .insert((rendered, key.to_owned()), (value, expiry));
    }

    fn get(&self, ns: &Namespace, key: &str) -> Option<u32> {
        self.rows
            .get(&(ns.render(), key.to_owned()))
            .filter(|(_, exp)| self.live(*exp))
            .map(|(v, _)| *v)
    }

    fn list(&self, ns: &Namespace, prefix: &str) -> Vec<String> {
        let rendered = ns.render();
        self.rows
            .iter()
            .filter(|((n, k), (_, exp))| *n == rendered && k.starts_with(prefix) && self.live(*exp))
            .map(|((_, k), _)| k.clone())
            .collect()
    }

    fn list_namespaces(&self, prefix: &NamespacePrefix) -> Vec<Namespace> {
        let mut out: Vec<Namespace> = Vec::new();
        for ((n, _), (_, exp)) in &self.rows {
            let ns = &self.names[n];
            if self.live(*exp) && prefix.matches(ns) && out.last() != Some(ns) {
                out.push(ns.clone());
            }
        }
        out
    }

    fn live_rows(&self) -> usize {
        self.rows
            .values()
            .filter(|(_, exp)| self.live(*exp))
            .count()
    }

    /// Drops every expired row; returns how many.
    fn evict(&mut self) -> usize {
        let before = self.rows.len();
        let now = self.now;
        self.rows
            .retain(|_, (_, exp)| exp.is_none_or(|at| now < at));
        before - self.rows.len()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().unwrap();
    }
    RT.with(|rt| rt.block_on(f))
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let spaces = spaces();
    let prefixes = prefixes();
    let clock = ManualClock::new();
    let store: SkipStore<u32> = SkipStore::builder().clock(clock.clone()).build();
    let ctx = ExecutionContext::new();
    let mut model = Model::default();

    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Put { ns, key, value } => {
                block_on(store.put(&ctx, &spaces[*ns], KEYS[*key], *value)).unwrap();
                model.put(&spaces[*ns], KEYS[*key], *value, None);
            }
            Op::PutTtl {
                ns,
                key,
                value,
                ttl,
            } => {
                let opts = PutOptions::default().with_ttl(*ttl);
                block_on(store.put_with_options(&ctx, &spaces[*ns], KEYS[*key], *value, opts))
                    .unwrap();
                model.put(&spaces[*ns], KEYS[*key], *value, Some(*ttl));
            }
            Op::Get { ns, key } => {
                let got = block_on(store.get(&ctx, &spaces[*ns], KEYS[*key])).unwrap();
                prop_assert_eq!(got, model.get(&spaces[*ns], KEYS[*key]), "step {}", step);
            }
            Op::Delete { ns, key } => {
                block_on(store.delete(&ctx, &spaces[*ns], KEYS[*key])).unwrap();
                model
                    .rows
                    .remove(&(spaces[*ns].render(), KEYS[*key].to_owned()));
            }
            Op::List { ns, prefix } => {
                let prefix = prefix.map(|p| KEY_PREFIXES[p]);
                let got = block_on(store.list(&ctx, &spaces[*ns], prefix)).unwrap();
                let want = model.list(&spaces[*ns], prefix.unwrap_or(""));
                prop_assert_eq!(got, want, "step {}", step);
            }
            Op::ListNamespaces { prefix } => {
                let prefix = &prefixes[*prefix];
                let got = block_on(store.list_namespaces(&ctx, prefix)).unwrap();
                prop_assert_eq!(got, model.list_namespaces(prefix), "step {}", step);
            }
            Op::Advance(by) => {
                clock.advance(*by);
                model.now += by.as_nanos();
            }
            Op::Evict => {
                // Rows the store still holds; the rest of the model's
                // expired rows were swept by writers' amortised steps.
                let held = store.total_entries();
                let evicted = block_on(store.evict_expired(&ctx)).unwrap();
                model.evict();
                prop_assert_eq!(held - evicted, model.rows.len(), "step {}", step);
                prop_assert_eq!(store.total_entries(), model.rows.len(), "step {}", step);
            }
        }
        if let Err(e) = store.check_invariants() {
            return Err(TestCaseError::fail(format!("step {step}: {e}")));
        }
        let total = store.total_entries();
        prop_assert!(
            model.live_rows() <= total && total <= model.rows.len(),
            "step {}: live {} <= total_entries {} <= model rows {}",
            step,
            model.live_rows(),
            total,
            model.rows.len()
        );
    }

    // Past every deadline, a final eviction leaves exactly the rows without
    // a TTL, and no timer behind.
    clock.advance(Duration::from_secs(3600));
    model.now += Duration::from_secs(3600).as_nanos();
    let held = store.total_entries();
    let evicted = block_on(store.evict_expired(&ctx)).unwrap();
    model.evict();
    prop_assert_eq!(held - evicted, model.rows.len());
    prop_assert_eq!(store.total_entries(), model.rows.len());
    prop_assert_eq!(store.stats().pending_timers, 0);
    for prefix in &prefixes {
        let got = block_on(store.list_namespaces(&ctx, prefix)).unwrap();
        prop_assert_eq!(got, model.list_namespaces(prefix));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_model(ops in prop::collection::vec(op(), 1..250)) {
        run(&ops)?;
    }
}

/// Long runs with many writes, so that writers' amortised sweep steps run
/// many times between evictions.
#[test]
fn long_random_runs_agree_with_model() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 8,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(op(), 2000..3000), |ops| run(&ops))
        .unwrap();
}
