//! How a node is configured: the [`NodeServer`] builder, and what every session of the node is
//! told about it ([`NodeConfig`]). The defaults are in `defaults`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use crate::discovery::{Discovery, DiscoveryConfig};
use crate::net::{IncomingEncryptionMode, Listener};
use crate::protocol::identity::Cookie;
use crate::protocol::message as wire;

use super::defaults::*;
use super::downing::Downing;
use super::quota::Allowance;
use super::reconnect::ReconnectPolicy;

/// Which local actors a node announces to its peers, that is, which ones every peer mirrors with
/// a proxy. An actor that is not announced is still reachable: a reference to it sent in a message
/// resolves to a proxy created on demand on the receiving node (see [`where_is`](crate::node::where_is) and the crate
/// docs, "Location transparency").
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Announce {
    /// Every actor whose message type supports remoting, as the published crate does.
    #[default]
    All,
    /// Only actors with a name, and members of process groups (announced when they join).
    NamedOrGrouped,
    /// Only members of process groups, and actors that a peer asks for because a reference to
    /// them reached it.
    OnDemand,
}

/// Whether a node connects to the peers of its peers ([Erlang's
/// terminology](https://www.erlang.org/doc/reference_manual/distributed.html#node-connections)).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum NodeConnectionMode {
    /// When node A connects to B, and B is connected to C, A connects to C too.
    #[default]
    Transitive,
    /// A node only connects to the peers it is told to connect to.
    Isolated,
}

/// A node: listens for peers, authenticates them, and runs a [`NodeSession`](crate::node::NodeSession) for each.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ractor::Actor;
/// use ractor_cluster::NodeServer;
///
/// let server = NodeServer::new(0, "cookie".into(), "alpha".into(), "localhost".into(), None, None);
/// let (node, _handle) = Actor::spawn(None, server, ()).await?;
/// ractor_cluster::client_connect(&node, "127.0.0.1:4697").await?;
/// # Ok(()) }
/// ```
pub struct NodeServer {
    pub(super) port: u16,
    pub(super) cookie: String,
    pub(crate) node_name: String,
    pub(crate) hostname: String,
    pub(super) encryption_mode: IncomingEncryptionMode,
    pub(super) connection_mode: NodeConnectionMode,
    pub(super) listen_addr: Option<IpAddr>,
    pub(super) max_inbound_frame_size: u64,
    pub(super) handshake_timeout: Duration,
    pub(super) heartbeat_interval: Duration,
    pub(super) down_after: Duration,
    pub(super) watched_peers: usize,
    pub(super) max_unauthenticated_connections: usize,
    pub(super) max_unauthenticated_per_address: usize,
    pub(super) max_sessions: usize,
    pub(super) max_outbound_queue: usize,
    pub(super) max_unanswered_calls: usize,
    pub(super) reconnect: ReconnectPolicy,
    pub(super) announce: Announce,
    pub(super) reference_wait: Duration,
    pub(super) remote_names_in_registry: bool,
    pub(super) discovery: Option<DiscoveryConfig>,
    pub(super) plaintext_frames: bool,
    pub(super) downing: Option<Downing>,
    pub(super) max_proxies_per_peer: usize,
    pub(super) max_proxies: usize,
    pub(super) max_remote_spawns_per_peer: usize,
    pub(super) max_queued_control: usize,
    pub(super) max_groups_per_peer: usize,
    pub(super) max_transitive_dials: usize,
    pub(super) max_discovery_dials: usize,
    pub(super) where_is_node_rate: u32,
    pub(super) rtt_probe_interval: Duration,
    pub(super) rtt_probes_on_every_link: bool,
    pub(super) hidden: bool,
}

