//! The write buffer's drains: when a namespace's buffered rows move into
//! its ordered keys, and which wait (protocol rule 1 in [`super`]).

use super::{Cause, Engine, Notices};
use crate::entry::{Entry, Publication};
use crate::namespace::NsNode;
use crate::raw::Guard;
#[cfg(doc)]
use crate::raw::pending::Pending;
use crate::raw::pending::{Drained, Reach};
use crate::raw::slot::Version;
use crate::sync::{Arc, Ordering, fence};

// The sizes below are smaller under tests and loom, so that a few operations
// reach every path (a drain, a sweep step, a prune); only the numbers change,
// the code is the same.

/// Rows pushed into a namespace's buffer since its last drain that make a
/// write drain it (what the drain moves into the ordered keys: [`Drain`]).
#[cfg(not(any(test, skipstore_loom)))]
pub(super) const DRAIN_AT: usize = 32;
#[cfg(any(test, skipstore_loom))]
pub(super) const DRAIN_AT: usize = 2;

/// Live rows a write's drain may leave buffered in a namespace without
/// ordered keys (see [`Drain::Write`]): the kept run's bound, so that
/// such drains still walk only the rows pushed since the previous one.
#[cfg(not(any(test, skipstore_loom)))]
const LAZY_MAX: usize = KEEP_MAX - DRAIN_AT;
#[cfg(all(test, not(skipstore_loom)))]
const LAZY_MAX: usize = 2;
#[cfg(skipstore_loom)]
const LAZY_MAX: usize = 0;

/// Live entries one drain may leave in the buffer because they expire soon.
///
/// Eight drains' worth: a namespace churned at a few thousand short-lived
/// rows a second holds about a hundred of them live at a time; with room
/// for 64 (the earlier bound) half of them went into the skiplist and were
/// searched for twice when they expired (18% of a 2-thread churn profile
/// at 100 namespaces, BENCHMARKS.md, issue 15).
///
/// It bounds the kept run as well: a drain walks only the entries pushed
/// since the previous drain (whose kept run, dead entries included, stays
/// as it was) while that run holds at most `KEEP_MAX - DRAIN_AT`, and every
/// entry once it holds more (or once the namespace retires). At 100
/// namespaces of 1-50 ms rows a namespace keeps about 150, so about one
/// drain in three walks them, not every drain (BENCHMARKS.md, issue 15,
/// "Drains of new rows"). The price: until that walk, dead entries of the
/// run stay buffered (their memory, not their rows: each is already out of
/// every index and count), at most `KEEP_MAX - DRAIN_AT` per namespace.
/// Under tests and loom every drain walks every entry.
#[cfg(not(any(test, skipstore_loom)))]
pub(super) const KEEP_MAX: usize = 8 * DRAIN_AT;
#[cfg(any(test, skipstore_loom))]
pub(super) const KEEP_MAX: usize = 2;

/// "Soon", in drain intervals: a drain leaves buffered the live entries that
/// expire within this many of the intervals since the previous drain.
///
/// The trade: a buffered entry costs each drain one look at its slot (a
/// cache miss or two, about a hundred instructions); ordering it costs a
/// skiplist insert and, when it expires, a search and an unlink (tens of
/// misses, about 3,900 instructions). An entry that expires within a dozen
/// or so drains is cheaper left where it is; the interval measures how
/// often drains come (one per [`DRAIN_AT`] new rows). At 8, a namespace
/// churned at 10 k rows a second ordered half of its 1-50 ms rows (20% of
/// the instructions went to the skiplist; BENCHMARKS.md, issue 15,
/// "Writers' sweep steps"); [`KEEP_MAX`] still bounds each drain's looks.
const KEEP_DRAINS: u64 = 16;

/// What a drain does with the live rows it does not leave buffered because
/// they expire soon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drain {
    /// A write's drain. In a namespace whose ordered keys are empty (never
    /// ordered, or emptied since), live rows stay buffered, up to
    /// [`LAZY_MAX`]; past it, and in a namespace that has ordered keys,
    /// they are ordered.
    ///
    /// The buffer is an unordered list of the entries themselves, so a row
    /// that waits there costs no memory of its own, where a skiplist node
    /// costs about 36 bytes and its insert about 1,600 instructions and a
    /// dozen cache misses. Lists read the buffer's rows as well, sorted,
    /// and a list that sorted many leaves its sorted copy on the buffer for
    /// the lists after it (8 bytes a row, see [`Pending::sorted`]); so a
    /// namespace that is listed keeps its rows buffered as well (BENCHMARKS.md, issue 15, "Nineteenth session:
    /// listed rows stay in the buffer"). A namespace that outgrows the
    /// bound is ordered as before.
    Write,
    /// Orders every live row that does not expire soon: the eviction
    /// clock's drain (which chooses among ordered rows), and the drains of
    /// idle and retired nodes.
    Order,
}

