//! A live view of a running cluster: the members and, for each link of this viewer, its figures,
//! printed again every second.
//!
//! Start a cluster with `manual_node` (see its docs), then in another terminal:
//!
//! ```text
//! cargo run -p ractor_cluster_examples --example cluster_top -- --connect 127.0.0.1:4001
//! ```
//!
//! The viewer is a *hidden* node of its own (`top-<pid>@127.0.0.1`, `NodeServer::with_hidden`):
//! no member lists it, counts it for downing or names it to another, and none tells it of its
//! actors and groups. In transitive mode it dials the address given, then every member that one
//! names, and every member that joins later (its peers tell a hidden node of each one they meet),
//! so it has a link to every member. It shows each member with its status as the viewer sees it,
//! and per link the bytes and messages each way, the bytes queued, the round trip (probed every
//! second) and how long ago the peer was last heard. The members it meets must speak protocol 2.7
//! or later (older ones refuse a hidden node).
//!
//! Options:
//!
//! - `--connect ADDR`: a node of the cluster (`host:port`); required.
//! - `--cookie COOKIE`: the cluster's cookie (default `manual-node-cookie`, `manual_node`'s).
//! - `--every SECS`: how often to print (default 1).
//! - `--rounds N`: stop after printing N times (for scripts; default: run until Ctrl-C).

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example talks to its user

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ractor::Actor;
use ractor_cluster::membership::{members, Member};
use ractor_cluster::node::{node_info, peer_stats, Announce, PeerStats};
use ractor_cluster::{NodeConnectionMode, NodeServer};

struct Options {
    connect: String,
    cookie: String,
    every: Duration,
    rounds: Option<u64>,
}

fn parse_options() -> Result<Options, String> {
    let mut connect = None;
    let mut options = Options {
        connect: String::new(),
        cookie: "manual-node-cookie".to_owned(),
        every: Duration::from_secs(1),
        rounds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--connect" => connect = Some(value()?),
            "--cookie" => options.cookie = value()?,
            "--every" => {
                let secs: f64 = value()?.parse().map_err(|e| format!("--every: {e}"))?;
                options.every = Duration::from_secs_f64(secs.max(0.1));
            }
            "--rounds" => {
                options.rounds = Some(value()?.parse().map_err(|e| format!("--rounds: {e}"))?);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    options.connect = connect.ok_or("--connect ADDR is required")?;
    Ok(options)
}

/// `bytes` in B, KiB or MiB, to fit a column.
fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b < 10 * KIB => format!("{b} B"),
        b if b < 10 * KIB * KIB => format!("{} KiB", b / KIB),
        b => format!("{} MiB", b / (KIB * KIB)),
    }
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn print_view(members: &[Member], links: &[PeerStats]) {
    // Clears the terminal and goes home, as top does.
    print!("\x1b[2J\x1b[H");
    println!("{} members", members.len());
    println!(
        "{:<32} {:<12} {:<22} {:>20}",
        "member", "status", "address", "incarnation"
    );
    for member in members {
        println!(
            "{:<32} {:<12} {:<22} {:>20}",
            member.name,
            format!("{:?}", member.status),
            member.address,
            member.incarnation
        );
    }
    println!();
    println!(
        "{:<32} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>11} {:>11} {:>9} {:>5} {:<10}",
        "link to",
        "bytes in",
        "bytes out",
        "casts in",
        "casts out",
        "calls",
        "queued",
        "rtt p50",
        "rtt p99",
        "heard",
        "again",
        "protected"
    );
    for link in links {
        let (p50, p99) = link.rtt.map_or(("-".to_owned(), "-".to_owned()), |rtt| {
            (millis(rtt.p50), millis(rtt.p99))
        });
        println!(
            "{:<32} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9} {:>11} {:>11} {:>9} {:>5} {:<10}",
            link.peer_name,
            size(link.bytes_in),
            size(link.bytes_out),
            link.casts_in,
            link.casts_out,
            link.calls_in + link.calls_out,
            size(link.queued_bytes as u64),
            p50,
            p99,
            format!("{:.1} s", link.last_heard.as_secs_f64()),
            link.reconnections,
            link.protection.as_str(),
        );
    }
}

#[tokio::main]
async fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("{err}\n(see the top of examples/cluster_top.rs for the options)");
            std::process::exit(2);
        }
    };
    let server = NodeServer::new(
        0,
        options.cookie,
        format!("top-{}", std::process::id()),
        "127.0.0.1".to_owned(),
        None,
        Some(NodeConnectionMode::Transitive),
    )
    .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
    .with_announcement(Announce::OnDemand)
    .with_hidden(true)
    .with_rtt_probe_interval(Duration::from_secs(1));
    let (node, handle) = match Actor::spawn(None, server, ()).await {
        Ok(started) => started,
        Err(err) => {
            eprintln!("cannot start the viewer's node: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) =
        ractor_cluster::client_connect_and_wait(&node, &options.connect, Duration::from_secs(5))
            .await
    {
        eprintln!("cannot join the cluster at {}: {err}", options.connect);
        node.stop(None);
        let _ = handle.await;
        std::process::exit(1);
    }
    let mut every = tokio::time::interval(options.every);
    let mut printed = 0;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let view = tokio::try_join!(members(&node), peer_stats(&node), node_info(&node));
        match view {
            Ok((mut members, mut links, viewer)) => {
                // The viewer lists itself first in its own view; it is no member.
                members.retain(|member| member.name != viewer.name);
                members.sort_by(|a, b| a.name.cmp(&b.name));
                links.sort_by(|a, b| a.peer_name.cmp(&b.peer_name));
                print_view(&members, &links);
            }
            Err(err) => {
                eprintln!("the viewer's node stopped: {err}");
                break;
            }
        }
        printed += 1;
        if options.rounds.is_some_and(|rounds| printed >= rounds) {
            break;
        }
    }
    node.stop(None);
    let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
}
