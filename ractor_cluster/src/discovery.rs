//! Finding the nodes to connect to: a [`Discovery`] is asked, again and again, for the addresses
//! of the nodes this node should be connected to, and the node dials those it has no session with
//! (see [`NodeServer::with_discovery`](crate::NodeServer::with_discovery)).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ractor::Actor;
//! use ractor_cluster::discovery::{StaticSeeds, DEFAULT_DISCOVERY_INTERVAL};
//! use ractor_cluster::NodeServer;
//!
//! // The same seed list on every node; each dials the others, and finds itself in it too.
//! let seeds = StaticSeeds::new(["10.0.0.1:4697", "10.0.0.2:4697", "10.0.0.3:4697"]);
//! let server = NodeServer::new(4697, "cookie".into(), "a".into(), "10.0.0.1".into(), None, None)
//!     .with_discovery(seeds, DEFAULT_DISCOVERY_INTERVAL);
//! let (_node, _handle) = Actor::spawn(None, server, ()).await?;
//! # Ok(()) }
//! ```
//!
//! Built in:
//! * [`StaticSeeds`]: a fixed list of `host:port` addresses, the same on every node;
//! * [`DnsDiscovery`] (feature `dns`, on by default): every A and AAAA record of a name, with a
//!   port, as a Kubernetes headless service publishes its pods; or every SRV record of a name.
//!
//! Anything else (a cloud provider's API, a service registry, a file) is a type that implements
//! [`Discovery`]. A discovery result may list this node itself; the node recognises its own
//! address and never keeps a session with itself.

#[cfg(feature = "dns")]
mod dns;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::listed::ListedDigest;

/// How a node finds the nodes it should be connected to; see
/// [`NodeServer::with_discovery`](crate::NodeServer::with_discovery).
#[derive(Clone)]
pub(crate) struct DiscoveryConfig {
    pub(crate) source: Arc<dyn Discovery>,
    pub(crate) interval: Duration,
}

impl fmt::Debug for DiscoveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryConfig")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// The digest of what this node's discovery listed in its last round (protocol 2.10), shared by
/// the reconciler, which sets it each round, and the sessions, which tell it to their peers.
#[derive(Debug, Default)]
pub(crate) struct ListedNow(std::sync::Mutex<Option<ListedDigest>>);

impl ListedNow {
    pub(crate) fn set(&self, digest: ListedDigest) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(digest);
    }

    /// `None` until a round listed something (and for a node without discovery).
    pub(crate) fn get(&self) -> Option<ListedDigest> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub use dns::DnsDiscovery;

/// Default time between two rounds of discovery (and of dialing the nodes found): 2 s.
///
/// A round costs one query per node (to DNS, for [`DnsDiscovery`]) and nothing on the wire when
/// the cluster is complete; a node that is missing is dialed again at the next round whose time
/// has come under the node's [`ReconnectPolicy`](crate::node::ReconnectPolicy) backoff.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(2);

/// The longest a discovery round may take when the interval is shorter (5 s): long enough for a
/// DNS resolver's own timeout and retry.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most addresses one discovery round may return; the rest are ignored with a warning. A
/// bound on what a misconfigured source (or a hostile DNS answer) can make a node dial.
pub const MAX_DISCOVERED_ADDRESSES: usize = 4096;

/// What [`Discovery::discover`] returns: the addresses to be connected to, or why they could not
/// be found this time.
pub type DiscoveryFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<String>, DiscoveryError>> + Send + 'a>>;

/// A source of the addresses (`host:port`, or a socket address such as `10.1.2.3:4697` or
/// `[fd00::7]:4697`) of the nodes this node should be connected to.
///
/// The node asks it once per [interval](crate::NodeServer::with_discovery), on a task of its own,
/// one round at a time, and waits for each answer at most the longer of the interval and
/// [`DISCOVERY_TIMEOUT`]: a slow source delays nothing else. An error is logged and the next round asks again; the connections already made stay.
///
/// ```
/// use ractor_cluster::discovery::{Discovery, DiscoveryError, DiscoveryFuture};
///
/// /// The nodes listed, comma-separated, in an environment variable that a deployment tool sets.
/// struct FromEnv(&'static str);
///
/// impl Discovery for FromEnv {
///     fn discover(&self) -> DiscoveryFuture<'_> {
///         Box::pin(async move {
///             let list = std::env::var(self.0).map_err(DiscoveryError::new)?;
///             Ok(list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect())
///         })
///     }
/// }
/// ```
pub trait Discovery: Send + Sync + 'static {
    /// The addresses of the nodes this node should be connected to now. It may include this node.
    fn discover(&self) -> DiscoveryFuture<'_>;
}

/// A shared source is a source: one can serve several nodes, or be changed by the application.
impl<D: Discovery + ?Sized> Discovery for Arc<D> {
    fn discover(&self) -> DiscoveryFuture<'_> {
        (**self).discover()
    }
}

/// A fixed list of seed addresses: every node of the cluster can be given the same list (its own
/// address included), and each dials the others.
///
/// ```
/// use ractor_cluster::discovery::StaticSeeds;
///
/// let seeds = StaticSeeds::new(["10.0.0.1:4697", "10.0.0.2:4697", "10.0.0.3:4697"]);
/// assert_eq!(seeds.addresses().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticSeeds {
    addresses: Vec<String>,
}

impl StaticSeeds {
    /// Seeds at these `host:port` addresses.
    pub fn new<I, S>(addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            addresses: addresses.into_iter().map(Into::into).collect(),
        }
    }

    /// The seed addresses.
    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }
}

impl Discovery for StaticSeeds {
    fn discover(&self) -> DiscoveryFuture<'_> {
        Box::pin(std::future::ready(Ok(self.addresses.clone())))
    }
}

/// Why a discovery round found nothing: the source could not be asked, or its answer was not
/// understood. The node logs it and asks again at the next round.
#[derive(Debug)]
pub struct DiscoveryError {
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl DiscoveryError {
    /// Wraps the error of a discovery source.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "discovery failed: {}", self.source)
    }
}

impl std::error::Error for DiscoveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl From<std::io::Error> for DiscoveryError {
    fn from(err: std::io::Error) -> Self {
        Self::new(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_seeds_return_their_list() {
        let seeds = StaticSeeds::new(["a:1", "b:2"]);
        let found = seeds.discover().await.map_err(|e| e.to_string());
        assert_eq!(found, Ok(vec!["a:1".to_owned(), "b:2".to_owned()]));
    }

    #[test]
    fn errors_keep_their_source() {
        let err = DiscoveryError::from(std::io::Error::other("no route"));
        assert_eq!(err.to_string(), "discovery failed: no route");
        assert!(std::error::Error::source(&err).is_some());
    }
}
