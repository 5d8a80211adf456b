//! Who a node is, and how it proves it knows the cluster's cookie.
//!
//! A node's identity on the wire is its name; [`node_id_of`] turns that name into the `u64` that
//! ractor's `ActorId::Remote` carries. The proof of membership is an HMAC-SHA256 keyed with the
//! shared cookie ([`Cookie`]), computed over a transcript that [`ProofInput`] lays out exactly as
//! PROTOCOL.md ("The proof") specifies.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::message::{Hello, ProtocolVersion};

/// HMAC-SHA256, the proof function of the handshake.
type HmacSha256 = Hmac<Sha256>;

/// The number of bytes of a proof (the output size of HMAC-SHA256).
pub(crate) const PROOF_LEN: usize = 32;

/// Domain-separation label hashed in front of a node name to derive its id.
const NODE_ID_LABEL: &[u8] = b"ractor_cluster node id v1\0";

/// Domain-separation label that starts every proof transcript, so a MAC computed with the cookie
/// for any other purpose can never pass as a handshake proof.
const PROOF_LABEL: &[u8] = b"ractor_cluster handshake proof v2";

/// Domain-separation label of the key schedule's salt (PROTOCOL.md, "Key schedule"): the same
/// transcript as a proof's, under another label, so a proof never equals a salt.
const KEY_SCHEDULE_LABEL: &[u8] = b"ractor_cluster session keys v2";

/// The numeric id of a node, as carried in ractor's `ActorId::Remote { node_id, .. }`.
pub(crate) type NodeId = u64;

/// Derives the numeric id of the node called `name` (PROTOCOL.md, "Node identity").
///
/// The id is the first 8 bytes, read little endian, of SHA-256 over a fixed label followed by the
/// name's UTF-8 bytes. Every node computes the same id for the same name, and a node keeps its id
/// across reconnects and restarts, so remote actor ids stay comparable. Id 0 means "local" to
/// ractor, so the one name in 2^64 that would hash to 0 gets id 1 instead.
pub(crate) fn node_id_of(name: &str) -> NodeId {
    let digest = Sha256::new()
        .chain_update(NODE_ID_LABEL)
        .chain_update(name.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    for (slot, byte) in first.iter_mut().zip(digest.iter()) {
        *slot = *byte;
    }
    match u64::from_le_bytes(first) {
        0 => 1,
        id => id,
    }
}

/// The cluster's shared secret, ready to key proofs.
///
/// Only the HMAC key schedule is kept, not the secret text, and `Debug` never prints either.
#[derive(Clone)]
pub(crate) struct Cookie {
    keyed: HmacSha256,
}

impl Cookie {
    /// Prepares `secret` for computing and checking proofs. Any length is accepted.
    pub(crate) fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            keyed: keyed_hmac(secret.as_ref()),
        }
    }

    /// The proof that the holder of this cookie produces for `input`.
    pub(crate) fn prove(&self, input: &ProofInput<'_>) -> [u8; PROOF_LEN] {
        let mut mac = self.keyed.clone();
        input.feed(&mut mac);
        mac.finalize().into_bytes().into()
    }

    /// Whether `claimed` is the proof for `input`, compared in constant time so that the time taken
    /// reveals nothing about how many leading bytes were right (DESIGN.md, practice 9).
    pub(crate) fn verify(&self, input: &ProofInput<'_>, claimed: &[u8; PROOF_LEN]) -> bool {
        let mut mac = self.keyed.clone();
        input.feed(&mut mac);
        mac.verify_slice(claimed).is_ok()
    }

    /// The salt of the session's key schedule: HMAC-SHA256 keyed with the cookie over the
    /// transcript of both hellos (PROTOCOL.md, "Key schedule").
    pub(crate) fn key_schedule_salt(&self, client: &Hello, server: &Hello) -> [u8; PROOF_LEN] {
        let mut mac = self.keyed.clone();
        feed_field(&mut mac, KEY_SCHEDULE_LABEL);
        feed_hellos(&mut mac, client, server);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cookie(<redacted>)")
    }
}

/// Keys HMAC-SHA256 with `secret` without a fallible call.
///
/// `Hmac::new_from_slice` accepts every length but still returns a `Result`; normalising the key
/// here the way RFC 2104 does (hash it if longer than the 64-byte block, then zero-pad) lets us use
/// the infallible `Mac::new` and gives the same MAC, which a test checks.
fn keyed_hmac(secret: &[u8]) -> HmacSha256 {
    let mut block_key = hmac::digest::Key::<HmacSha256>::default();
    let hashed;
    let material: &[u8] = if secret.len() > block_key.len() {
        hashed = Sha256::digest(secret);
        hashed.as_slice()
    } else {
        secret
    };
    for (slot, byte) in block_key.iter_mut().zip(material) {
        *slot = *byte;
    }
    <HmacSha256 as Mac>::new(&block_key)
}

/// Which side of the handshake a proof speaks for. Part of the MAC input, so a proof made by one
/// side can never be reflected back as the other side's proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The node that opened the connection.
    Client,
    /// The node that accepted the connection.
    Server,
}

impl Role {
    /// The label of the role in the MAC input.
    fn label(self) -> &'static [u8] {
        match self {
            Role::Client => b"client",
            Role::Server => b"server",
        }
    }
}

/// Everything a handshake proof covers: the role and both `Hello`s (PROTOCOL.md, "The proof").
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProofInput<'a> {
    /// The side whose proof this is.
    pub(crate) role: Role,
    /// The `Hello` the client sent.
    pub(crate) client: &'a Hello,
    /// The `Hello` the server sent.
    pub(crate) server: &'a Hello,
}

