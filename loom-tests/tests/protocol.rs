//! loom models of the store's protocol: each runs the crate's own code under
//! every interleaving loom can reach within its preemption bound (see
//! `model` and `model_bounded` in this crate's `src/lib.rs`).
#![cfg(skipstore_loom)]

use std::time::Duration;

use loom::thread;
use skipstore_loom_tests::*;

const MS: Duration = Duration::from_millis(1);

/// An overwrite racing the expiry of the value it replaces: the new value
/// (no TTL) must survive; the old timer must not remove it.
#[test]
fn overwrite_racing_expiry() {
    model(|| {
        let (s, clock) = store();
        let a = ns("a");
        put(&s, &a, "k", 1, Some(MS));
        clock.advance(2 * MS);
        let writer = spawn_put(&s, &a, "k", 2, None);
        let swept = evict(&s);
        writer.join().unwrap();
        assert!(swept <= 1);
        assert_settled(&s, &a, "k", Some(2));
        assert_eq!(evict(&s), 0);
        assert_settled(&s, &a, "k", Some(2));
    });
}

/// A delete racing the expiry of the same row: exactly one removes it, and
/// afterwards nothing of it remains anywhere, the namespace included.
#[test]
fn delete_racing_expiry() {
    model(|| {
        let (s, clock) = store();
        let a = ns("a");
        put(&s, &a, "k", 1, Some(MS));
        clock.advance(2 * MS);
        let deleter = spawn_delete(&s, &a, "k");
        let swept = evict(&s);
        deleter.join().unwrap();
        assert!(swept <= 1);
        assert_settled(&s, &a, "k", None);
        assert_eq!(s.stats().namespaces, 0, "empty namespace retired");
        assert_eq!(s.total_entries(), 0);
    });
}

/// A get racing an overwrite of a present key never sees it absent.
#[test]
fn get_racing_overwrite() {
    model(|| {
        let (s, _clock) = store();
        let a = ns("a");
        put(&s, &a, "k", 1, None);
        let writer = spawn_put(&s, &a, "k", 2, None);
        let seen = get(&s, &a, "k");
        assert!(matches!(seen, Some(1 | 2)), "saw {seen:?}");
        writer.join().unwrap();
        assert_settled(&s, &a, "k", Some(2));
    });
}

/// Two writers of one key with different TTLs: whichever wrote last decides
/// the expiry; the other's timer never removes the survivor early. The row
/// exists before they race (two inserts of a new key race in
/// `a_returned_put_is_listed_while_a_racing_insert_runs`; both at once did
/// not finish in five minutes at two preemptions).
#[test]
fn two_writers_with_different_ttls() {
    model(|| {
        let (s, clock) = store();
        let a = ns("a");
        put(&s, &a, "k", 0, None);
        let short = spawn_put(&s, &a, "k", 1, Some(5 * MS));
        put(&s, &a, "k", 2, Some(10 * MS));
        short.join().unwrap();
        let winner = get(&s, &a, "k");
        assert!(matches!(winner, Some(1 | 2)));
        clock.advance(7 * MS);
        evict(&s);
        let expect = if winner == Some(2) { Some(2) } else { None };
        assert_settled(&s, &a, "k", expect);
        clock.advance(7 * MS);
        evict(&s);
        assert_settled(&s, &a, "k", None);
    });
}

/// A write that moves a row's expiry earlier races the sweep that finds the
/// row's timer early and files it again at the expiry it read. The writer
/// sees a live timer at or before its expiry and files none, or the timer
/// filed again reads the new expiry after replacing the ticket: either
/// way a timer fires by the new expiry, so the row is swept on time.
#[test]
fn earlier_expiry_racing_a_refile() {
    model(|| {
        let (s, clock) = store();
        let a = ns("a");
        put(&s, &a, "k", 1, Some(2 * MS)); // a timer at 2 ms
        put(&s, &a, "k", 2, Some(10 * MS)); // covered by it: none filed
        clock.advance(3 * MS);
        // Expires at 4 ms: before the 10 ms the sweep may file for.
        let writer = spawn_put(&s, &a, "k", 3, Some(MS));
        assert_eq!(evict(&s), 0);
        writer.join().unwrap();
        assert_settled(&s, &a, "k", Some(3));
        clock.advance(2 * MS);
        assert_eq!(evict(&s), 1, "the row outlived its expiry");
        assert_settled(&s, &a, "k", None);
    });
}

/// A namespace emptied (and retired) by a delete while another writer adds
/// a key to it: the new key is readable, listed, and its namespace listed.
#[test]
fn namespace_retirement_racing_insert() {
    model(|| {
        let (s, _clock) = store();
        let a = ns("a");
        put(&s, &a, "old", 1, None);
        let writer = spawn_put(&s, &a, "new", 2, None);
        delete(&s, &a, "old");
        writer.join().unwrap();
        assert_settled(&s, &a, "new", Some(2));
        assert_settled(&s, &a, "old", None);
        assert_eq!(s.stats().namespaces, 1);
    });
}

