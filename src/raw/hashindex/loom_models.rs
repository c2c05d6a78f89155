//! loom models of the set's own protocol: unique keys under racing inserts
//! (also across a resize), and writes racing a resize (freeze, copy,
//! publish). Under loom the set has one shard, and its releases go through
//! crossbeam-epoch's loom mode as they ship. Run with
//! `RUSTFLAGS="--cfg skipstore_loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release -p skipstore --lib hashindex::loom`.

#![allow(clippy::unwrap_used)]

use super::test_member::M;
use super::{Arc, PointSet};
use crate::raw::pin;

/// Hashes are multiples of 64, so every insert checks for crowding.
fn m(key: &'static str, n: u64) -> Arc<M> {
    Arc::new(M {
        key: key.to_owned(),
        hash: n * 64,
    })
}

fn find(set: &PointSet<M>, probe: &M) -> Option<Arc<M>> {
    set.get(probe.hash, "s", &probe.key, &pin())
        .map(|m| Arc::clone(&m))
}

#[test]
fn racing_inserts_of_one_key_admit_exactly_one() {
    loom::model(|| {
        let set = Arc::new(PointSet::new());
        let (a, b) = (m("k", 1), m("k", 1));
        let other = {
            let (set, b) = (Arc::clone(&set), Arc::clone(&b));
            loom::thread::spawn(move || set.try_insert(b, &pin()).is_ok())
        };
        let mine = set.try_insert(Arc::clone(&a), &pin()).is_ok();
        let theirs = other.join().unwrap();
        assert!(mine != theirs, "exactly one insert wins");
        let held = find(&set, &a).unwrap();
        assert!(Arc::ptr_eq(&held, if mine { &a } else { &b }));
        assert_eq!(set.len(), 1);
    });
}

#[test]
fn writes_racing_a_resize_lose_nothing() {
    // At most two preemptions, whatever LOOM_MAX_PREEMPTIONS says: three
    // threads, and with the set's releases going through crossbeam-epoch's
    // loom mode, three preemptions ran past nine minutes.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(2, |b| b.min(2)));
    builder.check(|| {
        // Four slots: with two members, the third insert crowds the
        // table (three quarters) and resizes it.
        let set = Arc::new(PointSet::new());
        let (stable, gone) = (m("stable", 1), m("gone", 2));
        set.try_insert(Arc::clone(&stable), &pin()).unwrap();
        set.try_insert(Arc::clone(&gone), &pin()).unwrap();
        let remover = {
            let (set, gone) = (Arc::clone(&set), Arc::clone(&gone));
            loom::thread::spawn(move || set.remove_same(&gone, &pin()))
        };
        let added = m("added", 3);
        let inserter = {
            let (set, added) = (Arc::clone(&set), Arc::clone(&added));
            loom::thread::spawn(move || set.try_insert(added, &pin()).is_ok())
        };
        let seen = find(&set, &stable).expect("a stable member went missing");
        assert!(Arc::ptr_eq(&seen, &stable));
        remover.join().unwrap();
        assert!(inserter.join().unwrap());
        assert!(find(&set, &gone).is_none(), "a removal was lost");
        assert!(find(&set, &added).is_some(), "an insert was lost");
        assert!(find(&set, &stable).is_some());
        assert_eq!(set.len(), 2);
    });
}

#[test]
fn racing_inserts_of_one_key_across_a_resize_admit_exactly_one() {
    loom::model(|| {
        // Two members, then the first of the racing inserts fills three
        // quarters of the four slots and resizes: the other one meets the
        // frozen table or the new one, and must find the winner either way.
        let set = Arc::new(PointSet::new());
        let (x, y) = (m("x", 1), m("y", 2));
        set.try_insert(Arc::clone(&x), &pin()).unwrap();
        set.try_insert(Arc::clone(&y), &pin()).unwrap();
        let (a, b) = (m("k", 3), m("k", 3));
        let other = {
            let (set, b) = (Arc::clone(&set), Arc::clone(&b));
            loom::thread::spawn(move || set.try_insert(b, &pin()).is_ok())
        };
        let mine = set.try_insert(Arc::clone(&a), &pin()).is_ok();
        let theirs = other.join().unwrap();
        assert!(mine != theirs, "exactly one insert wins");
        let held = find(&set, &a).unwrap();
        assert!(Arc::ptr_eq(&held, if mine { &a } else { &b }));
        assert!(find(&set, &x).is_some() && find(&set, &y).is_some());
        assert_eq!(set.len(), 3);
    });
}
