//! Shorthands the cases share.

use std::time::Duration;

use entelix_core::{ExecutionContext, TenantId};
use entelix_memory::{Namespace, PutOptions};

/// A TTL that outlives any case, however loaded the machine: a row written
/// with it is asserted to be live.
pub(crate) const LONG: Duration = Duration::from_secs(3600);

/// A TTL that is over long before the case next looks: a row written with it
/// is asserted to have expired after [`PAST_SHORT`]. A case that counts such
/// a row in `evict_expired` writes nothing after it (see [`BATCH`]).
pub(crate) const SHORT: Duration = Duration::from_millis(5);

/// How far a case advances to be sure every [`SHORT`] row has expired: ten
/// times [`SHORT`], so that a real-time store whose clock is coarse (Redis
/// keeps milliseconds) is still well past the deadline.
pub(crate) const PAST_SHORT: Duration = Duration::from_millis(50);

/// The TTL of a batch of rows that must all expire together, and be
/// counted by one `evict_expired`: long enough that the whole batch is
/// written before its first row expires, even on a loaded machine. (A store
/// may sweep expired rows on its write path, as `SkipStore` does; a row it
/// sweeps there is not counted by a later `evict_expired`, so a batch whose
/// first rows expired while the rest were being written would make exact
/// counts race on real time.)
pub(crate) const BATCH: Duration = Duration::from_millis(200);

/// How far a case advances to be sure every [`BATCH`] row has expired.
pub(crate) const PAST_BATCH: Duration = Duration::from_millis(250);

pub(crate) fn ctx() -> ExecutionContext {
    ExecutionContext::new()
}

pub(crate) fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

/// The namespace most cases write to: `acme` / `agent-a`.
pub(crate) fn ns() -> Namespace {
    Namespace::new(t("acme")).with_scope("agent-a")
}

pub(crate) fn ttl(d: Duration) -> PutOptions {
    PutOptions::default().with_ttl(d)
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `keys` as owned strings, sorted: what a sorted `list` returns.
pub(crate) fn sorted(keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    out.sort();
    out
}

/// `spaces` sorted by rendered form: what `list_namespaces` returns.
pub(crate) fn by_render(mut spaces: Vec<Namespace>) -> Vec<Namespace> {
    spaces.sort_by_key(Namespace::render);
    spaces
}