impl std::fmt::Debug for NodeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeServer")
            .field("port", &self.port)
            .field("cookie", &"<redacted>")
            .field("node_name", &self.node_name)
            .field("hostname", &self.hostname)
            .field("encryption_mode", &self.encryption_mode)
            .field("connection_mode", &self.connection_mode)
            .field("listen_addr", &self.listen_addr)
            .field("max_inbound_frame_size", &self.max_inbound_frame_size)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("down_after", &self.down_after)
            .field("watched_peers", &self.watched_peers)
            .field(
                "max_unauthenticated_connections",
                &self.max_unauthenticated_connections,
            )
            .field(
                "max_unauthenticated_per_address",
                &self.max_unauthenticated_per_address,
            )
            .field("max_sessions", &self.max_sessions)
            .field("reconnect", &self.reconnect)
            .field("announce", &self.announce)
            .field("discovery", &self.discovery)
            .field("plaintext_frames", &self.plaintext_frames)
            .field("downing", &self.downing)
            .field("max_proxies_per_peer", &self.max_proxies_per_peer)
            .field("max_proxies", &self.max_proxies)
            .field(
                "max_remote_spawns_per_peer",
                &self.max_remote_spawns_per_peer,
            )
            .field("max_queued_control", &self.max_queued_control)
            .field("max_groups_per_peer", &self.max_groups_per_peer)
            .field("max_transitive_dials", &self.max_transitive_dials)
            .field("max_discovery_dials", &self.max_discovery_dials)
            .field("where_is_node_rate", &self.where_is_node_rate)
            .field("rtt_probe_interval", &self.rtt_probe_interval)
            .field("rtt_probes_on_every_link", &self.rtt_probes_on_every_link)
            .field("hidden", &self.hidden)
            .finish()
    }
}

impl NodeServer {
    /// A node called `node_name@hostname`, listening on `port` (0 picks a free port; the
    /// connection string the node advertises carries the real one), authenticating peers with
    /// `cookie`. `encryption_mode` defaults to [`IncomingEncryptionMode::Raw`], `connection_mode`
    /// to [`NodeConnectionMode::Isolated`].
    pub fn new(
        port: u16,
        cookie: String,
        node_name: String,
        hostname: String,
        encryption_mode: Option<IncomingEncryptionMode>,
        connection_mode: Option<NodeConnectionMode>,
    ) -> Self {
        Self {
            port,
            cookie,
            node_name,
            hostname,
            encryption_mode: encryption_mode.unwrap_or(IncomingEncryptionMode::Raw),
            connection_mode: connection_mode.unwrap_or(NodeConnectionMode::Isolated),
            listen_addr: None,
            max_inbound_frame_size: DEFAULT_MAX_INBOUND_FRAME_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            down_after: DEFAULT_DOWN_AFTER,
            watched_peers: DEFAULT_WATCHED_PEERS,
            max_unauthenticated_connections: DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS,
            max_unauthenticated_per_address: DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_outbound_queue: DEFAULT_MAX_OUTBOUND_QUEUE,
            max_unanswered_calls: DEFAULT_MAX_UNANSWERED_CALLS,
            reconnect: ReconnectPolicy::default(),
            announce: Announce::default(),
            reference_wait: DEFAULT_REFERENCE_WAIT,
            remote_names_in_registry: false,
            discovery: None,
            plaintext_frames: false,
            downing: None,
            max_proxies_per_peer: DEFAULT_MAX_PROXIES_PER_PEER,
            max_proxies: DEFAULT_MAX_PROXIES,
            max_remote_spawns_per_peer: DEFAULT_MAX_REMOTE_SPAWNS_PER_PEER,
            max_queued_control: DEFAULT_MAX_QUEUED_CONTROL_MESSAGES,
            max_groups_per_peer: DEFAULT_MAX_GROUPS_PER_PEER,
            max_transitive_dials: DEFAULT_MAX_TRANSITIVE_DIALS,
            max_discovery_dials: DEFAULT_MAX_DISCOVERY_DIALS,
            where_is_node_rate: DEFAULT_WHERE_IS_NODE_RATE,
            rtt_probe_interval: DEFAULT_RTT_PROBE_INTERVAL,
            rtt_probes_on_every_link: false,
            hidden: false,
        }
    }

