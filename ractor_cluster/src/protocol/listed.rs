//! The digest of what a node's discovery lists (protocol 2.10, PROTOCOL.md "Discovery views").
//!
//! A node that runs discovery tells each peer, once per session, a digest of the addresses its
//! last discovery round listed. A peer whose own discovery listed the same addresses leaves the
//! nodes at those addresses out of the peers it announces to that node (`PeersKnown`): the node
//! would not dial them from there anyway, since its own discovery reaches them. Every node of a
//! cluster that starts from one seed list, or one DNS name, lists the same addresses, so a
//! forming cluster no longer sends each new session a list of every peer (N² lists of N entries).

use sha2::{Digest, Sha256};

/// The first minor version whose nodes send and understand `DiscoveryView`.
pub(crate) const DISCOVERY_VIEW_MINOR: u16 = 10;

/// The digest of a set of listed addresses, as the wire carries it.
pub(crate) type ListedDigest = [u8; 16];

/// Domain-separation label hashed in front of the addresses.
const LISTED_LABEL: &[u8] = b"ractor_cluster discovery view v1\n";

/// The digest of the addresses in `listed`: the first 16 bytes of SHA-256 over the label and the
/// distinct addresses in byte order, each as its length (4 bytes, little-endian) and its bytes.
/// Neither the order discovery returned them in nor repetitions change it.
pub(crate) fn listed_digest<'a>(listed: impl IntoIterator<Item = &'a str>) -> ListedDigest {
    let mut addresses: Vec<&str> = listed.into_iter().collect();
    addresses.sort_unstable();
    addresses.dedup();
    let mut hash = Sha256::new();
    hash.update(LISTED_LABEL);
    for address in addresses {
        // An address is far shorter than 4 GiB (discovery returns `host:port` strings).
        let len = u32::try_from(address.len()).unwrap_or(u32::MAX);
        hash.update(len.to_le_bytes());
        hash.update(address.as_bytes());
    }
    let mut digest = [0; 16];
    for (byte, full) in digest.iter_mut().zip(hash.finalize()) {
        *byte = full;
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_hex::encode as hex;

    #[test]
    fn the_digest_depends_on_the_set_of_addresses_only() {
        let a = listed_digest(["10.0.0.2:4697", "10.0.0.1:4697", "10.0.0.2:4697"]);
        let b = listed_digest(["10.0.0.1:4697", "10.0.0.2:4697"]);
        assert_eq!(a, b);
        assert_ne!(a, listed_digest(["10.0.0.1:4697"]));
        // Length-prefixed: two addresses never pass for one that contains both.
        assert_ne!(listed_digest(["a", "b"]), listed_digest(["ab"]));
    }

    #[test]
    fn the_digest_matches_protocol_md() {
        // PROTOCOL.md, "Discovery views": the example's digest.
        let digest = listed_digest(["10.0.0.2:4697", "10.0.0.1:4697"]);
        assert_eq!(hex(&digest), "fbc1b0636916f71ff7412a3d2b39043f");
    }
}
