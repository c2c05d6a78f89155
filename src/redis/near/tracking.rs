//! The tracking session: one [link](super::link) per server that holds
//! keys (the server, or every master of a cluster), and the task that
//! watches them (a `PING` on each every heartbeat, and on a cluster a
//! re-read of `CLUSTER SLOTS`) and opens a new session when any is lost.
//!
//! A session is all or nothing. The tier is up only while every link of
//! the current session has tracking on: the client's `Disconnection` push
//! on any link, a failed or late `PING` on any, a change in a cluster's
//! masters (one added, removed, or failed over), or a failed reconnection
//! takes the tier down (a new epoch: every local copy dies, reads go to
//! Redis) until a new session has tracking on everywhere again.

use std::time::Duration;

use entelix_core::{Error, Result};
use redis::Value;
use redis::aio::MultiplexedConnection;

use super::link;
use super::stats::bump;
use super::tier::Tier;
use super::topology::{self, Masters, Target};
use crate::redis::layout::Layout;
use crate::sync::Arc;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where and how the tracking links connect.
#[derive(Clone, Debug)]
pub(crate) struct LinkConfig {
    pub(crate) target: Target,
    pub(crate) prefix: String,
    pub(crate) heartbeat: Duration,
    pub(crate) connect_timeout: Duration,
}

/// Aborts the tracker when the last clone of the cache goes.
pub(crate) struct TrackerHandle(tokio::task::JoinHandle<()>);

impl Drop for TrackerHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The links of one session, and (on a cluster) the masters they go to
/// with the host that stands for masters `CLUSTER SLOTS` leaves unnamed.
struct Session {
    links: Vec<MultiplexedConnection>,
    masters: Option<(String, Masters)>,
}

/// Opens the first session (so that a server without tracking, or with a
/// prefix it refuses, is an error at connect time), brings the tier up and
/// starts the task that keeps the links.
pub(crate) async fn start<V>(tier: Arc<Tier<V>>, config: LinkConfig) -> Result<TrackerHandle>
where
    V: Clone + Send + Sync + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::config("near cache: must be built inside a tokio runtime (it runs a tracking task)")
    })?;
    let layout = Layout::new(config.prefix.clone());
    tier.expect(1);
    let session = open(&tier, &layout, &config, 1).await?;
    // Lost already (a link dropped while the others opened): the task
    // opens a new session at once.
    let session = tier.go_up(1).then_some(session);
    let task = runtime.spawn(keep(tier, layout, config, session));
    Ok(TrackerHandle(task))
}

/// Watches the session; when it is lost, opens a new one with backoff,
/// forever (until aborted).
async fn keep<V>(tier: Arc<Tier<V>>, layout: Layout, config: LinkConfig, first: Option<Session>)
where
    V: Clone + Send + Sync + 'static,
{
    let mut id = 1;
    let mut session = first;
    let mut backoff = MIN_BACKOFF;
    loop {
        if let Some(mut live) = session.take() {
            watch(&tier, &config, &mut live).await;
            tier.go_down(id);
            drop(live);
        }
        id += 1;
        tier.expect(id);
        match open(&tier, &layout, &config, id).await {
            Ok(live) if tier.go_up(id) => {
                bump(&tier.counters.reconnects);
                backoff = MIN_BACKOFF;
                session = Some(live);
            }
            // Refused, or one of its links dropped before all were on.
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Returns when the session is lost: a disconnection was pushed on one of
/// its links, a `PING` failed or the heartbeat's checks took longer than
/// the heartbeat, or a cluster's masters changed.
async fn watch<V>(tier: &Tier<V>, config: &LinkConfig, session: &mut Session)
where
    V: Clone + Send + Sync + 'static,
{
    loop {
        tokio::select! {
            () = tier.lost.notified() => {
                if !tier.is_up() {
                    return;
                }
            }
            () = tokio::time::sleep(config.heartbeat) => {
                match tokio::time::timeout(config.heartbeat, check(session)).await {
                    Ok(true) => {}
                    Ok(false) | Err(_) => return,
                }
            }
        }
    }
}

/// One heartbeat: every link answers a `PING`, and a cluster still has the
/// masters the session tracks.
async fn check(session: &mut Session) -> bool {
    for conn in &mut session.links {
        let ping = redis::cmd("PING").query_async::<Value>(conn).await;
        if ping.is_err() {
            return false;
        }
    }
    match (&session.masters, session.links.first_mut()) {
        (Some((seed_host, tracked)), Some(conn)) => topology::masters(conn, seed_host)
            .await
            .is_ok_and(|now| now == *tracked),
        _ => true,
    }
}

/// Opens every link of session `id`: one to the server, or one to each
/// master of the cluster. On a cluster, the masters are read again once
/// every link is on, and the session is refused if they changed meanwhile.
async fn open<V>(
    tier: &Arc<Tier<V>>,
    layout: &Layout,
    config: &LinkConfig,
    id: u64,
) -> Result<Session>
where
    V: Clone + Send + Sync + 'static,
{
    let timeout = config.connect_timeout;
    match &config.target {
        Target::Server(url) => {
            let info = topology::info_of(url)?;
            let conn = link::open(tier, layout, info, timeout, id).await?;
            Ok(Session {
                links: vec![conn],
                masters: None,
            })
        }
        Target::Cluster(seeds) => {
            let (seed, masters) = discover(seeds, timeout).await?;
            let mut links = Vec::with_capacity(masters.len());
            for master in &masters {
                let info = topology::master_info(&seed, master);
                links.push(link::open(tier, layout, info, timeout, id).await?);
            }
            let host = topology::host_of(&seed).unwrap_or_default().to_owned();
            let first = links
                .first_mut()
                .ok_or_else(|| Error::provider_network("near cache: the cluster has no master"))?;
            if topology::masters(first, &host).await? != masters {
                return Err(Error::provider_network(
                    "near cache: the cluster's masters changed while tracking was turned on",
                ));
            }
            Ok(Session {
                links,
                masters: Some((host, masters)),
            })
        }
    }
}

/// The masters of the cluster, read from the first seed that answers, and
/// that seed's connection settings (the links reuse its credentials).
async fn discover(seeds: &[String], timeout: Duration) -> Result<(redis::ConnectionInfo, Masters)> {
    let mut last = Error::config("near cache: give at least one cluster node");
    for url in seeds {
        let info = topology::info_of(url)?;
        let Some(host) = topology::host_of(&info).map(str::to_owned) else {
            return Err(Error::config(format!(
                "near cache: cluster node {url:?} is not a TCP address"
            )));
        };
        let found = async {
            let client = redis::Client::open(info.clone())
                .map_err(|e| Error::config(format!("near cache: bad URL {url:?}: {e}")))?;
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| {
                    Error::provider_network(format!("near cache: cannot connect to {url}: {e}"))
                })?;
            topology::masters(&mut conn, &host).await
        };
        match found.await {
            Ok(masters) => return Ok((info, masters)),
            Err(Error::Config(why)) => return Err(Error::Config(why)),
            Err(e) => last = e,
        }
    }
    Err(last)
}
