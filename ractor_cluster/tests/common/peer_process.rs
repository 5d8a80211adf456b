//! Peer nodes in separate processes, for the test executables that are both the runner
//! (`harness = false`) and, started again with [`PEER_ENV`] set, a peer.
//!
//! The peer prints `READY <port> <node id>` (see [`Commands::ready`]) and then answers one line
//! on stdout for each command line on stdin; it exits when its stdin closes, so it never outlives
//! the test that started it. The parent's [`PeerProcess`] kills it when dropped, however the
//! test ends.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use ractor_cluster::NodeId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, Stdin};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::within;

/// Set (to the node's name) in the environment of a peer process.
pub(crate) const PEER_ENV: &str = "RACTOR_CLUSTER_TEST_PEER";

// ---------------------------------------------------------------------------------------------
// The runner

/// A test of a `harness = false` executable.
pub(crate) type TestFn = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// The `(name, test)` table of the given async test functions.
// Not every test binary that includes `common` uses it.
#[allow(unused_macros)]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), || Box::pin($name()) as _)),*]
    };
}
#[allow(unused_imports)]
pub(crate) use tests;

/// The `main` of a runner-and-peer executable: runs `peer_main` with the peer's name if this
/// process is a peer, otherwise runs the selected `tests`, each on a fresh runtime and, if
/// `time_limit` is given, failing the ones that take longer.
pub(crate) fn main<F: Future<Output = ()>>(
    tests: &[(&str, TestFn)],
    time_limit: Option<Duration>,
    peer_main: impl FnOnce(String) -> F,
) -> ExitCode {
    if let Ok(name) = std::env::var(PEER_ENV) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(peer_main(name));
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    // libtest's arguments, as far as they matter here: filters, `--exact` and `--skip`; the
    // values of other flags that take one are skipped.
    let (mut filters, mut skips, mut exact) = (Vec::new(), Vec::new(), false);
    let mut words = args.iter();
    while let Some(arg) = words.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--skip" => skips.extend(words.next()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => {
                words.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter),
        }
    }
    let matches = |name: &str, pattern: &str| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let selected = tests.iter().filter(|(name, _)| {
        (filters.is_empty() || filters.iter().any(|f| matches(name, f)))
            && !skips.iter().any(|s| matches(name, s))
    });

    let started = std::time::Instant::now();
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in selected {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async {
                match time_limit {
                    Some(limit) => tokio::time::timeout(limit, test()).await.is_ok(),
                    None => {
                        test().await;
                        true
                    }
                }
            })
        }));
        // Tasks a failed test left behind must not outlive it.
        runtime.shutdown_timeout(Duration::from_secs(1));
        if matches!(outcome, Ok(true)) {
            println!("test {name} ... ok");
            passed += 1;
        } else {
            println!("test {name} ... FAILED");
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; finished in {:.2}s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failures: {failed:?}");
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------
// The peer's side

/// The parent's commands, one per line on the peer's stdin.
pub(crate) struct Commands(Lines<BufReader<Stdin>>);

impl Commands {
    /// Tells the parent that the node listens on `port` and has the id `id`, and starts reading
    /// commands.
    pub(crate) fn ready(port: u16, id: NodeId) -> Self {
        println!("READY {port} {id}");
        Self(BufReader::new(tokio::io::stdin()).lines())
    }

    /// The next command; `None` once the parent has closed stdin (or died).
    pub(crate) async fn next(&mut self) -> Option<String> {
        self.0.next_line().await.ok().flatten()
    }

    /// Answers the current command.
    pub(crate) fn answer(&self, answer: &str) {
        println!("{answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// The parent's handle on a peer

/// A peer process. Killed when dropped, whatever the test's outcome.
pub(crate) struct PeerProcess {
    pub(crate) child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    pub(crate) port: u16,
    /// `<name>@localhost`.
    pub(crate) name: String,
    pub(crate) id: NodeId,
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl PeerProcess {
    /// Starts this executable again as the peer node `name`, with more environment variables
    /// `env`, and waits for its `READY` line.
    pub(crate) async fn spawn(name: &str, env: &[(&str, String)]) -> Self {
        Self::spawn_via(&[], name, env).await
    }

    /// As [`spawn`](Self::spawn), run through the command `prefix` (such as `ip netns exec
    /// <namespace>`) if it is not empty.
    pub(crate) async fn spawn_via(prefix: &[&str], name: &str, env: &[(&str, String)]) -> Self {
        let exe = std::env::current_exe().expect("the test executable");
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut child = command
            .env(PEER_ENV, name)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start the peer process");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut peer = Self {
            child,
            stdin,
            stdout,
            port: 0,
            name: format!("{name}@localhost"),
            id: 0,
        };
        let ready = peer.read_line().await;
        let mut words = ready.split_whitespace();
        assert_eq!(words.next(), Some("READY"), "{ready}");
        peer.port = words.next().and_then(|w| w.parse().ok()).expect("a port");
        peer.id = words
            .next()
            .and_then(|w| w.parse().ok())
            .expect("a node id");
        peer
    }

    async fn read_line(&mut self) -> String {
        within(
            &format!("a line from {}", self.name),
            self.stdout.next_line(),
        )
        .await
        .expect("the peer's stdout")
        .unwrap_or_else(|| panic!("{} exited", self.name))
    }

    /// Sends a command and returns the answer.
    pub(crate) async fn command(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("the peer's stdin is open");
        stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("the peer's stdin");
        self.read_line().await
    }

    /// Sends a command that must answer `OK`.
    pub(crate) async fn ok(&mut self, command: &str) {
        let answer = self.command(command).await;
        assert_eq!(
            answer, "OK",
            "{} answered {command:?} with {answer:?}",
            self.name
        );
    }

    /// Sends `command` until the answer is `wanted`, or fails after [`WAIT`](super::WAIT).
    pub(crate) async fn eventually_answers(&mut self, command: &str, wanted: &str) {
        within(&format!("{command:?} to answer {wanted:?}"), async {
            while self.command(command).await != wanted {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// Kills the process (SIGKILL on Unix) and waits for it to be gone.
    pub(crate) async fn kill(&mut self) {
        self.child.start_kill().expect("cannot kill the peer");
        within("the peer to die", self.child.wait())
            .await
            .expect("the peer's exit status");
    }

    /// Stops the process without ending it (SIGSTOP): its connections stay open and silent, as
    /// with a peer whose machine hangs.
    pub(crate) fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen process (SIGCONT).
    pub(crate) fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the peer is running");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success());
    }

    /// Closes stdin, which ends the peer, and waits for it to exit.
    pub(crate) async fn finish(mut self) {
        self.stdin = None;
        within("the peer to exit", self.child.wait())
            .await
            .expect("the peer's exit status");
    }
}
