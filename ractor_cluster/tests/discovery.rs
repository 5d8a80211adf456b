//! Discovery sources: static seeds, and DNS against a name server the test runs on 127.0.0.1
//! (never the machine's resolver). Every wait is bounded.
#![cfg(feature = "dns")]

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor_cluster::discovery::{Discovery, DnsDiscovery, StaticSeeds};

use common::dns_server::DnsServer;
use common::{start_node_with, within, Node, NodeOptions, WAIT};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("IP literal")
}

async fn found(discovery: &dyn Discovery) -> Vec<String> {
    within("a discovery round", discovery.discover())
        .await
        .expect("discovery succeeds")
}

#[tokio::test]
async fn static_seeds_are_found_as_given() {
    let seeds = StaticSeeds::new(["127.0.0.1:4001", "localhost:4002"]);
    assert_eq!(found(&seeds).await, ["127.0.0.1:4001", "localhost:4002"]);
}

#[tokio::test]
async fn dns_finds_every_a_and_aaaa_record_with_the_port() {
    let server = DnsServer::start().await;
    server.set_addresses(
        "cluster.test",
        &[ip("127.0.0.2"), ip("127.0.0.1"), ip("::1")],
    );
    let discovery = DnsDiscovery::new("cluster.test.", 4697).with_name_server(server.addr());
    assert_eq!(
        found(&discovery).await,
        ["127.0.0.1:4697", "127.0.0.2:4697", "[::1]:4697"]
    );
}

#[tokio::test]
async fn dns_sees_nodes_come_and_go() {
    let server = DnsServer::start().await;
    server.set_addresses("pods.test", &[ip("127.0.0.1")]);
    let discovery = DnsDiscovery::new("pods.test.", 9000).with_name_server(server.addr());
    assert_eq!(found(&discovery).await, ["127.0.0.1:9000"]);

    server.set_addresses("pods.test", &[ip("127.0.0.1"), ip("127.0.0.3")]);
    assert_eq!(
        found(&discovery).await,
        ["127.0.0.1:9000", "127.0.0.3:9000"]
    );

    server.set_addresses("pods.test", &[ip("127.0.0.3")]);
    assert_eq!(found(&discovery).await, ["127.0.0.3:9000"]);
}

#[tokio::test]
async fn dns_srv_records_give_targets_and_their_ports() {
    let server = DnsServer::start().await;
    server.set_services(
        "_cluster._tcp.svc.test",
        &[
            (5001, "a.svc.test"),
            (5002, "b.svc.test"),
            (5003, "gone.svc.test"),
        ],
    );
    server.set_addresses("a.svc.test", &[ip("127.0.0.1")]);
    server.set_addresses("b.svc.test", &[ip("127.0.0.2"), ip("::1")]);
    let discovery = DnsDiscovery::srv("_cluster._tcp.svc.test.").with_name_server(server.addr());
    assert_eq!(
        found(&discovery).await,
        ["127.0.0.1:5001", "127.0.0.2:5002", "[::1]:5002"]
    );
}

#[tokio::test]
async fn dns_reports_an_unknown_name_as_an_error() {
    let server = DnsServer::start().await;
    let discovery = DnsDiscovery::new("nobody.test.", 1).with_name_server(server.addr());
    let result = within("a discovery round", discovery.discover()).await;
    let err = result.expect_err("an unknown name is an error");
    assert!(err.to_string().starts_with("discovery failed"), "{err}");
}

/// As a Kubernetes headless service publishes its pods: one name, an A record per node, every node
/// on the same port (here on three addresses of the loopback range). Each node finds all three,
/// itself included, and the three form one cluster.
#[tokio::test]
async fn nodes_found_by_dns_form_one_cluster() {
    let server = DnsServer::start().await;
    let ips = [ip("127.0.0.21"), ip("127.0.0.22"), ip("127.0.0.23")];
    server.set_addresses("cluster.shop.test", &ips);
    let options = |port, listen_ip| {
        let discovery =
            DnsDiscovery::new("cluster.shop.test.", port).with_name_server(server.addr());
        let discovery: Arc<dyn Discovery> = Arc::new(discovery);
        NodeOptions {
            port,
            listen_ip: Some(listen_ip),
            discovery: Some((discovery, Duration::from_millis(50))),
            ..Default::default()
        }
    };
    // A port free on the first address (bound, then freed), for all three.
    let port = std::net::TcpListener::bind((ips[0], 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut nodes: Vec<Node> = Vec::new();
    for (i, listen_ip) in ips.into_iter().enumerate() {
        nodes.push(start_node_with(&format!("dns-{i}"), options(port, listen_ip)).await);
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    for node in &nodes {
        let mut expected: Vec<String> = nodes
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| n.name.clone())
            .collect();
        expected.sort();
        while node.peer_names().await != expected {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not find the other nodes through DNS",
                node.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(nodes);
}
