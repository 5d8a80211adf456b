//! When and how often a node dials a lost peer again, and where.

use std::fmt;
use std::time::Duration;

use tokio_native_tls::TlsConnector;

use crate::net::{dial_tcp, dial_tls, NetworkStream};

/// How a node dials again a peer it had dialed, once the session with it is lost.
///
/// A session that this node opened (with [`client_connect`](crate::client_connect),
/// [`client_connect_enc`](crate::client_connect_enc), their `_and_wait` forms, or a transitive
/// dial) and that authenticated is *wanted*: if it ends for any reason but a deliberate one (this
/// node's server stopping, [`disconnect`](super::disconnect), a session replaced by a newer one
/// to the same peer), the node dials the same address again, waiting before each attempt, until
/// a session with the peer is back or the peer is removed with
/// [`disconnect`](super::disconnect). A redial whose handshake fails, even for want of
/// authentication (a rejection, a bad proof: anyone answering at the address can send those),
/// does not stop it: the next attempt follows with the backoff, and each failure is reported to
/// event subscribers as a
/// [`node_session_ended`](crate::node::NodeEventSubscription::node_session_ended). Only a first
/// connection that fails to authenticate is not dialed again.
///
/// The wait before attempt `n` (from 0) is `initial_backoff × multiplier^n`, capped at
/// `max_backoff`, then scaled by a random factor between ½ and 1 (jitter), so that the nodes of a
/// cluster that lost the same peer do not all dial it at the same instant. The count starts again
/// once a session is ready.
///
/// ```
/// use std::time::Duration;
/// use ractor_cluster::node::ReconnectPolicy;
///
/// let default = ReconnectPolicy::default();
/// assert!(default.is_enabled());
/// assert_eq!(default.initial_backoff(), Duration::from_millis(100));
/// assert_eq!(default.max_backoff(), Duration::from_secs(10));
///
/// let patient = ReconnectPolicy::default().with_max_backoff(Duration::from_secs(60));
/// assert_eq!(patient.max_backoff(), Duration::from_secs(60));
/// assert!(!ReconnectPolicy::disabled().is_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    enabled: bool,
    initial_backoff: Duration,
    multiplier: f64,
    max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    /// Enabled: 100 ms before the first attempt, doubling, at most 10 s, with jitter.
    fn default() -> Self {
        Self {
            enabled: true,
            initial_backoff: Duration::from_millis(100),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// Never dial a lost peer again: sessions stay lost until the user connects again.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Sets the wait before the first attempt (default 100 ms).
    pub fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the factor between two consecutive waits (default 2; values below 1 count as 1).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the longest wait between two attempts (default 10 s).
    pub fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Whether lost peers are dialed again.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The wait before the first attempt.
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The longest wait between two attempts.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The wait before attempt `attempt` (from 0), given `random` in `[0, 1)`: randomness is
    /// passed in so that the schedule can be checked in a test.
    pub(crate) fn backoff(&self, attempt: u32, random: f64) -> Duration {
        let growth = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(attempt).unwrap_or(i32::MAX));
        let base =
            (self.initial_backoff.as_secs_f64() * growth).min(self.max_backoff.as_secs_f64());
        let jitter = 0.5 + 0.5 * random.clamp(0.0, 1.0);
        // `base` is finite and at most `max_backoff`; `try_from` only fails on overflow or NaN.
        Duration::try_from_secs_f64(base * jitter).unwrap_or(self.max_backoff)
    }
}

/// Where a node dialed a peer, and how: enough to dial it again.
#[derive(Clone)]
pub(crate) struct DialTarget {
    /// `host:port`, or the socket address a user dial reached.
    pub(crate) addr: String,
    /// The connector and the name the peer's certificate must carry, for TLS.
    pub(crate) tls: Option<(TlsConnector, String)>,
}

impl fmt::Debug for DialTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialTarget")
            .field("addr", &self.addr)
            .field("tls_domain", &self.tls.as_ref().map(|(_, domain)| domain))
            .finish()
    }
}

impl DialTarget {
    /// Dials once, bounded by `timeout`.
    pub(crate) async fn dial(&self, timeout: Duration) -> Result<NetworkStream, String> {
        let dial = async {
            match &self.tls {
                Some((connector, domain)) => dial_tls(self.addr.as_str(), connector, domain)
                    .await
                    .map_err(|e| e.to_string()),
                None => dial_tcp(self.addr.as_str())
                    .await
                    .map_err(|e| e.to_string()),
            }
        };
        tokio::time::timeout(timeout, dial)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {timeout:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_doubles_and_is_capped() {
        let policy = ReconnectPolicy::default();
        let ms = |attempt, random| policy.backoff(attempt, random).as_millis();
        assert_eq!(ms(0, 0.999_999), 99);
        assert_eq!(ms(0, 0.0), 50);
        assert_eq!(ms(1, 0.0), 100);
        assert_eq!(ms(3, 0.0), 400);
        assert_eq!(ms(7, 0.0), 5_000);
        assert_eq!(ms(8, 0.0), 5_000);
        assert_eq!(ms(u32::MAX, 0.0), 5_000);
        assert!(ms(u32::MAX, 0.999) <= 10_000);
    }

    #[test]
    fn odd_settings_stay_sane() {
        let policy = ReconnectPolicy::default()
            .with_multiplier(0.1)
            .with_initial_backoff(Duration::from_millis(10));
        assert_eq!(policy.backoff(5, 0.0), Duration::from_millis(5));
        let policy = ReconnectPolicy::default().with_multiplier(f64::NAN);
        assert!(policy.backoff(3, 0.5) <= policy.max_backoff());
    }
}
