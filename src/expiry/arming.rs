//! An entry's claim on the wheel: the ticket of the one timer that counts
//! for it (see the parent module's docs and protocol rule 6 in
//! `engine/mod.rs`).

use crate::sync::{AtomicU64, Ordering};

/// Bits of a ticket that count the arms of one entry; the bits above hold
/// the timer's tick plus one (ticks of finite expiries are below 2^45).
const ARM_BITS: u32 = 19;
const ARM_MASK: u64 = (1 << ARM_BITS) - 1;
/// No timer counts for the entry.
const UNARMED: u64 = 0;

/// An entry's claim on the wheel (see the module docs): the ticket of the
/// timer that counts for it, or none.
///
/// A ticket is the timer's tick and a count of the entry's arms, so a
/// stale timer is told from the live one even when both sit at the same
/// tick (unless 2^19 arms of one entry wrapped the count meanwhile: then a
/// stale timer is kept until its tick, and nothing else happens).
/// Every change is a CAS or a swap, and a ticket is replaced only by the
/// thread that holds the timer it names (refile, disarm) or by a writer
/// that files a new timer (arm), so whoever changes it knows which timer
/// stopped counting.
pub(crate) struct Arming(AtomicU64);

/// What [`Arming::arm`] decided.
pub(crate) enum Arm {
    /// A live timer fires at or before the tick: nothing to do.
    Covered,
    /// File a timer with this ticket.
    New(u64),
    /// The ticket changed since it was read: read again.
    Raced,
}

impl Arming {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(UNARMED))
    }

    fn ticket(tick: u64, after: u64) -> u64 {
        debug_assert!(
            tick < (1 << (64 - ARM_BITS)) - 1,
            "tick {tick} out of range"
        );
        ((tick + 1) << ARM_BITS) | ((after + 1) & ARM_MASK)
    }

    /// The tick of the timer a ticket names.
    pub(crate) fn tick_of(ticket: u64) -> u64 {
        (ticket >> ARM_BITS).saturating_sub(1)
    }

    /// The current ticket (SeqCst: see `Engine::arm`).
    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    pub(crate) fn is_live(&self, ticket: u64) -> bool {
        self.current() == ticket
    }

    /// For an expiry in tick `tick`, given the ticket `seen` read before the
    /// expiry: covered by the live timer, or a new ticket to file.
    pub(crate) fn arm(&self, seen: u64, tick: u64) -> Arm {
        if seen != UNARMED && Self::tick_of(seen) <= tick {
            return Arm::Covered;
        }
        let ticket = Self::ticket(tick, seen);
        match self
            .0
            .compare_exchange(seen, ticket, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Arm::New(ticket),
            Err(_) => Arm::Raced,
        }
    }

    /// The holder of the live timer `ticket` files it again at `tick`;
    /// `None` if it stopped counting meanwhile.
    pub(crate) fn refile(&self, ticket: u64, tick: u64) -> Option<u64> {
        let next = Self::ticket(tick, ticket);
        self.0
            .compare_exchange(ticket, next, Ordering::SeqCst, Ordering::SeqCst)
            .ok()
            .map(|_| next)
    }

    /// The holder of timer `ticket` drops it: no timer counts any more,
    /// unless another one already does.
    pub(crate) fn disarm(&self, ticket: u64) {
        let _ = self
            .0
            .compare_exchange(ticket, UNARMED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The entry is dead: whatever timer counted stops counting.
    pub(crate) fn disarm_any(&self) {
        self.0.store(UNARMED, Ordering::SeqCst);
    }
}
