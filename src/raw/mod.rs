//! The raw layer: every `unsafe` block of the crate, and every decision to
//! free memory that another thread may still be reading.
//!
//! | module | what it owns |
//! |---|---|
//! | [`slot`] | an entry's current version (inline first version, tagged pointer) |
//! | [`pending`] | a namespace's intrusive write buffer |
//! | [`hashindex`] | the point set: the hash index's table of member counts |
//! | [`retire`] | batches of unlinked objects handed to the epoch |
//! | [`text`] | the namespace render's one-pass copy of a clean segment |
//!
//! Above it the engine is safe code: it sees typed handles (`Arc`s,
//! [`Lent`] members, the versions [`slot::Slot::load`] and the slot's
//! writes hand out ([`slot::Displaced`]),
//! [`slot::Graveyard`]), never an address, and what it may do with them
//! cannot free anything early. The crate root denies `unsafe_code`
//! everywhere but here.
//!
//! # The guard
//!
//! Every raw operation that reads memory another thread may retire takes
//! the caller's [`Guard`] (an epoch pin made by [`pin`]), as
//! crossbeam-epoch's own data structures do, and every reference it hands
//! out lives no longer than that guard: the borrow checker, not a comment,
//! keeps the engine from using a version or a member after its pin. An
//! operation pins once and passes the guard down; nothing in this layer
//! pins on its own behalf but retirement (a [`retire::Batch`] that defers
//! its objects when it drops) and the [`slot::Keepsakes`] that outlive the
//! operation's guard by design.
//!
//! [`Guard`] is this layer's own type, made only by [`pin`], so it always
//! pins crossbeam-epoch's default collector, the one every deferral here
//! goes to: a guard of another `Collector` (which safe code could make)
//! would protect nothing that this layer frees.
//!
//! # Invariants
//!
//! Stated once; every `// SAFETY:` comment in this layer names the ones it
//! relies on.
//!
//! * **R1 (grace)**: memory that a pinned reader may reach (a boxed
//!   version, a displaced inline version, a buffered item's or a point
//!   set member's strong count, a replaced hash table) is freed only by a
//!   crossbeam-epoch deferral made *after* it became unreachable for
//!   threads that pin from then on. Readers dereference such memory only
//!   while pinned, for no longer than the pin: the pin is a `Guard` whose
//!   lifetime bounds every reference handed out under it.
//! * **R2 (one unlinker)**: whatever unlinks an object (a slot CAS, a
//!   drain, a tombstone CAS, a table swap) succeeds in exactly one thread,
//!   and that thread alone hands it to retirement, once.
//! * **R3 (dead is final, killed before unlinked)**: a dead slot never
//!   holds a version again (only tag bits change), and the point set
//!   hands a member it unlinked the proof of its release ([`Unlinked`])
//!   only if it saw the member gone before the unlink ([`hashindex`]); an
//!   entry is gone once its slot is dead, and its release drops only the
//!   slot that lies in its own bytes. So the grace period of that release
//!   covers every reader of the version the kill displaced, and the
//!   release may drop it ([`slot::Slot::release_killed`]).
//! * **R4 (one owner of the inline cell)**: a slot's inline cell holds an
//!   initialised version exactly while the slot's pointer marks it
//!   (`INLINE` or `KILLED`), or while the one writer whose CAS claimed it
//!   (cleared `FREE`) places a version there. It is written only by its
//!   owner of the moment: the slot's creator, the claiming writer, or the
//!   release that drops a displaced version after R1's grace period and
//!   only then marks it `FREE` (Release; the claim is an acquiring CAS).
//! * **R5 (exclusive drop)**: `&mut self` (a `Drop`) means no other thread
//!   can reach the structure: it frees what it still owns without a pin.
//! * **R6 (counted members)**: the write buffer and the point set own one
//!   strong count of each item they hold, taken with `Arc::into_raw` when
//!   the item is published and given back once: after R1's grace period
//!   once unlinked (R2), or under R5. A borrowed view ([`Lent`]) never
//!   gives one back.
//! * **R7 (single drainer)**: only the holder of a buffer's drain flag
//!   writes the link of a published item; a pusher writes only the link of
//!   its own item, before publishing it.
//! * **R8 (shared across threads)**: a container that hands out `&T` to
//!   several threads and moves `T` between them is `Send`/`Sync` exactly
//!   when `T: Send + Sync`.
//! * **R9 (bits only)**: `crossbeam_epoch::unprotected()` is used only to
//!   load or change a pointer's bits (is the slot dead, which tag), never
//!   to dereference what it points at.
//! * **R10 (whole UTF-8 copies)**: bytes written into a `String`'s spare
//!   capacity become part of it only as a whole copy of a `&str`.

