//! Two nodes that talk over TLS, with a certificate generated when the example starts.
//!
//! Run it with:
//!
//! ```text
//! cargo run -p ractor_cluster_examples --example tls_cluster
//! ```
//!
//! Node `vault` accepts only TLS connections (`IncomingEncryptionMode::Tls`), with a self-signed
//! certificate for `localhost` made by `rcgen`; no key file is read or written. Node `teller`
//! trusts exactly that certificate and connects with `client_connect_enc`, checking the name
//! `localhost`. A `Vault` actor lives on `vault`; `teller` casts to it and calls it through its
//! proxy, so every message crosses the TLS connection.
//!
//! Both nodes run in this one process to keep the example short. ractor's process groups and pid
//! registry are shared by the whole process, so the `Vault` actor is local to both nodes and each
//! announces it to the other. The proxy that goes through the TLS session from `teller` to
//! `vault` is the group member whose id is `ActorId::Remote { node_id: <vault's id>, .. }`; that
//! is the one this example uses. In a real deployment each node is its own process and the
//! question does not arise.

#![allow(clippy::print_stdout)] // an example talks to its user

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ractor::{pg, Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{
    IncomingEncryptionMode, NodeEventSubscription, NodeServer, NodeServerMessage,
    RactorClusterMessage,
};
use tokio_native_tls::native_tls;

type Error = Box<dyn std::error::Error + Send + Sync>;

const COOKIE: &str = "tls-example-cookie";
const GROUP: &str = "tls.vault";
/// The name the certificate is issued for and the client checks.
const SERVER_NAME: &str = "localhost";
const WAIT: Duration = Duration::from_secs(10);

/// The messages of the vault actor.
#[derive(RactorClusterMessage)]
enum VaultMessage {
    /// A cast: keep a secret under a name.
    Store(String, String),
    /// A call: the secret stored under a name, if any.
    #[rpc]
    Fetch(String, RpcReplyPort<Option<String>>),
}

struct Vault;

impl Actor for Vault {
    type Msg = VaultMessage;
    type State = HashMap<String, String>;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        pg::join(GROUP.to_owned(), vec![myself.get_cell()]);
        Ok(HashMap::new())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        secrets: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            VaultMessage::Store(name, secret) => {
                secrets.insert(name, secret);
            }
            VaultMessage::Fetch(name, reply) => {
                let _ = reply.send(secrets.get(&name).cloned());
            }
        }
        Ok(())
    }
}

/// Tells the example when one of a node's sessions ended.
struct SessionEnded(tokio::sync::mpsc::UnboundedSender<()>);

impl NodeEventSubscription for SessionEnded {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {
        let _ = self.0.send(());
    }
}

/// A server identity with a fresh self-signed certificate for [`SERVER_NAME`], and a client
/// connector that trusts that certificate only (certificate and name checks stay on).
fn tls_pair() -> Result<(native_tls::TlsAcceptor, native_tls::TlsConnector), Error> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])?;
    let cert_pem = cert.pem();
    // rcgen writes the key as PKCS#8 PEM, which `Identity::from_pkcs8` reads.
    let key_pem = signing_key.serialize_pem();
    let identity = native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes())?;
    let acceptor = native_tls::TlsAcceptor::new(identity)?;
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(cert_pem.as_bytes())?)
        .build()?;
    Ok((acceptor, connector))
}