    /// Makes this node *hidden*, as Erlang's (default: `false`): its peers keep sessions with it
    /// but list it as no member, count it for no downing, name it to no one and exchange no actors
    /// or groups with it (README, "Hidden nodes"; protocol 2.7, which older peers refuse).
    pub fn with_hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Decides, when the cluster splits, which side stays (default: none, as in Akka: a silent
    /// peer is down as soon as its session ends, on both sides of a partition). With `downing`, a
    /// peer lost against this node's will stays unreachable (and dialed again) until the view has
    /// been stable for [`Downing::stable_after`]; then its strategy downs the other side, or tells
    /// this node that its own side lost (its own member goes down). See
    /// [`crate::downing`].
    pub fn with_downing(mut self, downing: Downing) -> Self {
        self.downing = Some(downing);
        self
    }

    /// Keeps this node connected to every node that `discovery` finds (default: none, as in the
    /// published crate). Once per `interval` (the first time as soon as the node listens; default
    /// [`DEFAULT_DISCOVERY_INTERVAL`](crate::discovery::DEFAULT_DISCOVERY_INTERVAL), 2 s), the node
    /// asks `discovery` for addresses and dials each one it has no session with, never itself,
    /// waiting between failed dials of an address as [`with_reconnect`](Self::with_reconnect)
    /// says. Every missing node is dialed again for as long as discovery lists it, so nodes that
    /// all start at once, each finding the others, form one cluster, and a lost node is dialed
    /// again at the first round after it is lost.
    ///
    /// Nodes found this way are dialed over TLS if this node ever dialed with
    /// [`client_connect_enc`](crate::client_connect_enc), the certificate checked against the
    /// host part of the address (an IP address, for [`DnsDiscovery`](crate::discovery)).
    pub fn with_discovery(mut self, discovery: impl Discovery, interval: Duration) -> Self {
        self.discovery = Some(DiscoveryConfig {
            source: Arc::new(discovery),
            interval,
        });
        self
    }

    /// Makes the named actors of peers findable with ractor's own
    /// [`ractor::registry::where_is`] on this node (default: off, as in the published crate,
    /// where ractor's registry holds local actors only; [`where_is`](crate::node::where_is) finds remote names either
    /// way).
    ///
    /// ractor's registry accepts only local actors, so this node registers a local *name
    /// forwarder* under the name of a peer's actor, which passes everything on to it and ends as
    /// it does (see [`register_message_type`] for which message types qualify, and the README for
    /// the rules when several nodes use a name). The price: while a forwarder holds a name,
    /// spawning a local actor under that name fails with `SpawnErr::ActorAlreadyRegistered`, as
    /// it does for any taken name. Turn it on when names are meant to be unique in the cluster;
    /// leave it off when every node runs its own actor under a common name.
    ///
    /// [`register_message_type`]: crate::node::register_message_type
    pub fn with_remote_names_in_registry(mut self, enabled: bool) -> Self {
        self.remote_names_in_registry = enabled;
        self
    }

    /// How long a reference to an actor of a node that this node has no session with yet waits
    /// for one (default [`DEFAULT_REFERENCE_WAIT`]). Only a [`NodeConnectionMode::Transitive`]
    /// node waits: it asks its peers where that node is and connects to it, and messages sent to
    /// the reference meanwhile are kept (up to 1,024 messages or 4 MiB) and sent once connected.
    /// When the time is up, the reference's proxy stops with [`UNREACHABLE`](crate::node::UNREACHABLE) and the calls it kept
    /// fail. An [`Isolated`](NodeConnectionMode::Isolated) node resolves such a reference to a
    /// cell stopped with [`UNREACHABLE`](crate::node::UNREACHABLE) at once.
    pub fn with_reference_wait(mut self, wait: Duration) -> Self {
        self.reference_wait = wait;
        self
    }

    /// Chooses which local actors this node announces to its peers (default [`Announce::All`]).
    pub fn with_announcement(mut self, announce: Announce) -> Self {
        self.announce = announce;
        self
    }

    /// Listens on `addr` instead of the default dual-stack `[::]` (which falls back to `0.0.0.0`
    /// where IPv6 is unavailable).
    pub fn with_listen_addr(mut self, addr: IpAddr) -> Self {
        self.listen_addr = Some(addr);
        self
    }

    /// Sets the largest inbound frame accepted from an authenticated peer (default
    /// [`DEFAULT_MAX_INBOUND_FRAME_SIZE`]).
    pub fn with_max_inbound_frame_size(mut self, max_frame_size: u64) -> Self {
        self.max_inbound_frame_size = max_frame_size;
        self
    }

    /// Sets how long a peer has, from the moment its connection is accepted, to complete its TLS
    /// handshake (in TLS mode) and the authentication handshake, both together (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`], 10 s). A connection still unauthenticated by then is closed
    /// with a log line: a peer that stalls holds one connection slot for that long and delays no
    /// one. The same bound applies to the handshake of a connection this node dialed.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets how often each session sends a heartbeat (default [`DEFAULT_HEARTBEAT_INTERVAL`],
    /// 1 s). A heartbeat is a six-byte frame; it proves to the peer that this node is alive and
    /// reading. It goes only on a link on which nothing else was queued during the last interval
    /// (any frame proves as much), so a peer hears from this node at least once every two
    /// intervals: keep it well below the `down_after` of every peer, a few times smaller. It is
    /// also how long a peer has to answer a probe when this node doubts it (another node reports
    /// it silent, or this node's own look at its silence came late): the peer is declared down
    /// only if nothing arrives within one interval (see [`with_watched_peers`](Self::with_watched_peers)).
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets how often each session measures its round-trip time (default
    /// [`DEFAULT_RTT_PROBE_INTERVAL`], 10 s; `Duration::ZERO` turns probing off). A probe is a
    /// control frame of a few bytes that a peer speaking protocol 2.5 answers at once from its
    /// reader task; the time to the answer is the round trip that
    /// [`peer_stats`](crate::node::peer_stats) reports (last, p50, p99 over the last
    /// [`RTT_WINDOW`](crate::node::RTT_WINDOW) probes). It includes the time the probe and its
    /// answer wait in both nodes' outbound queues behind other traffic, as a message's would.
    /// Probes go at heartbeat ticks, so never more often than the heartbeat interval; each one
    /// stands in for that tick's heartbeat.
    ///
    /// Probes go only on the links that this node watches or that watch it (see
    /// [`with_watched_peers`](Self::with_watched_peers)), which tick anyway; the other peers'
    /// figures have no round trip. [`with_rtt_probes_on_every_link`](Self::with_rtt_probes_on_every_link)
    /// probes them all.
    pub fn with_rtt_probe_interval(mut self, interval: Duration) -> Self {
        self.rtt_probe_interval = interval;
        self
    }

    /// Sends round-trip probes on every link, not only on the watched ones (default `false`).
    /// Each link then ticks every heartbeat interval: in a full mesh of N nodes, N − 1 timers per
    /// node, which costs an idle cluster about as much as heartbeats on every link did (README,
    /// "Running a cluster").
    pub fn with_rtt_probes_on_every_link(mut self, every_link: bool) -> Self {
        self.rtt_probes_on_every_link = every_link;
        self
    }

    /// Sets how long a peer may send nothing at all (no message, no heartbeat) before it is
    /// declared down (default [`DEFAULT_DOWN_AFTER`], 5 s, where that choice is explained).
    ///
    /// A peer declared down loses its session as if its connection had closed: the session ends
    /// with the reason "no traffic from the peer for … s", subscribers get
    /// [`node_session_disconnected`], the
    /// proxies of the peer's actors stop, calls waiting on it fail at once, and, if this node had
    /// dialed the peer, it is dialed again (see [`with_reconnect`](Self::with_reconnect)).
    /// Detection takes at least `down_after` of silence and at most `down_after` plus
    /// `min(heartbeat interval, down_after / 8)`, plus one heartbeat interval when the look that
    /// finds the silence comes more than a quarter of `down_after` late (this node was not
    /// running: it probes the peer first; a peer older than protocol 2.5, which answers no probe,
    /// is declared down at once).
    ///
    /// [`node_session_disconnected`]: crate::node::NodeEventSubscription::node_session_disconnected
    pub fn with_down_after(mut self, down_after: Duration) -> Self {
        self.down_after = down_after.max(Duration::from_millis(1));
        self
    }

    /// Sets how many peers this node watches (default [`DEFAULT_WATCHED_PEERS`], 8; an odd
    /// number counts as the even number above it).
    ///
    /// The node and the peers it has sessions with form a ring ordered by node id; the node
    /// watches the `n / 2` nearest peers on each side, asks them for heartbeats, and declares one
    /// down after [`down_after`](Self::with_down_after) of silence. It then tells all its other
    /// peers, each of which probes that node and drops its session with it unless something
    /// arrives from it within one [heartbeat interval](Self::with_heartbeat_interval) (a node
    /// older than protocol 2.5 answers no probe and is dropped at once): a frozen node is down
    /// everywhere within `down_after`, the time one message takes and one heartbeat interval,
    /// and a node that one starved watcher took for silent stays up elsewhere. A node it does
    /// not watch costs it nothing while idle, neither heartbeats nor timer wake-ups; a connection
    /// that closes (a crashed process, a reset) is noticed on every session at once, watched or
    /// not. With `n + 1` nodes or fewer every node watches every other, as before 2.4;
    /// `usize::MAX` watches all peers whatever their number. Peers that speak a protocol older than 2.4 are always
    /// watched.
    pub fn with_watched_peers(mut self, n: usize) -> Self {
        self.watched_peers = n;
        self
    }

    /// Sets how many accepted connections may be waiting to authenticate at once (default
    /// [`DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS`], 64; at least 1), pending TLS handshakes
    /// included. The accept loop counts them, before a connection reaches the node: one beyond it
    /// is closed as soon as it is accepted, with a log line, so that clients that connect and say
    /// nothing cannot pile up. A slot is given back when its connection authenticates, fails or
    /// runs out of [handshake time](Self::with_handshake_timeout).
    pub fn with_max_unauthenticated_connections(mut self, max: usize) -> Self {
        self.max_unauthenticated_connections = max.max(1);
        self
    }

    /// Sets how many of the connections waiting to authenticate may come from one IP address
    /// (default [`DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS`], 32; at least 1). One beyond it is
    /// closed as soon as it is accepted, with a log line. With the defaults, one address holding
    /// idle connections takes at most half of the
    /// [unauthenticated slots](Self::with_max_unauthenticated_connections), and peers from other
    /// addresses still get in. Raise it when many nodes share one address (several nodes on one
    /// host, or behind one NAT) and start at once.
    pub fn with_max_unauthenticated_per_address(mut self, max: usize) -> Self {
        self.max_unauthenticated_per_address = max.max(1);
        self
    }

    /// Sets how many authenticated sessions this node keeps at once (default
    /// [`DEFAULT_MAX_SESSIONS`], 1,024; at least 1): one per peer node. A peer that
    /// authenticates when the node already has this many sessions is refused, with a log line and
    /// a [`node_session_ended`](crate::node::NodeEventSubscription::node_session_ended) event, and
    /// its connection is closed; a session that replaces one to the same peer does not count
    /// twice. Each session holds a reader, a writer, a heartbeat task and the proxies of its
    /// peer's actors, so this bounds what cookie holders can make a node hold by connecting.
    pub fn with_max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max.max(1);
        self
    }

    /// Sets how many bytes of casts, calls and replies may wait for one peer before its proxies
    /// stop taking messages from their mailboxes (default [`DEFAULT_MAX_OUTBOUND_QUEUE`], 32 MiB).
    /// See [`crate::backpressure`] for what happens beyond it and how a sender can pace itself.
    ///
    /// The same bound applies to what the peer asked for: when the replies and control answers
    /// waiting for it reach this many bytes, the session reads nothing more from the peer until
    /// they drain, and a peer that then reads nothing at all for `down_after` is declared down.
    pub fn with_max_outbound_queue(mut self, bytes: usize) -> Self {
        self.max_outbound_queue = bytes.max(1);
        self
    }

    /// Sets how many of a peer's calls may be delivered to actors here and wait for their answers
    /// before the session reads nothing more from that peer (default
    /// [`DEFAULT_MAX_UNANSWERED_CALLS`], 1,024; at least 1). Reading resumes with the next answer,
    /// and the wait is not held against the peer's liveness. Each unanswered call holds a message
    /// and will make a reply, so this bounds what a peer's calls can make this node hold. Raise it
    /// for workloads with more concurrent calls from one peer, nested calls back to that peer
    /// included: a call served here that calls the peer and waits counts until it is answered.
    pub fn with_max_unanswered_calls(mut self, calls: usize) -> Self {
        self.max_unanswered_calls = calls.max(1);
        self
    }

    /// Sends and accepts the frames of sessions in plaintext instead of sealing them: an explicit
    /// opt-out, for a network you trust entirely (default: off, every session is sealed).
    ///
    /// By default every session that does not run over TLS is authenticated and encrypted with
    /// keys that only the two nodes know, derived from the cookie and a fresh X25519 exchange in
    /// the handshake: a frame that anyone on the path forges, alters, replays or reorders ends the
    /// session, and a recorded session stays secret even if the cookie leaks later. With this
    /// set, this node asks its peers for plaintext; a session is plaintext only when both nodes
    /// ask for it, so a peer that keeps the default still gets sealed frames. Anyone on the path
    /// can then read the frames and inject their own, and the handshake's proofs protect only the
    /// handshake. TLS sessions are never sealed twice, whatever this says.
    pub fn with_plaintext_frames(mut self) -> Self {
        self.plaintext_frames = true;
        self
    }

    /// Sets how many proxies this node keeps for the actors of one peer (default
    /// [`DEFAULT_MAX_PROXIES_PER_PEER`], 65,536; at least 1). A proxy holds about 13 KB.
    ///
    /// At the bound, the session stays up and what is already reachable stays so: an actor the
    /// peer announces beyond it gets no proxy (a warning is logged once per session), and a
    /// reference to one of its actors that has no proxy yet resolves to a cell stopped with
    /// [`PROXY_LIMIT`](crate::node::PROXY_LIMIT). Room is made as the peer's actors stop.
    pub fn with_max_proxies_per_peer(mut self, proxies: usize) -> Self {
        self.max_proxies_per_peer = proxies.max(1);
        self
    }

    /// Sets how many proxies this node keeps for the actors of all its peers together (default
    /// [`DEFAULT_MAX_PROXIES`], 262,144; at least 1); beyond it, as at
    /// [`with_max_proxies_per_peer`](Self::with_max_proxies_per_peer).
    pub fn with_max_proxies(mut self, proxies: usize) -> Self {
        self.max_proxies = proxies.max(1);
        self
    }

    /// Sets how many actors one peer may have spawned on this node with
    /// [`spawn_remote`](crate::node::spawn_remote) and running at once (default
    /// [`DEFAULT_MAX_REMOTE_SPAWNS_PER_PEER`], 1,024). A request beyond it fails with
    /// `RemoteSpawnError::StartupFailed` saying so; room is made as those actors stop.
    ///
    /// An actor spawned for a peer is supervised by that peer's session: it is stopped (drained)
    /// when the session ends, so a peer that goes away leaves nothing running behind it.
    pub fn with_max_remote_spawns_per_peer(mut self, actors: usize) -> Self {
        self.max_remote_spawns_per_peer = actors;
        self
    }

    /// Sets how many of a peer's control messages (announcements of its actors, group changes,
    /// spawn requests, ...) a session holds before it reads nothing more from the peer (default
    /// [`DEFAULT_MAX_QUEUED_CONTROL_MESSAGES`], 256; at least 1). Reading resumes as soon as the
    /// session has handled one, and the wait is not held against the peer's liveness. Heartbeats
    /// are handled by the reader itself and never wait here.
    pub fn with_max_queued_control_messages(mut self, messages: usize) -> Self {
        self.max_queued_control = messages.max(1);
        self
    }

    /// Sets how many process groups (a scope and a group name) one peer's actors may be in, as
    /// this node sees them (default [`DEFAULT_MAX_GROUPS_PER_PEER`], 4,096). A join to a further
    /// group is ignored with a warning; the session stays up. Scope and group names longer than
    /// 1,024 bytes end the session (PROTOCOL.md, rule G1).
    pub fn with_max_groups_per_peer(mut self, groups: usize) -> Self {
        self.max_groups_per_peer = groups;
        self
    }

    /// Sets how many nodes a [`Transitive`](NodeConnectionMode::Transitive) node dials at once
    /// because its peers named them (default [`DEFAULT_MAX_TRANSITIVE_DIALS`], 16; at least 1),
    /// from connecting until the new session has authenticated. A node named while that many are
    /// under way is not dialed then; it is dialed when a peer names it again (every peer names
    /// its peers when a session becomes ready, and answers `where is` questions). Only the first
    /// 256 nodes of one message are considered (PROTOCOL.md, rule T1).
    pub fn with_max_transitive_dials(mut self, dials: usize) -> Self {
        self.max_transitive_dials = dials.max(1);
        self
    }

    /// Sets how many nodes found by [discovery](Self::with_discovery) this node dials at once
    /// (default [`DEFAULT_MAX_DISCOVERY_DIALS`], 16; at least 1), from connecting until the new
    /// session has authenticated or failed. The others wait, in an order of this node's own, and
    /// each is dialed as soon as an earlier dial ends, not at the next round. So nodes that start
    /// together from one list open a bounded number of handshakes each, and a listener meets
    /// about as many at once as each node dials, instead of more than it lets wait to
    /// authenticate ([`with_max_unauthenticated_connections`](Self::with_max_unauthenticated_connections)).
    /// This is the most: the number halves (at most once a second) when a handshake this node
    /// dialed takes over a second or ends before it authenticated, and grows by one with each
    /// that completes within a second, so an overloaded node (or one whose peers are) waits
    /// instead of adding handshakes that would delay the heartbeats of its sessions.
    pub fn with_max_discovery_dials(mut self, dials: usize) -> Self {
        self.max_discovery_dials = dials.max(1);
        self
    }

    /// Sets how many questions "where is node N?" this node answers per second for one peer
    /// (default [`DEFAULT_WHERE_IS_NODE_RATE`], 20; at least 1, with a burst of as many). Further
    /// questions are ignored: the asker's reference then waits and fails as if no node knew.
    pub fn with_where_is_node_rate(mut self, per_second: u32) -> Self {
        self.where_is_node_rate = per_second.max(1);
        self
    }

    /// Sets whether and how often a lost peer that this node had dialed is dialed again (default
    /// [`ReconnectPolicy::default`]: from 100 ms, doubling, at most 10 s apart, with jitter).
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    pub(super) async fn bind(&self) -> std::io::Result<Listener> {
        match self.listen_addr {
            Some(ip) => Listener::bind(SocketAddr::new(ip, self.port)).await,
            None => {
                match Listener::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), self.port)).await
                {
                    Ok(listener) => Ok(listener),
                    Err(err) => {
                        tracing::debug!(%err, "cannot listen on [::], falling back to 0.0.0.0");
                        Listener::bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), self.port))
                            .await
                    }
                }
            }
        }
    }
}

