//! Fills: at most one request per key and [`Ticket`] in flight; the other
//! misses of that key wait for its answer (see the ground rules in
//! `tier.rs` for why this keeps reads from going back in time).

use entelix_core::{ExecutionContext, Result};
use entelix_memory::Namespace;
use tokio::sync::watch;

use super::tier::{Ticket, Tier};
use crate::redis::conn::guarded;
use crate::sync::{Ordering, lock};

/// The answer of a fill, once it has one: `Some(row or None)`.
type Answer<V> = Option<Option<V>>;

/// A fill in flight, registered in its key's stripe.
pub(crate) struct Flight<V> {
    id: u64,
    ns: Namespace,
    key: String,
    ticket: Ticket,
    answer: watch::Receiver<Answer<V>>,
}

/// What a miss does.
pub(crate) enum Role<'a, V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Tracking is down: read Redis, install nothing.
    Bypass,
    /// A fill of this key with the current ticket is in flight: wait for it.
    Follow(watch::Receiver<Answer<V>>),
    /// Send the request; the answer may be installed.
    Lead(Lead<'a, V>),
}

/// The fill in flight for a key; removed from its stripe when finished or
/// dropped (a cancelled caller), so that waiters then fetch on their own.
pub(crate) struct Lead<'a, V>
where
    V: Clone + Send + Sync + 'static,
{
    tier: &'a Tier<V>,
    ticket: Ticket,
    id: u64,
    answer: watch::Sender<Answer<V>>,
}

impl<V> Tier<V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Joins the fill of `(ns, key)` in flight with the current ticket, or
    /// starts one.
    pub(crate) fn join_or_lead(&self, ns: &Namespace, key: &str) -> Role<'_, V> {
        let at = self.stripe(ns, key);
        let mut stripe = lock(&self.stripes[at]);
        let Some(ticket) = self.ticket_at(at, stripe.generation) else {
            return Role::Bypass;
        };
        if let Some(flight) = stripe
            .flights
            .iter()
            .find(|f| f.ticket == ticket && f.key == key && f.ns == *ns)
        {
            super::stats::bump(&self.counters.shared_fetches);
            return Role::Follow(flight.answer.clone());
        }
        let id = self.next_flight.fetch_add(1, Ordering::Relaxed);
        let (answer, receiver) = watch::channel(None);
        stripe.flights.push(Flight {
            id,
            ns: ns.clone(),
            key: key.to_owned(),
            ticket,
            answer: receiver,
        });
        Role::Lead(Lead {
            tier: self,
            ticket,
            id,
            answer,
        })
    }
}

impl<V> Lead<'_, V>
where
    V: Clone + Send + Sync + 'static,
{
    /// Installs the fill's answer (a row and its deadline, or `None`) if
    /// its ticket still holds, hands it to the waiters and returns it.
    ///
    /// An answer that is not installed (its ticket no longer holds, the row
    /// is absent or just expired) invalidates the key, as a read made while
    /// tracking is down does: it may be newer than the answer of a fill
    /// with a later ticket, whose request was sent first (this fill's task
    /// was descheduled between its ticket and its send) and which may
    /// install, before or after this one finishes; its callers, who see
    /// this answer, would then read that older copy next.
    pub(crate) fn finish(
        self,
        ns: &Namespace,
        key: &str,
        row: Option<(V, Option<u128>)>,
    ) -> Option<V> {
        let value = row.as_ref().map(|(value, _)| value.clone());
        {
            let mut stripe = lock(&self.tier.stripes[self.ticket.stripe]);
            stripe.flights.retain(|f| f.id != self.id);
            let installed = row.is_some_and(|(row_value, deadline)| {
                self.tier
                    .install_locked(&mut stripe, self.ticket, ns, key, row_value, deadline)
            });
            if !installed {
                self.tier.invalidate_locked(&mut stripe, ns, key);
            }
        }
        self.answer.send_replace(Some(value.clone()));
        value
    }
}

impl<V> Drop for Lead<'_, V>
where
    V: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        lock(&self.tier.stripes[self.ticket.stripe])
            .flights
            .retain(|f| f.id != self.id);
    }
}

/// Waits for a fill's answer under `ctx`; `None` if the fill ended without
/// one (its caller gave up or Redis failed): then fetch again.
pub(crate) async fn follow<V>(
    ctx: &ExecutionContext,
    mut answer: watch::Receiver<Answer<V>>,
) -> Result<Answer<V>>
where
    V: Clone + Send + Sync + 'static,
{
    guarded(ctx, async {
        Ok(answer
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|a| a.clone()))
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use entelix_core::TenantId;

    use super::*;

    fn ns() -> Namespace {
        Namespace::new(TenantId::new("t")).with_scope("s")
    }

    fn lead<'a>(tier: &'a Tier<u32>) -> Lead<'a, u32> {
        match tier.join_or_lead(&ns(), "k") {
            Role::Lead(lead) => lead,
            Role::Follow(_) => panic!("followed a fill in flight"),
            Role::Bypass => panic!("tracking is down"),
        }
    }

    /// Two fills of one key, with tickets on either side of an invalidation
    /// (of an earlier write, arriving late): the older ticket's request is
    /// sent last (its task was descheduled between its ticket and its
    /// send), so it reads the newer value, while the newer ticket's request
    /// read the older one. The older ticket's answer is rightly not kept,
    /// but its caller has now seen the newer value: the older value must
    /// not be kept either, in whichever order the two finish, or that
    /// caller's next read goes back (tests/redis_near/monotonic.rs failed so
    /// under load: 'went back from 435 to 434', with tracking up throughout).
    #[test]
    fn a_reader_of_a_discarded_fill_never_reads_an_older_value_next() {
        for newer_finishes_first in [false, true] {
            let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
            tier.go_up(1);
            let late = lead(&tier);
            tier.invalidate(&ns(), "k");
            let early = lead(&tier);
            let seen = if newer_finishes_first {
                let seen = late.finish(&ns(), "k", Some((435, None)));
                early.finish(&ns(), "k", Some((434, None)));
                seen
            } else {
                early.finish(&ns(), "k", Some((434, None)));
                late.finish(&ns(), "k", Some((435, None)))
            };
            assert_eq!(seen, Some(435));
            assert_eq!(tier.hit(&ns(), "k"), None, "{newer_finishes_first}");
        }
    }

    /// The same with a late answer that the key is gone: a reader that saw
    /// it gone must not read it back from an older fill's copy.
    #[test]
    fn a_reader_that_saw_a_key_gone_never_reads_an_older_copy_next() {
        let tier: Tier<u32> = Tier::new(100, Duration::from_secs(60));
        tier.go_up(1);
        let late = lead(&tier);
        tier.invalidate(&ns(), "k");
        let early = lead(&tier);
        early.finish(&ns(), "k", Some((434, None)));
        assert_eq!(late.finish(&ns(), "k", None), None);
        assert_eq!(tier.hit(&ns(), "k"), None);
    }
}
