//! The local tier, and the protocol that keeps it from serving a value that
//! Redis has since replaced.
//!
//! # Ground rules
//!
//! * A local copy is tagged with the **epoch** it was filled in. Every full
//!   clear (tracking lost, tracking re-established, `FLUSHALL`) advances the
//!   epoch, which kills every older copy at once: a hit checks the tag. Dead
//!   copies leave memory when their local TTL ends (at most the local cap),
//!   when an invalidation names them, or when the entry bound evicts them.
//! * Keys hash to **stripes**, each a mutex around a generation counter. An
//!   invalidation of a key advances its stripe's generation and removes the
//!   local copy, under the stripe's lock.
//! * A **fill** (a miss that read Redis) takes a [`Ticket`] before it sends
//!   its request: the epoch and its stripe's generation, or no ticket at all
//!   while tracking is down. It installs its answer only if, under the
//!   stripe's lock, tracking is up and neither the epoch nor the generation
//!   moved. So an answer that left Redis before a write whose invalidation
//!   has been processed here is never installed, and an answer read before
//!   a disconnection (or across one) never is either.
//! * At most one fill per key and ticket is in flight (`fill.rs`): misses
//!   of a key while its fill is in flight, with the same ticket, wait for
//!   its answer instead of sending their own. Fills that may install are
//!   therefore sent one after another, so installs follow Redis's order
//!   (two fills racing with the same ticket could otherwise install an
//!   older answer over a newer one that a caller had already seen).
//! * An answer handed to a caller but not installed (a fill whose ticket
//!   no longer holds, an absent row, a read made while tracking is down)
//!   invalidates its key. Such a request may have been sent after that of
//!   a fill with a later ticket (its task descheduled in between), and so
//!   be newer than what that fill installs; the invalidation fails or
//!   removes that copy, so reads on one replica never go back in time.
//! * Redis sends the invalidation of a write after executing it, so a
//!   request sent after the ticket was taken either sees the write or is
//!   followed by its invalidation: a stale copy lives at most until that
//!   invalidation arrives.
//!
//! The stripe lock is held for a generation check and one local write (or
//! delete); no user code runs under it except, at worst, the drop of a
//! value that the local store retires (deferred by its epoch reclamation),
//! and a panic there leaves the generation advanced, which only costs a
//! miss (the lock recovers from poisoning).

use std::hash::{BuildHasher, Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entelix_memory::Namespace;

use super::stats::{Counters, NearStats, bump};
use crate::SkipStore;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, lock};

/// Stripes of generation counters (a power of two). More stripes, fewer
/// fills discarded for an invalidation of an unrelated key of the stripe.
const STRIPES: usize = 1024;

/// A local copy: the value and the epoch it was filled in.
#[derive(Clone)]
struct Local<V> {
    epoch: u64,
    value: V,
}

/// What a fill saw before it sent its request (see the ground rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub(super) epoch: u64,
    pub(super) stripe: usize,
    pub(super) generation: u64,
}

/// One stripe: the generation of its keys and the fills in flight.
pub(crate) struct Stripe<V> {
    pub(super) generation: u64,
    pub(super) flights: Vec<super::fill::Flight<V>>,
}

/// The local tier of one near cache, shared by its clones and its tracker.
pub(crate) struct Tier<V>
where
    V: Clone + Send + Sync + 'static,
{
    local: SkipStore<Local<V>>,
    /// Tracking is established: hits and fills are allowed.
    up: AtomicBool,
    epoch: AtomicU64,
    /// The tracking session whose losses count (older sessions' are
    /// ignored); set before its links are opened.
    link: AtomicU64,
    /// The last session reported lost: one lost while it was being opened
    /// must not come up.
    lost_link: AtomicU64,
    /// Names fills in flight.
    pub(super) next_flight: AtomicU64,
    pub(super) stripes: Box<[Mutex<Stripe<V>>]>,
    hasher: foldhash::fast::FixedState,
    cap: Duration,
    pub(crate) counters: Counters,
    /// Wakes the tracker when its link was reported lost.
    pub(crate) lost: tokio::sync::Notify,
    #[cfg(test)]
    pub(crate) gate: Mutex<Option<crate::sync::Arc<Gate>>>,
}

/// A pause point between a fill's remote answer and its install, for the
/// deterministic race tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Gate {
    pub(crate) reached: tokio::sync::Notify,
    pub(crate) release: tokio::sync::Notify,
}

