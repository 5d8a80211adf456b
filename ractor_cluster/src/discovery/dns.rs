//! Discovery through DNS: the addresses of a name (A and AAAA records) with a fixed port, or the
//! targets and ports of its SRV records.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::{Discovery, DiscoveryError, DiscoveryFuture};

/// What to ask DNS for.
#[derive(Debug, Clone)]
enum Query {
    /// Every A and AAAA record of `name`, each with `port`.
    Hosts { name: String, port: u16 },
    /// Every SRV record of `name`: its target's addresses, with the record's port.
    Srv { name: String },
}

/// Finds the nodes through DNS, as a Kubernetes headless service publishes its pods: every A and
/// AAAA record of a name, with the port the nodes listen on ([`DnsDiscovery::new`]), or every SRV
/// record of a name, with the ports the records give ([`DnsDiscovery::srv`]).
///
/// The name is resolved with the system's resolver configuration (`/etc/resolv.conf`, search
/// domains included), or with one name server of your choice
/// ([`with_name_server`](Self::with_name_server)). Answers are cached for their TTL, so a short
/// TTL makes new nodes visible sooner.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ractor_cluster::discovery::{Discovery, DnsDiscovery};
///
/// // Every pod behind the headless service `cluster` of namespace `shop`, all on port 4697.
/// let discovery = DnsDiscovery::new("cluster.shop.svc.cluster.local.", 4697);
/// for address in discovery.discover().await? {
///     println!("a node listens at {address}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DnsDiscovery {
    query: Query,
    name_server: Option<SocketAddr>,
    /// Built on first use, so that building a `DnsDiscovery` never fails (a machine may have no
    /// resolver configuration at all when a name server is given).
    resolver: Mutex<Option<TokioResolver>>,
}

impl DnsDiscovery {
    /// Every A and AAAA record of `name`, each with `port`. Give a fully qualified name (ending
    /// with a dot) to skip the system's search domains.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Self::with_query(Query::Hosts {
            name: name.into(),
            port,
        })
    }

    /// Every SRV record of `name` (such as `_cluster._tcp.shop.svc.cluster.local.`): the
    /// addresses of its target, with the port of the record.
    pub fn srv(name: impl Into<String>) -> Self {
        Self::with_query(Query::Srv { name: name.into() })
    }

    fn with_query(query: Query) -> Self {
        Self {
            query,
            name_server: None,
            resolver: Mutex::new(None),
        }
    }

    /// Asks only this name server (over UDP, and TCP for answers too long for UDP) instead of
    /// the system's.
    pub fn with_name_server(mut self, server: SocketAddr) -> Self {
        self.name_server = Some(server);
        self.resolver = Mutex::new(None);
        self
    }

    /// The resolver, built the first time it is needed.
    fn resolver(&self) -> Result<TokioResolver, DiscoveryError> {
        // A panic elsewhere while holding the lock cannot leave the `Option` half written.
        let mut slot = self
            .resolver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(resolver) = slot.as_ref() {
            return Ok(resolver.clone());
        }
        let mut builder = match self.name_server {
            Some(server) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), servers),
                    TokioConnectionProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(DiscoveryError::new)?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        // Both families: a cluster may be dual-stack, and every address is a node.
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let resolver = builder.build();
        *slot = Some(resolver.clone());
        Ok(resolver)
    }
}

/// `ip:port` as a dialable address (`[v6]:port` for IPv6).
fn address(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

impl Discovery for DnsDiscovery {
    fn discover(&self) -> DiscoveryFuture<'_> {
        Box::pin(async move {
            let resolver = self.resolver()?;
            let mut found = Vec::new();
            match &self.query {
                Query::Hosts { name, port } => {
                    let ips = resolver
                        .lookup_ip(name.as_str())
                        .await
                        .map_err(DiscoveryError::new)?;
                    found.extend(ips.iter().map(|ip| address(ip, *port)));
                }
                Query::Srv { name } => {
                    let records = resolver
                        .srv_lookup(name.as_str())
                        .await
                        .map_err(DiscoveryError::new)?;
                    for record in records.iter() {
                        // A target that does not resolve (yet) is skipped: the others are nodes.
                        match resolver.lookup_ip(record.target().clone()).await {
                            Ok(ips) => {
                                found.extend(ips.iter().map(|ip| address(ip, record.port())));
                            }
                            Err(err) => {
                                tracing::debug!(target = %record.target(), %err, "an SRV target does not resolve");
                            }
                        }
                    }
                }
            }
            found.sort();
            found.dedup();
            Ok(found)
        })
    }
}
