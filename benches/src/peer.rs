//! The peer process (`bench_peer`) and the bench's handle on it.
//!
//! The bench starts one peer per system it measures. The peer prints `port <n>` on stdout once it
//! listens, then answers one line per command line read on stdin ([`PeerCommand`]). It exits when
//! its stdin closes, so it never outlives the bench, and prints its CPU time and peak RSS on
//! stderr as it goes.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::ProcStats;

/// What the peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// A `ractor_cluster` node with a receiving actor in [`crate::SINK_GROUP`].
    Node,
    /// The plain TCP baseline server ([`crate::baseline`]).
    Tcp,
    /// A node of the published `ractor_cluster` with a receiving actor in
    /// [`crate::published::PUBLISHED_SINK_GROUP`].
    Published,
    /// A `ractor_cluster` node like [`PeerKind::Node`] that asks for plaintext frames
    /// (`NodeServer::with_plaintext_frames`), under another name: the same build without sealing.
    PlaintextNode,
}

impl PeerKind {
    /// The command-line argument that selects this kind.
    pub fn arg(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Tcp => "tcp",
            Self::Published => "published",
            Self::PlaintextNode => "node-plaintext",
        }
    }

    /// The kind an argument selects.
    pub fn from_arg(arg: &str) -> Option<Self> {
        match arg {
            "node" => Some(Self::Node),
            "tcp" => Some(Self::Tcp),
            "published" => Some(Self::Published),
            "node-plaintext" => Some(Self::PlaintextNode),
            _ => None,
        }
    }
}

/// One command line sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerCommand {
    /// Answered with `stats <ProcStats>`.
    Stats,
    /// Resets the peer's peak RSS; answered with `ok`.
    ResetPeakRss,
    /// Spawns `count` idle actors that join `group` (node peers only); answered with `ok` once
    /// they have joined.
    Join {
        /// The group.
        group: String,
        /// How many actors.
        count: usize,
    },
    /// Stops the actors a `Join` spawned for `group`; answered with `ok` once they have stopped.
    Leave {
        /// The group.
        group: String,
    },
}

impl PeerCommand {
    /// Parses one command line.
    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace();
        let command = match (words.next()?, words.next(), words.next()) {
            ("stats", None, None) => Self::Stats,
            ("reset-peak", None, None) => Self::ResetPeakRss,
            ("join", Some(group), Some(count)) => Self::Join {
                group: group.to_owned(),
                count: count.parse().ok()?,
            },
            ("leave", Some(group), None) => Self::Leave {
                group: group.to_owned(),
            },
            _ => return None,
        };
        words.next().is_none().then_some(command)
    }
}

impl fmt::Display for PeerCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stats => f.write_str("stats"),
            Self::ResetPeakRss => f.write_str("reset-peak"),
            Self::Join { group, count } => write!(f, "join {group} {count}"),
            Self::Leave { group } => write!(f, "leave {group}"),
        }
    }
}

/// A running peer process. Dropping it closes the peer's stdin and waits (briefly) for it to exit.
#[derive(Debug)]
pub struct Peer {
    kind: PeerKind,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Peer {
    /// Starts the peer binary at `exe` and waits until it listens.
    pub fn start(exe: &Path, kind: PeerKind) -> io::Result<Self> {
        let mut child = Command::new(exe)
            .arg(kind.arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("the peer's pipes are missing"));
        };
        let mut peer = Self {
            kind,
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        let line = peer.read_line()?;
        let port = line
            .strip_prefix("port ")
            .and_then(|port| port.trim().parse::<u16>().ok())
            .ok_or_else(|| io::Error::other(format!("the peer said {line:?}, not its port")))?;
        peer.addr.set_port(port);
        Ok(peer)
    }

    /// What the peer runs.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Where the peer listens (on 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The peer's CPU time and memory so far.
    pub fn stats(&mut self) -> io::Result<ProcStats> {
        let answer = self.command(&PeerCommand::Stats)?;
        answer
            .strip_prefix("stats ")
            .and_then(ProcStats::parse)
            .ok_or_else(|| io::Error::other(format!("unexpected answer to stats: {answer:?}")))
    }

    /// Sends `command` and returns the peer's answer (an `error …` answer is an `Err`).
    pub fn command(&mut self, command: &PeerCommand) -> io::Result<String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        let answer = self.read_line()?;
        match answer.strip_prefix("error ") {
            Some(err) => Err(io::Error::other(format!("peer: {err}"))),
            None => Ok(answer),
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer exited",
            ));
        }
        Ok(line.trim_end().to_owned())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        for command in [
            PeerCommand::Stats,
            PeerCommand::ResetPeakRss,
            PeerCommand::Join {
                group: "g".into(),
                count: 10,
            },
            PeerCommand::Leave { group: "g".into() },
        ] {
            assert_eq!(PeerCommand::parse(&command.to_string()), Some(command));
        }
        assert_eq!(PeerCommand::parse("join g"), None);
        assert_eq!(PeerCommand::parse("stats now"), None);
    }
}