/// What every session of a node needs to know about it.
#[derive(Debug)]
pub(crate) struct NodeConfig {
    pub(crate) cookie: Cookie,
    pub(crate) local: wire::WireNodeName,
    pub(crate) incarnation: u64,
    /// Largest inbound frame body after authentication (also used for outbound frames).
    pub(crate) max_frame: u32,
    pub(crate) connection_mode: NodeConnectionMode,
    pub(crate) handshake_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) down_after: Duration,
    pub(crate) announce: Announce,
    /// Bound on the queued bytes of casts, calls and replies per peer.
    pub(crate) max_outbound_queue: usize,
    /// Bound on a peer's calls delivered here and not answered yet.
    pub(crate) max_unanswered_calls: usize,
    /// Whether peers' named actors get name forwarders in ractor's registry (see `names`).
    pub(crate) remote_names_in_registry: bool,
    /// What sessions over transports other than TLS ask for their frames (rule K1).
    pub(crate) frames: wire::FrameProtection,
    /// Proxies one peer's actors may have here.
    pub(crate) max_proxies_per_peer: usize,
    /// Proxies of all peers' actors together, drawn on by every session of the node.
    pub(crate) proxies: Arc<Allowance>,
    /// Actors one peer may have spawned here and running.
    pub(crate) max_remote_spawns_per_peer: usize,
    /// A peer's control messages a session holds before its reader pauses.
    pub(crate) max_queued_control: usize,
    /// Process groups one peer's actors may be in.
    pub(crate) max_groups_per_peer: usize,
    /// `WhereIsNode` questions answered per second and peer.
    pub(crate) where_is_node_rate: u32,
    /// How often sessions probe the round trip; `None`: never.
    pub(crate) rtt_probe_interval: Option<Duration>,
    /// Whether probes go on links neither side watches.
    pub(crate) rtt_probes_on_every_link: bool,
    /// The sessions that hear of changes to this process's actors (see `local_events`).
    pub(crate) local_subscribers: Arc<super::local_events::LocalSubscribers>,
    /// What this node's discovery listed last, told to peers of 2.10 (`DiscoveryView`).
    pub(crate) listed: Arc<crate::discovery::ListedNow>,
    pub(crate) hidden: bool,
}
