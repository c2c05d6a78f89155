//! Unit tests of the hash set: against a map, and under racing threads.

#![allow(clippy::disallowed_types, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use super::test_member::M;
use super::{Arc, PointSet};
use crate::raw::pin;

/// `buckets` distinct hashes only, so probes meet collisions, equal
/// tags and long runs.
fn member(key: u64, buckets: u64) -> Arc<M> {
    Arc::new(M {
        key: format!("k{key}"),
        hash: (key % buckets).wrapping_mul(0x2545_F491_4F6C_DD1D),
    })
}

/// Sizes: Miri interprets every step, so it runs a small fraction (still
/// several resizes from the smallest table, and long collision runs).
const STEPS: u64 = if cfg!(miri) { 300 } else { 20_000 };
const STABLE: u64 = if cfg!(miri) { 12 } else { 200 };
const READ_ROUNDS: usize = if cfg!(miri) { 4 } else { 300 };

fn find(set: &PointSet<M>, m: &M) -> Option<Arc<M>> {
    set.get(m.hash, "s", &m.key, &pin()).map(|m| Arc::clone(&m))
}

#[test]
fn matches_a_map_through_resizes_tombstones_and_collisions() {
    for buckets in [1, 7, 64, 1 << 40] {
        let set = PointSet::new();
        let mut model: HashMap<u64, Arc<M>> = HashMap::new();
        let mut x = 0x1234_5678_9abc_def1_u64 ^ buckets;
        for step in 0..STEPS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few keys when everything collides (probes are linear).
            let key = x % if buckets == 1 { 64 } else { 3_000 };
            match x >> 60 {
                0..=7 => {
                    let m = member(key, buckets);
                    let got = set.try_insert(Arc::clone(&m), &pin());
                    match model.get(&key) {
                        Some(old) => {
                            let occupant = got.unwrap_err().unwrap();
                            assert!(Arc::ptr_eq(&occupant, old), "step {step}");
                        }
                        None => {
                            assert!(got.is_ok(), "step {step}");
                            model.insert(key, m);
                        }
                    }
                }
                8..=13 => {
                    if let Some(m) = model.remove(&key) {
                        set.remove_same(&m, &pin());
                    } else {
                        // Removing a look-alike that was never held.
                        set.remove_same(&member(key, buckets), &pin());
                    }
                }
                _ => {
                    let probe = member(key, buckets);
                    let got = find(&set, &probe);
                    assert_eq!(got.is_some(), model.contains_key(&key), "step {step}");
                    if let (Some(g), Some(m)) = (got, model.get(&key)) {
                        assert!(Arc::ptr_eq(&g, m));
                    }
                }
            }
        }
        assert_eq!(set.len(), model.len());
        let mut seen = 0;
        set.for_each(&pin(), |m| {
            seen += 1;
            assert!(model.values().any(|v| Arc::ptr_eq(v, m)));
        });
        assert_eq!(seen, model.len());
        // The set gives its counts back when dropped.
        drop(set);
        for m in model.values() {
            assert_eq!(Arc::strong_count(m), 1);
        }
    }
}