impl ProofInput<'_> {
    /// Feeds the MAC input, field by field, in the order PROTOCOL.md lists. Variable-length fields
    /// carry a length so that no two different transcripts produce the same byte string.
    fn feed(&self, mac: &mut HmacSha256) {
        feed_field(mac, PROOF_LABEL);
        feed_field(mac, self.role.label());
        feed_hellos(mac, self.client, self.server);
    }
}

/// Both hellos, every field, client first: the transcript that proofs and keys cover.
fn feed_hellos(mac: &mut HmacSha256, client: &Hello, server: &Hello) {
    for hello in [client, server] {
        feed_version(mac, hello.protocol);
        feed_field(mac, hello.node.name.as_bytes());
        feed_field(mac, hello.node.connection_string.as_bytes());
        mac.update(&hello.incarnation.to_le_bytes());
        mac.update(&hello.nonce);
        mac.update(&hello.key_share);
        mac.update(&[hello.frames.tag()]);
        // Since 2.7, only in a hidden node's hello, so a visible node's transcript is as in 2.6.
        // Unambiguous: what may follow a hello's last byte is the server's hello, whose major
        // (checked before any proof, rule V1) is 2, or nothing; the marker starts with 0x0b.
        if hello.hidden {
            feed_field(mac, HIDDEN_MARKER);
        }
    }
}

/// What the transcript carries after the hello of a hidden node (PROTOCOL.md, "The proof").
const HIDDEN_MARKER: &[u8] = b"hidden node";

/// A variable-length field: its length as a `u64` little endian, then its bytes.
fn feed_field(mac: &mut HmacSha256, bytes: &[u8]) {
    // usize -> u64 is lossless on every platform Rust supports.
    mac.update(&(bytes.len() as u64).to_le_bytes());
    mac.update(bytes);
}

fn feed_version(mac: &mut HmacSha256, version: ProtocolVersion) {
    mac.update(&version.major.to_le_bytes());
    mac.update(&version.minor.to_le_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::protocol::message::{FrameProtection, WireNodeName, PROTOCOL_VERSION};

    fn hello(name: &str, nonce: u8) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            node: WireNodeName {
                name: name.to_owned(),
                connection_string: format!("{name}:4697"),
            },
            incarnation: 7,
            nonce: [nonce; 32],
            key_share: [nonce; 32],
            frames: FrameProtection::Sealed,
            hidden: false,
        }
    }

    #[test]
    fn node_ids_are_stable_distinct_and_never_zero() {
        assert_eq!(node_id_of("alpha"), node_id_of("alpha"));
        assert_ne!(node_id_of("alpha"), node_id_of("beta"));
        assert_ne!(node_id_of(""), 0);
        // Pinned: changing the derivation would break ids shared with running nodes.
        let digest = Sha256::new()
            .chain_update(b"ractor_cluster node id v1\0")
            .chain_update(b"alpha")
            .finalize();
        let expected = u64::from_le_bytes(digest[..8].try_into().unwrap());
        assert_eq!(node_id_of("alpha"), expected);
    }

    #[test]
    fn normalised_key_gives_the_standard_hmac() {
        for secret in [
            &b""[..],
            b"short cookie",
            &[0xAB; 64],
            &[0x5C; 65],
            &[7; 300],
        ] {
            let ours = keyed_hmac(secret)
                .chain_update(b"data")
                .finalize()
                .into_bytes();
            let reference = <HmacSha256 as Mac>::new_from_slice(secret)
                .unwrap()
                .chain_update(b"data")
                .finalize()
                .into_bytes();
            assert_eq!(ours, reference, "secret of {} bytes", secret.len());
        }
    }

    #[test]
    fn proofs_depend_on_role_cookie_and_every_hello_field() {
        let cookie = Cookie::new("secret");
        let client = hello("a", 1);
        let server = hello("b", 2);
        let base = ProofInput {
            role: Role::Client,
            client: &client,
            server: &server,
        };
        let proof = cookie.prove(&base);
        assert!(cookie.verify(&base, &proof));
        assert!(!Cookie::new("other").verify(&base, &proof));
        let reflected = ProofInput {
            role: Role::Server,
            ..base
        };
        assert!(!cookie.verify(&reflected, &proof));

        // Shifting bytes between the name and the connection string must change the proof.
        let mut shifted = client.clone();
        shifted.node.name = "a:".to_owned();
        shifted.node.connection_string = "4697".to_owned();
        let mut edits = vec![shifted];
        let mut e = client.clone();
        e.incarnation += 1;
        edits.push(e);
        let mut e = client.clone();
        e.nonce[31] ^= 1;
        edits.push(e);
        let mut e = client.clone();
        e.protocol.minor += 1;
        edits.push(e);
        let mut e = client.clone();
        e.key_share[0] ^= 1;
        edits.push(e);
        let mut e = client.clone();
        e.frames = FrameProtection::Plaintext;
        edits.push(e);
        let mut e = client.clone();
        e.hidden = true;
        edits.push(e);
        for edited in &edits {
            let input = ProofInput {
                client: edited,
                ..base
            };
            assert!(!cookie.verify(&input, &proof), "{edited:?}");
        }
        let hidden_server = Hello {
            hidden: true,
            ..server.clone()
        };
        let input = ProofInput {
            server: &hidden_server,
            ..base
        };
        assert!(!cookie.verify(&input, &proof), "a hidden server");
        assert_eq!(format!("{cookie:?}"), "Cookie(<redacted>)");
    }
}