pub(crate) mod hashindex;
pub(crate) mod pending;
pub(crate) mod retire;
pub(crate) mod slot;
pub(crate) mod text;

use crate::sync::Arc;

/// Runs `f` under loom with at most two preemptions (the raw layer's
/// models: slot, write buffer): with crossbeam-epoch's own atomics in the
/// model, three (the CI's bound for the store's models) took these models
/// past five minutes each on the CI's two cores.
#[cfg(all(test, skipstore_loom))]
pub(in crate::raw) fn loom_model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(2, |p| p.min(2)));
    builder.check(f);
}

/// An epoch pin: the proof of protection that every raw read takes (R1).
///
/// Not `Send`: a pin belongs to its thread. Hold it only around the
/// store's own work, never around user code that may block (a listener),
/// which would keep memory from being reclaimed.
pub(crate) struct Guard(crossbeam_epoch::Guard);

impl Guard {
    /// crossbeam-epoch's guard, for the loads and deferrals of this layer.
    pub(in crate::raw) fn epoch(&self) -> &crossbeam_epoch::Guard {
        &self.0
    }
}

/// Pins the current thread in crossbeam-epoch's default collector (the
/// reclamation seam: under loom, crossbeam-epoch's own loom mode, whose
/// default collector is one loom lazy static per model execution, so a
/// model sees every pin and every deferred free).
///
/// An operation pins once and hands the guard to each raw step. The first
/// pin of a thread publishes its epoch behind a full fence; nested pins
/// (an operation inside another) only bump a counter.
#[inline]
pub(crate) fn pin() -> Guard {
    Guard(crossbeam_epoch::pin())
}

/// A member borrowed from the point set or the write buffer, as the `Arc`
/// the structure owns, for as long as the guard it was found under (R1,
/// R6): it never gives the structure's count back, and [`Arc::clone`] of
/// it takes a count of the caller's own.
pub(crate) struct Lent<'g, T> {
    arc: std::mem::ManuallyDrop<Arc<T>>,
    _pin: std::marker::PhantomData<&'g Guard>,
}

impl<'g, T> Lent<'g, T> {
    /// # Safety
    /// `p` is a member (an `Arc::into_raw` count) that a structure of this
    /// layer owns and that was reachable from it under `guard` (R1, R6):
    /// its count is given back only through a deferral that waits for
    /// `guard`.
    pub(in crate::raw) unsafe fn new(p: *const T, _guard: &'g Guard) -> Self {
        Self {
            // SAFETY: R6 and R1, as the contract passes them on: the
            // structure's strong count keeps the allocation alive while
            // `_guard` is held; `ManuallyDrop` keeps us from giving it back.
            arc: std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) }),
            _pin: std::marker::PhantomData,
        }
    }
}

impl<T> std::ops::Deref for Lent<'_, T> {
    type Target = Arc<T>;

    #[inline(always)]
    fn deref(&self) -> &Arc<T> {
        &self.arc
    }
}

/// Proof, for [`slot::Slot::release_killed`], that the point set unlinked
/// `member` after seeing it gone, and that the grace period of a deferral
/// made after the unlink is over (R3). Only the raw layer makes one.
pub(crate) struct Unlinked<'a, T: ?Sized>(&'a T);

impl<'a, T: ?Sized> Unlinked<'a, T> {
    /// The member the point set released.
    pub(crate) fn member(&self) -> &'a T {
        self.0
    }
}
