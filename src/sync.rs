//! The one place that decides where the crate's synchronization primitives
//! come from.
//!
//! Under the crate's own `skipstore_loom` cfg every type here is loom's, so a
//! loom model sees every atomic the store's protocol relies on. Everywhere
//! else they are std's, but for [`Arc`]. The rest of the crate imports from
//! this module only; `clippy.toml` disallows the std paths to keep it that
//! way.
//!
//! [`Arc`] is triomphe's: std's without the weak count, which nothing here
//! uses. Every entry and namespace node is one, so that is 8 bytes less per
//! row (an entry of `String` values requests 120 bytes, glibc's 128-byte
//! chunk, where std's `Arc` made it 128 and a 144-byte chunk), and a last
//! drop without the weak count's atomic decrement. [`StdArc`] is std's, for
//! the one handle that needs a `Weak`: the store's own, which its sweeper
//! thread holds weakly.
//!
//! The cfg is `skipstore_loom`, never plain `loom`: a plain `--cfg loom` would
//! also flip tokio and other dependencies into their own loom modes. It goes
//! with crossbeam's `crossbeam_loom` cfg (the crate refuses to build with one
//! and not the other), which makes crossbeam-epoch's atomics and collector
//! loom's too: reclamation is part of every model.

#![allow(clippy::disallowed_types)]

// Aliases rather than re-exports, so that a path through this module names
// the alias and `clippy::disallowed_types` flags only direct uses of std's.
#[cfg(not(skipstore_loom))]
mod std_types {
    pub(crate) type Arc<T> = triomphe::Arc<T>;
    pub(crate) type StdArc<T> = std::sync::Arc<T>;
    pub(crate) type Mutex<T> = std::sync::Mutex<T>;
    pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
    pub(crate) type AtomicBool = std::sync::atomic::AtomicBool;
    pub(crate) type AtomicIsize = std::sync::atomic::AtomicIsize;
    pub(crate) type AtomicPtr<T> = std::sync::atomic::AtomicPtr<T>;
    pub(crate) type AtomicU64 = std::sync::atomic::AtomicU64;
    pub(crate) type AtomicUsize = std::sync::atomic::AtomicUsize;
}

#[cfg(not(skipstore_loom))]
pub(crate) use std::sync::atomic::{Ordering, fence};
#[cfg(not(skipstore_loom))]
pub(crate) use std_types::*;

#[cfg(skipstore_loom)]
pub(crate) use loom::sync::{
    Arc, Arc as StdArc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence},
};

/// A cell of memory that the crate's unsafe code hands between threads by
/// its own protocol (the slot's inline version): std's `UnsafeCell` behind
/// loom's closure API, and under loom loom's own, which checks every access
/// (two writers at once, a read racing a write, a value dropped while a
/// reader still reads it).
#[cfg(not(skipstore_loom))]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(skipstore_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` on a pointer for reading (under loom, a recorded read).
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` on a pointer for writing (under loom, a recorded write).
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(skipstore_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Locks `m`, recovering from poisoning. Every mutex in the crate guards
/// state that stays consistent between the steps user code can panic in
/// (a value's `Clone` or `Drop`), so a panic elsewhere must not disable it
/// for good.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks `m` if it is free, recovering from poisoning as [`lock`] does
/// (a poisoned mutex must not read as busy for ever); `None` if another
/// thread holds it.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Plain access to an atomic that no other thread can reach yet (a table
/// being built): std's `get_mut`, loom's `with_mut`. Neither is an atomic
/// operation, and under loom neither is a scheduling point.
pub(crate) trait Unshared {
    type Value;

    /// Runs `f` on the value, through `&mut self`.
    fn with_unshared<R>(&mut self, f: impl FnOnce(&mut Self::Value) -> R) -> R;
}

impl Unshared for AtomicU64 {
    type Value = u64;

    #[inline(always)]
    fn with_unshared<R>(&mut self, f: impl FnOnce(&mut u64) -> R) -> R {
        #[cfg(not(skipstore_loom))]
        return f(self.get_mut());
        #[cfg(skipstore_loom)]
        return self.with_mut(f);
    }
}

impl<T> Unshared for AtomicPtr<T> {
    type Value = *mut T;

    #[inline(always)]
    fn with_unshared<R>(&mut self, f: impl FnOnce(&mut *mut T) -> R) -> R {
        #[cfg(not(skipstore_loom))]
        return f(self.get_mut());
        #[cfg(skipstore_loom)]
        return self.with_mut(f);
    }
}
