//! The key schedule of a sealed session (PROTOCOL.md, "Key schedule").
//!
//! Each side sends an X25519 public key (its *key share*) in its hello and keeps the secret half
//! for this handshake only. Once the peer's proof has checked, each side computes
//!
//! ```text
//! shared  = X25519(own secret, peer's share)                  (all zero: refused, rule K2)
//! salt    = HMAC-SHA256(cookie, transcript with the label "ractor_cluster session keys v2")
//! prk     = HKDF-Extract(salt, shared)
//! c2s key = HKDF-Expand(prk, "ractor_cluster client to server v2", 32)
//! s2c key = HKDF-Expand(prk, "ractor_cluster server to client v2", 32)
//! ```
//!
//! so the keys depend on the exchange (a recorded session stays secret if the cookie leaks
//! later: forward secrecy), on the cookie (a man in the middle without it cannot take part) and on
//! every field of both hellos (a session's keys are its own).

use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};
use hkdf::Hkdf;
use sha2::Sha256;

use super::identity::Cookie;
use super::message::Hello;
use super::record::{RecordKey, KEY_LEN};

/// Bytes of an X25519 key share.
pub(crate) const KEY_SHARE_LEN: usize = 32;

/// HKDF-Expand label of the key the client seals with.
const CLIENT_TO_SERVER: &[u8] = b"ractor_cluster client to server v2";

/// HKDF-Expand label of the key the server seals with.
const SERVER_TO_CLIENT: &[u8] = b"ractor_cluster server to client v2";

/// The secret half of this side's key share, for one handshake, and the share itself.
///
/// Built from bytes the caller draws (no RNG in the protocol), so tests and test vectors can fix
/// it; production and tests go through the same AWS-LC calls. AWS-LC wipes the key's memory when
/// it is freed (the caller's copy of the bytes, in `Fresh`, is not wiped).
pub(crate) struct EphemeralSecret {
    key: PrivateKey,
    share: [u8; KEY_SHARE_LEN],
}

impl std::fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EphemeralSecret(<redacted>)")
    }
}

impl EphemeralSecret {
    /// The secret made of 32 fresh random bytes (X25519 clamps them as it uses them), and its
    /// public share.
    ///
    /// Fails only if AWS-LC does (it cannot allocate the key); 32 bytes are always a valid
    /// X25519 secret.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyShareUnavailable> {
        let key = PrivateKey::from_private_key(&X25519, &bytes).map_err(|_| KeyShareUnavailable)?;
        let public = key.compute_public_key().map_err(|_| KeyShareUnavailable)?;
        let share =
            <[u8; KEY_SHARE_LEN]>::try_from(public.as_ref()).map_err(|_| KeyShareUnavailable)?;
        Ok(Self { key, share })
    }

    /// The public key share to send.
    pub(crate) fn share(&self) -> [u8; KEY_SHARE_LEN] {
        self.share
    }
}

/// The crypto library could not make this side's key share: a local fault, not the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyShareUnavailable;

/// The two keys of a sealed session, as one side uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionKeys {
    /// The key this side seals with.
    pub(crate) send: RecordKey,
    /// The key this side opens with.
    pub(crate) receive: RecordKey,
}

/// The peer's key share is a low-order point: the exchange would give a key anyone can compute
/// (rule K2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeakKeyShare;

/// Derives the session's keys from this side's secret, both hellos and the cookie; `is_client`
/// says which side this is, and so which key seals. The secret is used up: one exchange each.
pub(crate) fn derive_session_keys(
    secret: EphemeralSecret,
    cookie: &Cookie,
    client: &Hello,
    server: &Hello,
    is_client: bool,
) -> Result<SessionKeys, WeakKeyShare> {
    let peer_share = if is_client {
        server.key_share
    } else {
        client.key_share
    };
    // AWS-LC's X25519 fails when the shared secret is all zero, which is what a low-order share
    // gives (PROTOCOL.md rule K2). It reports its other failure (no memory for the exchange) the
    // same way, and the two cannot be told apart here; that one ends the handshake too.
    // Taken: the key is freed (and wiped) when this returns, whatever the outcome.
    let EphemeralSecret { key, .. } = secret;
    let hkdf = agree(
        &key,
        UnparsedPublicKey::new(&X25519, &peer_share),
        WeakKeyShare,
        |shared| {
            let salt = cookie.key_schedule_salt(client, server);
            Ok(Hkdf::<Sha256>::new(Some(&salt), shared))
        },
    )?;
    let client_to_server = expand(&hkdf, CLIENT_TO_SERVER);
    let server_to_client = expand(&hkdf, SERVER_TO_CLIENT);
    Ok(if is_client {
        SessionKeys {
            send: client_to_server,
            receive: server_to_client,
        }
    } else {
        SessionKeys {
            send: server_to_client,
            receive: client_to_server,
        }
    })
}

fn expand(hkdf: &Hkdf<Sha256>, label: &[u8]) -> RecordKey {
    let mut key = [0u8; KEY_LEN];
    // HKDF-SHA256 can expand up to 255 * 32 bytes; 32 always succeeds.
    let _ = hkdf.expand(label, &mut key);
    RecordKey(key)
}

#[cfg(test)]
#[path = "tests/keys.rs"]
mod tests;