fn node(name: &str, encryption: Option<IncomingEncryptionMode>) -> NodeServer {
    NodeServer::new(
        0,
        COOKIE.to_owned(),
        name.to_owned(),
        SERVER_NAME.to_owned(),
        encryption,
        None,
    )
    .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (acceptor, connector) = tls_pair()?;
    println!("generated a self-signed certificate for {SERVER_NAME:?}");

    // The vault node accepts TLS only; the teller node dials out with TLS.
    let tls = IncomingEncryptionMode::Tls(acceptor.into());
    let (vault_node, vault_handle) = Actor::spawn(None, node("vault", Some(tls)), ()).await?;
    let (teller_node, teller_handle) = Actor::spawn(None, node("teller", None), ()).await?;
    let vault_info = ractor_cluster::node::node_info(&vault_node).await?;
    println!(
        "node {} accepts TLS on {}",
        vault_info.name, vault_info.listen_addr
    );

    let (vault, vault_actor) = Actor::spawn(Some("vault".to_owned()), Vault, ()).await?;

    let started = Instant::now();
    ractor_cluster::client_connect_enc(
        &teller_node,
        vault_info.listen_addr,
        connector.into(),
        SERVER_NAME,
    )
    .await?;

    // Wait (bounded) for the proxy of the vault actor that the TLS session created on teller.
    let through_tls = ActorId::Remote {
        node_id: vault_info.node_id,
        pid: vault.get_id().pid(),
    };
    let proxy: ActorRef<VaultMessage> = loop {
        let found = pg::get_members(&GROUP.to_owned())
            .into_iter()
            .find(|member| member.get_id() == through_tls);
        if let Some(member) = found {
            break member.into();
        }
        if started.elapsed() > WAIT {
            return Err(format!("no proxy for the vault actor after {WAIT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!(
        "teller authenticated to vault over TLS in {:.1} ms; the vault actor is pid {} of node \
         {:016x} there",
        started.elapsed().as_secs_f64() * 1e3,
        proxy.get_id().pid(),
        vault_info.node_id
    );
    let sessions = ractor::call_t!(teller_node, NodeServerMessage::GetSessions, 2_000)?;
    for info in sessions.values() {
        let peer = info.peer_name.as_ref().map_or("?", |n| n.name.as_str());
        let id = info.peer_node_id().unwrap_or_default();
        println!(
            "teller's session: {peer} (node id {id:016x}) at {}",
            info.peer_addr
        );
    }

    // A cast and a call through the proxy: both cross the TLS connection.
    proxy.cast(VaultMessage::Store(
        "launch code".into(),
        "0000 (really)".into(),
    ))?;
    let call_started = Instant::now();
    let fetched = ractor::call_t!(proxy, VaultMessage::Fetch, 2_000, "launch code".to_owned())?;
    println!(
        "cast Store, then call Fetch over TLS -> {fetched:?} in {:.1} ms",
        call_started.elapsed().as_secs_f64() * 1e3
    );
    let missing = ractor::call_t!(proxy, VaultMessage::Fetch, 2_000, "nothing here".to_owned())?;
    println!("call Fetch for a name never stored -> {missing:?}");
    if fetched.is_none() {
        return Err("the vault lost the secret".into());
    }

    // A node that dials without TLS gets no session: the vault node's TLS handshake fails on the
    // first bytes, and the intruder's session ends.
    let (intruder_node, intruder_handle) = Actor::spawn(None, node("intruder", None), ()).await?;
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
    intruder_node.cast(NodeServerMessage::SubscribeToEvents {
        id: "example".to_owned(),
        subscription: Box::new(SessionEnded(ended_tx)),
    })?;
    ractor_cluster::client_connect(&intruder_node, vault_info.listen_addr).await?;
    tokio::time::timeout(WAIT, ended.recv())
        .await
        .map_err(|_| "the plain-TCP session did not end in time")?;
    let vault_sessions = ractor::call_t!(vault_node, NodeServerMessage::GetSessions, 2_000)?;
    println!(
        "a plain-TCP node dialed vault: its session ended; vault still has {} session(s)",
        vault_sessions.len()
    );

    // Stop everything, each step bounded.
    vault.stop(None);
    for node in [&intruder_node, &teller_node, &vault_node] {
        node.stop(None);
    }
    for handle in [vault_actor, intruder_handle, teller_handle, vault_handle] {
        tokio::time::timeout(WAIT, handle).await??;
    }
    println!("done");
    Ok(())
}
