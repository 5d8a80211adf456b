//! A fault-injecting TCP proxy to put between two nodes: it forwards bytes both ways, and on the
//! test's command delays them, swallows them (the connection stays open and silent, as with an
//! unplugged cable or a frozen peer), or cuts every connection open at that moment.
//!
//! ```text
//! node A ──dial──► Link (127.0.0.1:link.port) ──dial──► node B (127.0.0.1:target)
//! ```

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use ractor::ActorRef;

use super::{spawn_in_group, wait_for_proxy, Event, Node, TestMessage};

/// What the link does to the bytes it carries, in both directions, from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forwards bytes as they come.
    Pass,
    /// Forwards each chunk read after this delay (order kept).
    Delay(Duration),
    /// Reads and drops everything: both ends see an open connection on which nothing arrives.
    BlackHole,
    /// Reads nothing until the fault changes: the sender's socket buffers fill, as with a peer
    /// that cannot keep up. Nothing is lost.
    Stall,
    /// Forwards each chunk read, then sends again the chunk forwarded before it: a replay.
    Replay,
    /// Sends [`INJECTED`] before each chunk read: bytes that neither node wrote, a whole valid
    /// frame that a plaintext session would take as the peer's.
    Inject,
    /// Closes the connection, both ways, as soon as a byte arrives: as a peer whose machine
    /// restarted answers the first write on a connection it no longer knows with a reset.
    CloseOnWrite,
}

/// What [`Fault::Inject`] slips in: a well-formed frame holding a `Heartbeat` (`03 00`), which a
/// plaintext session would take as the peer's.
pub(crate) const INJECTED: [u8; 6] = [2, 0, 0, 0, 3, 0];

/// The most bytes of each direction a link keeps for [`Link::carried`].
const KEEP_CARRIED: usize = 1 << 20;

/// A running proxy; stops (closing every connection) when dropped.
pub(crate) struct Link {
    /// Where the proxy listens on 127.0.0.1.
    pub(crate) port: u16,
    /// The fault on the bytes from the dialing node to the target node.
    fault: watch::Sender<Fault>,
    /// The fault on the bytes back, from the target node to the dialing node.
    fault_back: watch::Sender<Fault>,
    cuts: watch::Sender<u64>,
    /// The first bytes carried from the dialing node to the target node.
    carried: Arc<Mutex<Vec<u8>>>,
    /// The port of 127.0.0.1 that new connections are carried to.
    target: Arc<AtomicU16>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        // Dropping the accept task drops its `JoinSet`, which aborts every connection.
        self.task.abort();
    }
}

impl Link {
    /// Starts a proxy to `127.0.0.1:target`.
    pub(crate) async fn start(target: u16) -> Link {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (fault, fault_rx) = watch::channel(Fault::Pass);
        let (fault_back, fault_back_rx) = watch::channel(Fault::Pass);
        let (cuts, cuts_rx) = watch::channel(0u64);
        let carried = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&carried);
        let target = Arc::new(AtomicU16::new(target));
        let to = Arc::clone(&target);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((near, _)) = accepted else { continue };
                        let faults = (fault_rx.clone(), fault_back_rx.clone());
                        let keep = Arc::clone(&keep);
                        let target = to.load(Ordering::Relaxed);
                        connections.spawn(carry(near, target, faults, cuts_rx.clone(), keep));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Link {
            port,
            fault,
            fault_back,
            cuts,
            carried,
            target,
            task,
        }
    }

    /// The first bytes (up to 1 MiB) the link carried from the dialing node to the target node,
    /// over all connections: what anyone on the path would see.
    pub(crate) fn carried(&self) -> Vec<u8> {
        self.carried.lock().unwrap().clone()
    }

    /// Applies `fault` to every connection, open or to come, both ways.
    pub(crate) fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
        self.fault_back.send_replace(fault);
    }

    /// Applies `fault` to the bytes from the target node back to the dialing node only.
    pub(crate) fn set_back(&self, fault: Fault) {
        self.fault_back.send_replace(fault);
    }

    /// Carries the connections opened from now on to `127.0.0.1:target` (those open stay where
    /// they are): another node now answers at the address the dialing node knows.
    pub(crate) fn retarget(&self, target: u16) {
        self.target.store(target, Ordering::Relaxed);
    }

    /// Closes every connection open now; later ones are carried as before.
    pub(crate) fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

/// Carries one connection until either end closes it or the link cuts it.
async fn carry(
    near: TcpStream,
    target: u16,
    (fault, fault_back): (watch::Receiver<Fault>, watch::Receiver<Fault>),
    mut cuts: watch::Receiver<u64>,
    carried: Arc<Mutex<Vec<u8>>>,
) {
    cuts.borrow_and_update();
    let Ok(far) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    let _ = near.set_nodelay(true);
    let _ = far.set_nodelay(true);
    let (near_read, near_write) = near.into_split();
    let (far_read, far_write) = far.into_split();
    tokio::select! {
        () = pump(near_read, far_write, fault, Some(carried)) => {}
        () = pump(far_read, near_write, fault_back, None) => {}
        _ = cuts.changed() => {}
    }
    // Both sockets are dropped here: each end sees the connection close.
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut fault: watch::Receiver<Fault>,
    carried: Option<Arc<Mutex<Vec<u8>>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut earlier: Vec<u8> = Vec::new();
    loop {
        while *fault.borrow_and_update() == Fault::Stall {
            if fault.changed().await.is_err() {
                return;
            }
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if *fault.borrow() == Fault::CloseOnWrite {
            return;
        }
        if let Some(carried) = &carried {
            let mut carried = carried.lock().unwrap();
            let room = KEEP_CARRIED.saturating_sub(carried.len());
            carried.extend_from_slice(&buf[..n.min(room)]);
        }
        let now = *fault.borrow();
        match now {
            Fault::Pass | Fault::Replay => {}
            Fault::Delay(delay) => tokio::time::sleep(delay).await,
            Fault::BlackHole => continue,
            Fault::CloseOnWrite => return,
            // Set while a read was under way: forward what was read, then stall.
            Fault::Stall => {}
            Fault::Inject => {
                if to.write_all(&INJECTED).await.is_err() {
                    return;
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if now == Fault::Replay && !earlier.is_empty() && to.write_all(&earlier).await.is_err() {
            return;
        }
        earlier.clear();
        earlier.extend_from_slice(&buf[..n]);
    }
}

/// `a` dials `b` through a new link, and both wait until the session is ready.
pub(crate) async fn linked(a: &mut Node, b: &mut Node) -> Link {
    let link = Link::start(b.port).await;
    let session = ractor_cluster::client_connect_and_wait(
        &a.server,
        ("127.0.0.1", link.port),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(session.peer_name.unwrap().name, b.name);
    let ready = Event::Ready(a.name.clone());
    b.wait_event(|e| *e == ready).await;
    a.drain_events();
    link
}

/// A test actor in `group`, then `a` [`linked`] to `b`, and the proxy in `group` that stands for
/// the actor as `b`'s: returns the link, the actor and the proxy.
pub(crate) async fn linked_with_actor(
    a: &mut Node,
    b: &mut Node,
    group: &str,
) -> (Link, ActorRef<TestMessage>, ActorRef<TestMessage>) {
    let actor = spawn_in_group(group).await;
    let link = linked(a, b).await;
    let proxy = wait_for_proxy(group, b.id, &actor.get_cell()).await;
    (link, actor, proxy)
}
