//! Throwaway local Redis servers for tests and benchmarks: a `redis-server`
//! (or a 3-master cluster) on free ports of 127.0.0.1, in a temporary
//! directory, without persistence, stopped and removed on drop (also when a
//! test panics).
//!
//! They need `redis-server` and `redis-cli` on the `PATH` (Debian:
//! `apt-get install -y redis-server`); without them [`LocalRedis::start`]
//! fails with an error that says so.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first command.
const STARTUP: Duration = Duration::from_secs(10);

/// Ports a fresh start tries, when the server on the one before exited at
/// startup (its port was taken between the probe and the bind).
const PORT_ATTEMPTS: u32 = 5;

/// The install hint in every "not found" error.
pub const INSTALL_HINT: &str = "redis-server is not on the PATH: install it with \
    `apt-get update && apt-get install -y redis-server` (Debian/Ubuntu)";

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// One `redis-server` child process on 127.0.0.1, killed and its directory
/// removed on drop.
#[derive(Debug)]
pub struct LocalRedis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    cluster: bool,
    extra: Vec<String>,
}

impl LocalRedis {
    /// Starts a server on a free port.
    ///
    /// # Errors
    ///
    /// When `redis-server` is missing ([`INSTALL_HINT`]) or does not answer
    /// within 10 s.
    pub fn start() -> io::Result<Self> {
        Self::start_on(false, Vec::new())
    }

    /// Starts a server on a free port with more `redis-server` arguments
    /// (`["--databases", "4096"]`, say).
    ///
    /// # Errors
    ///
    /// As [`Self::start`].
    pub fn start_with(args: &[&str]) -> io::Result<Self> {
        let extra = args.iter().map(|a| (*a).to_owned()).collect();
        Self::start_on(false, extra)
    }

    /// Starts a server on a port that was free a moment ago, and on another
    /// one if that server exits at startup: between the probe and the
    /// server's bind, the port may have been taken (by another test's
    /// server, or as the local end of a client's connection).
    fn start_on(cluster: bool, extra: Vec<String>) -> io::Result<Self> {
        let mut attempt = 1;
        loop {
            let mut server = Self::unstarted(free_port(cluster)?, cluster, extra.clone())?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A server on `port` with a fresh temporary directory of its own (gone
    /// on drop), not started yet.
    fn unstarted(port: u16, cluster: bool, extra: Vec<String>) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "skipstore-redis-{}-{}-{port}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            child: None,
            port,
            dir,
            cluster,
            extra,
        })
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = Command::new("redis-server");
        cmd.current_dir(&self.dir)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"]);
        }
        let child = cmd.spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(io::ErrorKind::NotFound, INSTALL_HINT),
            _ => e,
        })?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the server answers, and checks that the server that
    /// answers is this child (by its process id): another server that took
    /// the port first would answer too, while this one exits.
    fn wait_ready(&mut self) -> io::Result<()> {
        let start = Instant::now();
        let pid = self.child.as_ref().map(Child::id);
        while start.elapsed() < STARTUP {
            if pid.is_some_and(|pid| serves(self.port, pid)) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    other_exit(self.port, status),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "redis-server on port {} did not answer within {STARTUP:?}",
                self.port
            ),
        ))
    }

    /// The server's URL (`redis://127.0.0.1:PORT/`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's port.
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it to exit; its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`Self::kill`]).
    ///
    /// # Errors
    ///
    /// As [`Self::start`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters (no replicas) on free ports, built with
/// `redis-cli --cluster create`; every node is stopped on drop.
#[derive(Debug)]
pub struct LocalCluster {
    nodes: Vec<LocalRedis>,
}

impl LocalCluster {
    /// Starts three cluster-enabled servers, joins them and waits until the
    /// cluster reports `cluster_state:ok` on every node.
    ///
    /// # Errors
    ///
    /// When a server cannot start ([`INSTALL_HINT`]), `redis-cli` fails, or
    /// the cluster is not ready within 20 s.
    pub fn start() -> io::Result<Self> {
        let mut nodes = Vec::with_capacity(3);
        for _ in 0..3 {
            nodes.push(LocalRedis::start_on(true, Vec::new())?);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        let cluster = Self { nodes };
        cluster.wait_ok()?;
        Ok(cluster)
    }

    fn wait_ok(&self) -> io::Result<()> {
        self.wait_for(|n| command(n.port, "CLUSTER INFO").contains("cluster_state:ok"))
    }

    /// Kills node `i` (SIGKILL; its data is gone, its cluster config is
    /// kept); nothing happens for an index out of range.
    pub fn kill(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.kill();
        }
    }

