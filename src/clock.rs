//! Time sources.
//!
//! The store reads time through [`Clock`], as nanoseconds since an arbitrary
//! per-clock origin. Production uses [`SystemClock`] (monotonic, from
//! [`std::time::Instant`]); tests and simulations inject a [`ManualClock`] so
//! that TTL behaviour is checked without sleeping.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{Arc, AtomicU64, Ordering};

/// A monotonic time source for expiry.
///
/// `now_nanos` must never go backwards. The origin is arbitrary but fixed for
/// the lifetime of the clock.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Nanoseconds elapsed since this clock's origin.
    fn now_nanos(&self) -> u64;
}

/// The default clock: monotonic wall time from [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is the moment of this call.
    #[must_use]
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        saturating_nanos(self.origin.elapsed())
    }
}

/// A clock that moves only when told to. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use skipstore::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let view = clock.clone();
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(view.now_nanos(), 5_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at time zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward by `by` (saturating at the end of time).
    pub fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        let mut cur = self.nanos.load(Ordering::Acquire);
        loop {
            let next = cur.saturating_add(by);
            match self
                .nanos
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

/// How the store holds its clock. A std `Arc` even under loom: the clock is
/// configuration, not part of any protocol, and loom's `Arc` cannot hold a
/// trait object.
#[allow(clippy::disallowed_types)]
pub(crate) type SharedClock = std::sync::Arc<dyn Clock>;

/// Wraps a clock for the store.
#[allow(clippy::disallowed_types)]
pub(crate) fn share(clock: impl Clock) -> SharedClock {
    std::sync::Arc::new(clock)
}

/// `d` in nanoseconds, saturating at `u64::MAX` (about 584 years).
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