/// An overwrite racing the delete of its namespace's only row, which
/// retires the namespace. The overwrite takes no namespace pin while it
/// replaces a live entry (rule 1): either it replaces before the delete
/// (then the delete removes its value) or it finds the entry dead and
/// inserts anew, into a new node. Every read path agrees with `get`, and
/// the namespace is listed exactly when the key is present.
#[test]
fn overwrite_racing_delete_of_the_last_row() {
    model(|| {
        let (s, _clock) = store();
        let a = ns("a");
        put(&s, &a, "k", 1, None);
        let writer = spawn_put(&s, &a, "k", 2, None);
        delete(&s, &a, "k");
        writer.join().unwrap();
        let now = get(&s, &a, "k");
        assert!(matches!(now, None | Some(2)), "{now:?}");
        assert_settled(&s, &a, "k", now);
        assert_eq!(s.stats().namespaces, usize::from(now.is_some()));
        assert_eq!(s.total_entries(), usize::from(now.is_some()));
    });
}

/// An insert of a new key racing its delete: the outcome is one of the two
/// orders, and every read path agrees on it (no ghost in the ordered index).
#[test]
fn insert_racing_delete() {
    model(|| {
        let (s, _clock) = store();
        let a = ns("a");
        let writer = spawn_put(&s, &a, "k", 1, None);
        delete(&s, &a, "k");
        writer.join().unwrap();
        let now = get(&s, &a, "k");
        assert_settled(&s, &a, "k", now);
        delete(&s, &a, "k");
        assert_settled(&s, &a, "k", None);
        assert_eq!(s.stats().namespaces, 0);
    });
}

/// A listing racing the drain of the pending buffer into the ordered keys:
/// a key present throughout is always listed, exactly once.
#[test]
fn list_racing_drain() {
    model(|| {
        let (s, _clock) = store();
        let a = ns("a");
        put(&s, &a, "k1", 1, None);
        // The second new key fills the buffer and drains both into the keys.
        let writer = spawn_put(&s, &a, "k2", 2, None);
        let listed = list(&s, &a);
        assert_listed(&listed, &["k1"]);
        writer.join().unwrap();
        assert_settled(&s, &a, "k1", Some(1));
        assert_settled(&s, &a, "k2", Some(2));
    });
}

/// A sliding-TTL read that refreshes the expiry, racing a sweep that finds
/// the old expiry passed: either the read wins (it saw the entry and the
/// entry survives the sweep) or the sweep wins (the read sees nothing).
#[test]
fn sliding_read_racing_expiry() {
    model(|| {
        let (s, clock) = store();
        let a = ns("a");
        s.put_sliding(&a, "k", 1, 10 * MS, None);
        clock.advance(9 * MS);
        let reader = {
            let (s, a) = (s.clone(), a.clone());
            thread::spawn(move || s.get_versioned(&a, "k").map(|(v, _)| v))
        };
        clock.advance(2 * MS);
        evict(&s);
        let read = reader.join().unwrap();
        let after = list(&s, &a).contains(&"k".to_owned());
        assert_eq!(
            read.is_some(),
            after,
            "read {read:?}, present after: {after}"
        );
        assert!(s.check_invariants().is_ok());
    });
}

/// A drain that finds a buffered row expired removes it, racing the sweep
/// whose timer fires on the same row: exactly one of them removes it (one
/// expiration counted), and the row that triggered the drain stays.
#[test]
fn drain_expiry_racing_sweep() {
    model(|| {
        let (s, clock) = store();
        let a = ns("a");
        clock.advance(MS);
        put(&s, &a, "k1", 1, Some(MS));
        clock.advance(2 * MS);
        // The second new key fills the buffer; its drain finds k1 expired.
        let writer = spawn_put(&s, &a, "k2", 2, None);
        let swept = evict(&s);
        writer.join().unwrap();
        assert!(swept <= 1);
        evict(&s);
        assert_settled(&s, &a, "k1", None);
        assert_settled(&s, &a, "k2", Some(2));
        assert_eq!(s.stats().expirations, 1, "removed exactly once");
        assert_eq!(s.total_entries(), 1);
    });
}