#[test]
fn racing_inserts_of_one_key_admit_one_and_readers_never_miss_stable_keys() {
    let set = PointSet::new();
    let stable: Vec<Arc<M>> = (0..STABLE).map(|k| member(k, 1 << 40)).collect();
    for m in &stable {
        set.try_insert(Arc::clone(m), &pin()).unwrap();
    }
    let stop = AtomicBool::new(false);
    let wins = std::sync::atomic::AtomicUsize::new(0);
    // Who holds each shared key: a second winner would find it taken.
    let held: Vec<AtomicBool> = (0..50).map(|_| AtomicBool::new(false)).collect();
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (set, stop, wins, held) = (&set, &stop, &wins, &held);
            s.spawn(move || {
                let mut round = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    round += 1;
                    // All three threads insert the same key each round;
                    // the round's winner removes it again. Plus churn of
                    // private keys, to force resizes.
                    let k = (round % 50) as usize;
                    let shared = member(1_000_000 + k as u64, 1 << 40);
                    if set.try_insert(Arc::clone(&shared), &pin()).is_ok() {
                        wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        assert!(
                            !held[k].swap(true, std::sync::atomic::Ordering::SeqCst),
                            "two inserts of one key both succeeded"
                        );
                        let mine = member(2_000_000 + t * 1_000_000 + round, 1 << 40);
                        set.try_insert(Arc::clone(&mine), &pin()).unwrap();
                        set.remove_same(&mine, &pin());
                        held[k].store(false, std::sync::atomic::Ordering::SeqCst);
                        set.remove_same(&shared, &pin());
                    }
                }
            });
        }
        // At least READ_ROUNDS, and on until some writer won a round (the
        // check below), however the threads were scheduled.
        let mut rounds = 0;
        while rounds < READ_ROUNDS || wins.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            rounds += 1;
            for m in &stable {
                let got = find(&set, m).expect("a stable key went missing");
                assert!(Arc::ptr_eq(&got, m));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(wins.load(std::sync::atomic::Ordering::Relaxed) > 0);
    // Every winner removed its key: only the stable ones are left.
    assert_eq!(set.len(), stable.len());
    let mut count = 0;
    set.for_each(&pin(), |_| count += 1);
    assert_eq!(count, stable.len());
}

/// A member of `shard` (by brute force over keys): every one of them lands
/// in that shard's table.
fn member_in(shard: usize, from: &mut u64) -> Arc<M> {
    loop {
        *from += 1;
        let m = member(*from, 1 << 40);
        if super::Spread::of(m.hash).shard == shard {
            return m;
        }
    }
}

/// The table each shard holds now (its address; 0 for none).
fn tables(set: &PointSet<M>) -> Vec<usize> {
    set.shards
        .iter()
        .map(|s| s.table.load(std::sync::atomic::Ordering::Acquire) as usize)
        .collect()
}

#[test]
fn a_resize_copies_one_shard_and_leaves_the_others_alone() {
    const { assert!(super::SHARDS > 1) };
    let set = PointSet::new();
    let mut from = 0;
    // Every shard gets a table.
    let mut held = Vec::new();
    for shard in 0..super::SHARDS {
        let m = member_in(shard, &mut from);
        set.try_insert(Arc::clone(&m), &pin()).unwrap();
        held.push(m);
    }
    let before = tables(&set);
    // Grow shard 0 through several resizes.
    for _ in 0..super::MIN_SLOTS * 8 {
        let m = member_in(0, &mut from);
        set.try_insert(Arc::clone(&m), &pin()).unwrap();
        held.push(m);
    }
    let after = tables(&set);
    assert_ne!(before[0], after[0], "shard 0 never resized");
    assert_eq!(before[1..], after[1..], "a resize touched another shard");
    for m in &held {
        assert!(find(&set, m).is_some());
    }
}

#[test]
fn churn_reuses_tombstoned_space_instead_of_growing() {
    let set = PointSet::new();
    let live: Vec<Arc<M>> = (0..100).map(|k| member(k, 1 << 40)).collect();
    for m in &live {
        set.try_insert(Arc::clone(m), &pin()).unwrap();
    }
    let settled = set.slots();
    // 200k rows' worth of history (2k under Miri: still dozens of
    // same-size rehashes of each test shard) through a set that never
    // holds more than 101: the tables stay the size the live members need.
    const CHURN: u64 = if cfg!(miri) { 2_000 } else { 200_000 };
    for k in 0..CHURN {
        let m = member(1_000 + k, 1 << 40);
        set.try_insert(Arc::clone(&m), &pin()).unwrap();
        set.remove_same(&m, &pin());
        assert!(set.slots() <= settled * 2, "grew to {} slots", set.slots());
    }
    assert_eq!(set.len(), live.len());
    for m in &live {
        assert!(find(&set, m).is_some());
    }
}
