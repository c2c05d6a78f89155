//! The optional background sweeper: a thread that runs `evict_expired` on an
//! interval, for hosts that want expired rows gone promptly even when the
//! store sees no writes. Off by default (see [`crate::SkipStoreBuilder`]).
//!
//! The thread holds only a `Weak` reference to the store, so it never keeps
//! the store alive. Dropping the last store clone drops the
//! [`SweeperHandle`], which wakes the thread, tells it to stop, and joins it.

use std::sync::{Condvar, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sync::{Arc, Mutex};

struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// Stops and joins the sweeper thread when dropped.
pub(crate) struct SweeperHandle {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

/// Spawns a thread that calls `sweep` on `target` every `interval` until the
/// target is gone or the handle is dropped.
pub(crate) fn spawn<T: Send + Sync + 'static>(
    target: Weak<T>,
    interval: Duration,
    sweep: fn(&T),
) -> std::io::Result<SweeperHandle> {
    let stop = Arc::new(Stop {
        stopped: Mutex::new(false),
        wake: Condvar::new(),
    });
    let theirs = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("skipstore-sweeper".into())
        .spawn(move || run(&theirs, &target, interval, sweep))?;
    Ok(SweeperHandle {
        stop,
        thread: Some(thread),
    })
}

fn run<T>(stop: &Stop, target: &Weak<T>, interval: Duration, sweep: fn(&T)) {
    loop {
        {
            let Ok(guard) = stop.stopped.lock() else {
                return;
            };
            let Ok((guard, _)) = stop.wake.wait_timeout_while(guard, interval, |s| !*s) else {
                return;
            };
            if *guard {
                return;
            }
        }
        // Upgrade only for the sweep itself, so the store can be dropped.
        let Some(store) = target.upgrade() else {
            return;
        };
        sweep(&store);
    }
}

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        if let Ok(mut s) = self.stop.stopped.lock() {
            *s = true;
        }
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The last store clone may be dropped by the sweeper itself (it
            // held the upgraded reference): it is exiting, so do not join it.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}
