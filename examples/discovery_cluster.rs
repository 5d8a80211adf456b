//! A cluster formed by discovery alone: no node is told whom to dial.
//!
//! ```text
//! cargo run -p ractor_cluster_examples --example discovery_cluster
//! cargo run -p ractor_cluster_examples --example discovery_cluster -- --nodes 12 --base-port 4600
//! ```
//!
//! Starts `--nodes` nodes (default 5) in this process, on 127.0.0.1 ports `--base-port`,
//! `--base-port + 1`, … (default 4500), all at once. Each is given the same seed list, every
//! node's address (its own included), as a deployment would give it through configuration or a
//! DNS name; none calls `client_connect`. The example prints each node's peers as they come, how
//! long the full mesh took, and stops.
//!
//! For nodes in separate processes or machines, give each the same `StaticSeeds` list, or a
//! `DnsDiscovery` of a name that lists them all (see the README, "Running a cluster").

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example talks to its user

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorRef};
use ractor_cluster::discovery::StaticSeeds;
use ractor_cluster::{NodeServer, NodeServerMessage};

/// How long the example waits for the full mesh before giving up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Discovery rounds: often, for a demo (the default is every 2 s).
const INTERVAL: Duration = Duration::from_millis(250);

fn arg<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> T {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn peers(node: &ActorRef<NodeServerMessage>) -> usize {
    ractor::call_t!(node, NodeServerMessage::GetSessions, 2_000)
        .map(|sessions| sessions.len())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let count: u16 = arg(&args, "--nodes", 5).max(2);
    let base_port: u16 = arg(&args, "--base-port", 4500);

    let seeds: Vec<String> = (0..count)
        .map(|i| format!("127.0.0.1:{}", base_port + i))
        .collect();
    println!("seed list, given to every node: {}", seeds.join(" "));

    let started = Instant::now();
    let mut nodes = Vec::new();
    for i in 0..count {
        let server = NodeServer::new(
            base_port + i,
            "discovery-example-cookie".into(),
            format!("node{i}"),
            "127.0.0.1".into(),
            None,
            None,
        )
        .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_discovery(StaticSeeds::new(seeds.clone()), INTERVAL);
        let (node, handle) = Actor::spawn(None, server, ()).await?;
        nodes.push((node, handle));
    }

    let expected = usize::from(count) - 1;
    let mut last = vec![0; nodes.len()];
    loop {
        let mut complete = true;
        for (i, (node, _)) in nodes.iter().enumerate() {
            let now = peers(node).await;
            if now != last[i] {
                println!("node{i}: {now} of {expected} peers");
                last[i] = now;
            }
            complete &= now == expected;
        }
        if complete {
            println!(
                "{count} nodes form one cluster, {:.2} s after the first started",
                started.elapsed().as_secs_f64()
            );
            break;
        }
        if started.elapsed() > GIVE_UP_AFTER {
            eprintln!("no full mesh after {GIVE_UP_AFTER:?}: is a port in use?");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for (node, handle) in nodes {
        node.stop(None);
        let _ = handle.await;
    }
    Ok(())
}