    /// Starts node `i` again on its port, with its cluster config (so it
    /// takes back its slots, empty), and waits for `cluster_state:ok`.
    ///
    /// # Errors
    ///
    /// As [`Self::start`], or when there is no node `i`.
    pub fn restart(&mut self, i: usize) -> io::Result<()> {
        self.nodes
            .get_mut(i)
            .ok_or_else(|| io::Error::other(format!("no node {i}")))?
            .restart()?;
        self.wait_ok()
    }

    /// Starts one more cluster-enabled node and has the cluster meet it;
    /// it holds no slot (see [`Self::move_empty_slot`]). Returns its index.
    ///
    /// # Errors
    ///
    /// As [`Self::start`], or when the cluster does not learn of the node
    /// within 20 s.
    pub fn add_node(&mut self) -> io::Result<usize> {
        let node = LocalRedis::start_on(true, Vec::new())?;
        let port = node.port;
        self.nodes.push(node);
        let first = self.nodes[0].port;
        command(first, &format!("CLUSTER MEET 127.0.0.1 {port}"));
        let id = node_id(port)?;
        self.wait_for(|n| command(n.port, "CLUSTER NODES").contains(&id))?;
        Ok(self.nodes.len() - 1)
    }

    /// Gives `slot`, which must hold no key, to node `to` (on every node,
    /// as `CLUSTER SETSLOT slot NODE id`), and waits for `cluster_state:ok`.
    ///
    /// # Errors
    ///
    /// When there is no node `to`, a node refuses, or the cluster does not
    /// settle within 20 s.
    pub fn move_empty_slot(&self, slot: u16, to: usize) -> io::Result<()> {
        let target = self
            .nodes
            .get(to)
            .ok_or_else(|| io::Error::other(format!("no node {to}")))?;
        let id = node_id(target.port)?;
        let order =
            std::iter::once(target).chain(self.nodes.iter().filter(|n| n.port != target.port));
        for node in order {
            let reply = command(node.port, &format!("CLUSTER SETSLOT {slot} NODE {id}"));
            if !reply.starts_with("+OK") {
                return Err(io::Error::other(format!(
                    "CLUSTER SETSLOT on port {}: {reply}",
                    node.port
                )));
            }
        }
        self.wait_ok()
    }

    fn wait_for(&self, ready: impl Fn(&LocalRedis) -> bool) -> io::Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.nodes.iter().all(&ready) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the local cluster did not settle",
        ))
    }

    /// The nodes' URLs, for `RedisStoreBuilder::cluster_nodes`.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(LocalRedis::url).collect()
    }
}

fn other_exit(port: u16, status: std::process::ExitStatus) -> String {
    format!("redis-server on port {port} exited at startup ({status}); is the port taken?")
}

/// A port that was free a moment ago (and, for a cluster node, whose bus
/// port, 10000 higher, too).
fn free_port(with_bus: bool) -> io::Result<u16> {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !with_bus
            || port
                .checked_add(10_000)
                .is_some_and(|bus| TcpListener::bind(("127.0.0.1", bus)).is_ok())
        {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port pair for a cluster node"))
}

/// The cluster node id of the node on `port` (`CLUSTER MYID`).
fn node_id(port: u16) -> io::Result<String> {
    let reply = command(port, "CLUSTER MYID");
    reply
        .lines()
        .nth(1)
        .map(str::to_owned)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| io::Error::other(format!("CLUSTER MYID on port {port}: {reply:?}")))
}

/// Whether the server on `port` is the process `pid` (`INFO server`'s
/// `process_id`).
fn serves(port: u16, pid: u32) -> bool {
    command(port, "INFO server")
        .lines()
        .any(|line| line.strip_prefix("process_id:") == Some(&pid.to_string()))
}

/// Sends one inline command and returns what arrives within 200 ms.
fn command(port: u16, line: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    if stream.write_all(format!("{line}\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The readiness check knows a server by its process id, so a server
    /// of someone else's on the port does not pass for this one.
    #[test]
    fn a_server_is_known_by_its_process_id() {
        let server = LocalRedis::start().unwrap();
        let pid = server.child.as_ref().map(Child::id).unwrap();
        assert!(serves(server.port, pid));
        assert!(!serves(server.port, pid + 1));
    }

    /// A server whose port was taken between the probe and its bind exits
    /// at startup, with the error a fresh start retries on another port.
    #[test]
    fn a_taken_port_is_an_addr_in_use_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut server = LocalRedis::unstarted(port, false, Vec::new()).unwrap();
        let err = server.spawn().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        drop(taken);
    }
}