/// Which live rows one drain step may leave in the buffer (see
/// [`Engine::settle`]).
#[derive(Clone, Copy, Debug)]
struct Keep {
    /// Those that expire soon (the kept run is below [`KEEP_MAX`]).
    soon: bool,
    /// Any (see [`Drain::Write`]).
    any: bool,
}

impl<V> Engine<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Settles `node`'s pending entries (those `reach` selects): drops the
    /// dead, removes the expired (as their timers would; a list's drain
    /// leaves them), leaves in the buffer (up to [`KEEP_MAX`]) those that
    /// expire soon and those `drain` keeps whatever their expiry (see
    /// [`Drain`]), and moves the rest into the ordered keys. Returns at
    /// once if another thread is draining `node`.
    pub(super) fn drain(
        &self,
        node: &NsNode<V>,
        reach: Reach,
        drain: Drain,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) {
        loop {
            // Live rows this drain may leave buffered whatever their expiry.
            // `is_empty` is approximate under concurrent inserts and
            // removals: it decides where a row waits, not whether it is
            // found.
            let keep_any = match drain {
                Drain::Write if node.keys.is_empty() => LAZY_MAX,
                Drain::Write | Drain::Order => 0,
            };
            let now = self.now();
            // Racy when drains overlap (only one of them runs): an estimate.
            let interval = now.saturating_sub(node.drained_at.swap(now, Ordering::Relaxed));
            let soon = now.saturating_add(interval.saturating_mul(KEEP_DRAINS));
            // Out of `notices` while `settle` borrows it, and back after.
            let mut removed = std::mem::replace(&mut notices.drained, Drained::new());
            // A retired node's buffer must empty.
            let reach = if node.is_retired() { Reach::All } else { reach };
            let drained = node
                .pending
                .drain_with(guard, &mut removed, reach, |entry, kept| {
                    let keep = Keep {
                        soon: kept < KEEP_MAX,
                        any: kept < keep_any,
                    };
                    self.settle(node, entry, (now, soon), keep, notices, guard)
                });
            notices.drained = removed;
            if !drained {
                return; // The active drainer re-checks below when it is done.
            }
            // Loop only while there is something to drop: each pass removes
            // what it saw, so this ends.
            if !node.is_retired() || node.pending.is_empty() {
                return;
            }
        }
    }

    /// Decides one pending entry's fate (see [`drain`](Self::drain));
    /// returns whether it stays in the buffer.
    ///
    /// Removing an expired entry here is what its timer would do, a little
    /// earlier: the same exact-time claim on the same version, so a
    /// concurrent sliding read either extends it first or finds it gone, and
    /// the timer later finds the entry dead and is dropped. It keeps rows
    /// held close to the live set when sweeps fall behind (writers on every
    /// core), at the cost of work the sweep would have done anyway.
    fn settle(
        &self,
        node: &NsNode<V>,
        entry: &Arc<Entry<V>>,
        (now, soon): (u64, u64),
        keep: Keep,
        notices: &mut Notices<V>,
        guard: &Guard,
    ) -> bool {
        match entry.publication() {
            Publication::Published => {}
            Publication::Void => return false,
            // Its insert is still deciding: keep it, unless killed already
            // (it was in `entries`). Its slot is not ours to read.
            Publication::Fresh => return !entry.slot.is_dead(),
        }
        let Some(expires_at) = entry.slot.load(guard).map(|v| v.expires_at()) else {
            return false; // dead: drop it
        };
        if expires_at <= now {
            let claim = |v: &Version<V>| v.claim_expired(now);
            if self.kill(entry, claim, Cause::Expired, notices, guard) {
                return false;
            }
        }
        if keep.any || (keep.soon && expires_at <= soon) {
            return true;
        }
        self.order(node, entry);
        false
    }

    /// Adds a pending entry to its namespace's ordered keys, unless dead.
    fn order(&self, node: &NsNode<V>, entry: &Arc<Entry<V>>) {
        if entry.slot.is_dead() {
            return;
        }
        node.keys.insert_over_gone(entry);
        entry.set_in_keys();
        // Pairs with the fence in `kill`: one of the two sees the other, so a
        // dead entry never stays in `keys`.
        fence(Ordering::SeqCst);
        if entry.slot.is_dead() {
            node.keys.remove_same(entry);
        }
    }
}