impl<V> Tier<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// An empty tier, down until [`Self::go_up`], holding at most
    /// `max_entries` copies, each for at most `cap`.
    pub(crate) fn new(max_entries: usize, cap: Duration) -> Self {
        Self {
            local: SkipStore::builder().max_entries(max_entries).build(),
            up: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            link: AtomicU64::new(0),
            lost_link: AtomicU64::new(0),
            next_flight: AtomicU64::new(0),
            stripes: (0..STRIPES)
                .map(|_| {
                    Mutex::new(Stripe {
                        generation: 0,
                        flights: Vec::new(),
                    })
                })
                .collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
            cap,
            counters: Counters::default(),
            lost: tokio::sync::Notify::new(),
            #[cfg(test)]
            gate: Mutex::new(None),
        }
    }

    pub(super) fn stripe(&self, ns: &Namespace, key: &str) -> usize {
        let mut h = self.hasher.build_hasher();
        ns.tenant_id().as_str().hash(&mut h);
        ns.scope().hash(&mut h);
        key.hash(&mut h);
        // Truncation is the point: the low bits pick the stripe.
        #[allow(clippy::cast_possible_truncation)]
        let bits = h.finish() as usize;
        bits & (STRIPES - 1)
    }

    /// The local copy of `(ns, key)`, if tracking is up and the copy is of
    /// the current epoch. Never waits.
    pub(crate) fn hit(&self, ns: &Namespace, key: &str) -> Option<V> {
        if !self.up.load(Ordering::SeqCst) {
            self.counters.misses.add(1);
            return None;
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let found = self
            .local
            .inner
            .engine
            .read(ns, key, |v| {
                (v.value.epoch == epoch).then(|| v.value.value.clone())
            })
            .flatten();
        if found.is_some() {
            self.counters.local_hits.add(1);
        } else {
            self.counters.misses.add(1);
        }
        found
    }

    /// Taken before a fill's request; `None` while tracking is down (the
    /// answer will not be installed).
    #[cfg(test)]
    pub(crate) fn ticket(&self, ns: &Namespace, key: &str) -> Option<Ticket> {
        let stripe = self.stripe(ns, key);
        let generation = lock(&self.stripes[stripe]).generation;
        self.ticket_at(stripe, generation)
    }

    /// A ticket for `stripe` whose generation (read under its lock) is
    /// `generation`; `None` while tracking is down.
    pub(super) fn ticket_at(&self, stripe: usize, generation: u64) -> Option<Ticket> {
        if !self.up.load(Ordering::SeqCst) {
            return None;
        }
        Some(Ticket {
            epoch: self.epoch.load(Ordering::SeqCst),
            stripe,
            generation,
        })
    }

    /// Installs a fill's answer unless its key was invalidated, or the tier
    /// cleared, since `ticket` was taken (then the answer is dropped and
    /// counted). `deadline_us` is the row's deadline in µs since the Unix
    /// epoch; the copy lives until it, or for the local cap, whichever ends
    /// first. Returns whether it installed.
    #[cfg(test)]
    pub(crate) fn install(
        &self,
        ticket: Ticket,
        ns: &Namespace,
        key: &str,
        value: V,
        deadline_us: Option<u128>,
    ) -> bool {
        let mut stripe = lock(&self.stripes[ticket.stripe]);
        self.install_locked(&mut stripe, ticket, ns, key, value, deadline_us)
    }

    /// [`Self::install`] with the ticket's stripe already locked.
    pub(super) fn install_locked(
        &self,
        stripe: &mut Stripe<V>,
        ticket: Ticket,
        ns: &Namespace,
        key: &str,
        value: V,
        deadline_us: Option<u128>,
    ) -> bool {
        let ttl = match deadline_us {
            None => self.cap,
            Some(deadline) => {
                let now_ns = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let left_ns = (deadline * 1_000).saturating_sub(now_ns);
                let left = Duration::from_nanos(u64::try_from(left_ns).unwrap_or(u64::MAX));
                left.min(self.cap)
            }
        };
        if ttl.is_zero() {
            return false;
        }
        let current = stripe.generation == ticket.generation
            && self.up.load(Ordering::SeqCst)
            && self.epoch.load(Ordering::SeqCst) == ticket.epoch;
        if !current {
            bump(&self.counters.fills_discarded);
            return false;
        }
        let local = Local {
            epoch: ticket.epoch,
            value,
        };
        self.local.inner.engine.put(ns, key, local, Some(ttl));
        bump(&self.counters.fills);
        true
    }

    /// Forgets the local copy of `(ns, key)` and fails every fill of its
    /// stripe still in flight.
    pub(crate) fn invalidate(&self, ns: &Namespace, key: &str) {
        let stripe = self.stripe(ns, key);
        self.invalidate_locked(&mut lock(&self.stripes[stripe]), ns, key);
    }

    /// [`Self::invalidate`] with the key's stripe already locked.
    pub(super) fn invalidate_locked(&self, stripe: &mut Stripe<V>, ns: &Namespace, key: &str) {
        stripe.generation = stripe.generation.wrapping_add(1);
        self.local.inner.engine.delete(ns, key);
    }

    /// Forgets every local copy and fails every fill in flight (`FLUSHALL`).
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        bump(&self.counters.full_clears);
    }

    /// Session `link` is about to be opened: its losses count from now on,
    /// even before it is up (so that a link that drops while the others
    /// are still being opened keeps the session from coming up).
    pub(crate) fn expect(&self, link: u64) {
        self.link.store(link, Ordering::SeqCst);
    }

    /// Tracking on `link` is established: a new epoch, then hits and fills
    /// again. Copies and fills from before are dead. Returns `false`, and
    /// stays down, if `link` was already reported lost.
    pub(crate) fn go_up(&self, link: u64) -> bool {
        self.link.store(link, Ordering::SeqCst);
        self.clear();
        self.up.store(true, Ordering::SeqCst);
        // A loss reported before the store above is seen here; one reported
        // after it takes the tier down itself.
        if self.lost_link.load(Ordering::SeqCst) == link {
            self.go_down(link);
            return false;
        }
        true
    }

    /// Tracking on `link` is lost (a disconnection, a failed heartbeat):
    /// every read goes to Redis from now on, and nothing is filled, until
    /// [`Self::go_up`]. Losses of older links are ignored.
    pub(crate) fn go_down(&self, link: u64) {
        if self.link.load(Ordering::SeqCst) != link {
            return;
        }
        self.lost_link.store(link, Ordering::SeqCst);
        if self.up.swap(false, Ordering::SeqCst) {
            self.clear();
        }
        self.lost.notify_one();
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    pub(crate) fn stats(&self) -> NearStats {
        self.counters.snapshot(self.is_up())
    }

    /// Local copies held, dead ones not yet removed included.
    pub(crate) fn local_entries(&self) -> usize {
        self.local.total_entries()
    }

    /// The generation of `(ns, key)`'s stripe (tests wait for it to move).
    #[cfg(test)]
    pub(crate) fn generation(&self, ns: &Namespace, key: &str) -> u64 {
        lock(&self.stripes[self.stripe(ns, key)]).generation
    }

    /// Takes the test gate, if one is set (the first fill after it was set
    /// pauses on it).
    #[cfg(test)]
    pub(crate) fn take_gate(&self) -> Option<crate::sync::Arc<Gate>> {
        lock(&self.gate).take()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use entelix_core::TenantId;

    use super::*;

    fn ns() -> Namespace {
        Namespace::new(TenantId::new("t")).with_scope("s")
    }

    #[test]
    fn a_fill_after_an_invalidation_of_its_key_is_dropped() {
        let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
        tier.go_up(1);
        let ticket = tier.ticket(&ns(), "k").unwrap();
        tier.invalidate(&ns(), "k");
        assert!(!tier.install(ticket, &ns(), "k", 1, None));
        assert_eq!(tier.hit(&ns(), "k"), None);
        let ticket = tier.ticket(&ns(), "k").unwrap();
        assert!(tier.install(ticket, &ns(), "k", 2, None));
        assert_eq!(tier.hit(&ns(), "k"), Some(2));
        let stats = tier.stats();
        assert_eq!((stats.fills, stats.fills_discarded), (1, 1));
    }

    #[test]
    fn a_fill_across_a_loss_of_tracking_is_dropped_even_after_it_comes_back() {
        let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
        tier.go_up(1);
        let ticket = tier.ticket(&ns(), "k").unwrap();
        tier.go_down(1);
        assert_eq!(tier.ticket(&ns(), "k"), None);
        tier.go_up(2);
        assert!(!tier.install(ticket, &ns(), "k", 1, None));
        assert_eq!(tier.hit(&ns(), "k"), None);
    }

    #[test]
    fn a_clear_kills_every_copy_and_old_links_do_not_count() {
        let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
        tier.go_up(1);
        let ticket = tier.ticket(&ns(), "k").unwrap();
        assert!(tier.install(ticket, &ns(), "k", 1, None));
        tier.clear();
        assert_eq!(tier.hit(&ns(), "k"), None);
        tier.go_up(2);
        tier.go_down(1);
        assert!(
            tier.is_up(),
            "a loss of an older link took the new one down"
        );
        tier.go_down(2);
        assert!(!tier.is_up());
    }

    #[test]
    fn a_session_lost_while_it_opens_does_not_come_up() {
        let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
        assert!(tier.go_up(1));
        tier.go_down(1);
        tier.expect(2);
        // One of session 2's links drops before the others are open.
        tier.go_down(2);
        assert!(!tier.go_up(2));
        assert!(!tier.is_up());
        assert_eq!(tier.ticket(&ns(), "k"), None);
        tier.expect(3);
        assert!(tier.go_up(3));
        assert!(tier.is_up());
    }

    #[test]
    fn copies_live_no_longer_than_the_row_or_the_cap() {
        let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
        tier.go_up(1);
        let past = 1_u128;
        let ticket = tier.ticket(&ns(), "k").unwrap();
        assert!(!tier.install(ticket, &ns(), "k", 1, Some(past)));
        let zero_cap: Tier<u32> = Tier::new(100, Duration::ZERO);
        zero_cap.go_up(1);
        let ticket = zero_cap.ticket(&ns(), "k").unwrap();
        assert!(!zero_cap.install(ticket, &ns(), "k", 1, None));
    }
}