/// A store whose next new key's put drains its namespace's write buffer,
/// keeping the soon-to-expire rows (`k1`, and the new `k2`) buffered and
/// moving the long-lived `k0` into the ordered keys, while the race runs.
///
/// Under loom a drain comes every second new row counted since the last
/// drain, not counting the rows it kept. So: `k1` (expiring) and `j`
/// (long-lived) make the first drain, which orders `j` and keeps `k1`;
/// `k0` is then buffered without a drain; the clock moves on so that the
/// next drain's horizon covers `k1` and `k2` (it keeps rows expiring within
/// eight times the interval since the last drain). The racing put of `k2`
/// is the second new row: its drain moves `k0`, a row that was listed
/// before the race, from the buffer to the ordered keys. (An earlier setup
/// drained in the setup itself and left the race nothing to move: listing
/// the ordered keys before the buffer, which loses a moving row, passed.)
fn store_to_drain() -> (skipstore::SkipStore<u32>, entelix_memory::Namespace) {
    let (s, clock) = store();
    let a = ns("a");
    clock.advance(MS);
    put(&s, &a, "k1", 1, Some(3 * MS));
    put(&s, &a, "j", 9, None);
    put(&s, &a, "k0", 0, None);
    clock.advance(MS);
    (s, a)
}

/// Checks the rows of [`store_to_drain`] once its race is over: `k1` as
/// `k1` says (deleted or not), the others as written.
fn assert_drained(s: &skipstore::SkipStore<u32>, a: &entelix_memory::Namespace, k1: Option<u32>) {
    assert_settled(s, a, "k1", k1);
    assert_settled(s, a, "k0", Some(0));
    assert_settled(s, a, "k2", Some(2));
    assert_settled(s, a, "j", Some(9));
    assert_eq!(s.total_entries(), 3 + usize::from(k1.is_some()));
}

/// A drain that keeps a soon-to-expire row buffered and orders the other,
/// racing a listing: the listing sees the ordered (long-lived) row exactly
/// once, wherever the drain is in moving it. (Two models rather than one
/// with three threads: that one did not finish in ten minutes at three
/// preemptions.)
#[test]
fn drain_keeping_racing_list() {
    model(|| {
        let (s, a) = store_to_drain();
        let writer = spawn_put(&s, &a, "k2", 2, Some(3 * MS));
        let listed = list(&s, &a);
        assert_listed(&listed, &["j", "k0", "k1"]);
        writer.join().unwrap();
        assert_drained(&s, &a, Some(1));
    });
}

/// A drain that keeps a soon-to-expire row buffered, racing a delete of
/// that row: the deleted row ends up nowhere (not listed, not counted, its
/// count given back: loom fails a leaked `Arc`), whether the drain saw it
/// live, dead, or not yet.
#[test]
fn drain_keeping_racing_delete() {
    model(|| {
        let (s, a) = store_to_drain();
        let deleter = spawn_delete(&s, &a, "k1");
        put(&s, &a, "k2", 2, Some(3 * MS));
        deleter.join().unwrap();
        assert_drained(&s, &a, None);
    });
}

/// Both races at once, a listing and a delete racing the keeping drain, at
/// one preemption (with three threads, three preemptions did not finish in
/// ten minutes; the two-thread models above take each race at three).
#[test]
fn drain_keeping_racing_list_and_delete() {
    model_bounded(1, || {
        let (s, a) = store_to_drain();
        let deleter = spawn_delete(&s, &a, "k1");
        let writer = spawn_put(&s, &a, "k2", 2, Some(3 * MS));
        let listed = list(&s, &a);
        assert_listed(&listed, &["j", "k0"]);
        deleter.join().unwrap();
        writer.join().unwrap();
        assert_drained(&s, &a, None);
    });
}

/// Two writers insert the same new key into a namespace: whichever `put`
/// returns first, the key is readable, listed and its namespace listed by
/// listings that start after it returned, whatever the other writer is
/// doing meanwhile (the entry is buffered before it is published). The
/// loser's buffered entry never shows.
#[test]
fn a_returned_put_is_listed_while_a_racing_insert_runs() {
    // The namespace exists before the race (another key in it), and two
    // preemptions: with both inserts also creating the namespace, every
    // write probing the shipping hash index twice, this did not finish in
    // five minutes even at one preemption. A new namespace racing its
    // first writes is `namespace_retirement_racing_insert`'s.
    model_bounded(2, || {
        let (s, _clock) = store();
        let a = ns("a");
        put(&s, &a, "j", 0, None);
        let other = spawn_put(&s, &a, "k", 1, None);
        put(&s, &a, "k", 2, None);
        assert!(get(&s, &a, "k").is_some());
        assert_eq!(
            list(&s, &a),
            ["j".to_owned(), "k".to_owned()],
            "put returned, not listed"
        );
        assert_eq!(list_namespaces(&s), [a.clone()], "namespace not listed");
        other.join().unwrap();
        let now = get(&s, &a, "k");
        assert!(now.is_some());
        assert_settled(&s, &a, "k", now);
        assert_eq!(s.total_entries(), 2);
    });
}
