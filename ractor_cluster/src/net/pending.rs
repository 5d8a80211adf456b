//! Counting the connections that wait to authenticate, in total and per source address.
//!
//! The accept loop takes a [`PendingSlot`] for every connection it accepts, before the connection
//! reaches the node, and closes the connection at once when no slot is left. The slot travels with
//! the connection through its TLS handshake and its authentication, and is given back when it is
//! dropped: once the peer has authenticated, or the attempt failed or ran out of time. So idle
//! sockets cannot pile up without bound, and one address holding idle sockets cannot take every
//! slot from the others.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// The slots of a listener.
#[derive(Debug)]
pub(crate) struct PendingGate {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
}

/// Held connections: in total, and per address with at least one (so the map never has more
/// entries than `max_total`).
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why the gate closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GateFull {
    /// Every slot is taken; holds the bound.
    Total(usize),
    /// Every slot of this address is taken; holds the bound.
    Address(usize),
}

impl fmt::Display for GateFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Total(max) => write!(f, "{max} connections already wait to authenticate"),
            Self::Address(max) => write!(
                f,
                "{max} connections from this address already wait to authenticate"
            ),
        }
    }
}

impl PendingGate {
    /// A gate that lets `max_total` connections wait at once, at most `max_per_address` of them
    /// from one address (each at least 1).
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a connection from `address` that must authenticate by `deadline`.
    pub(crate) fn try_enter(
        self: &Arc<Self>,
        address: IpAddr,
        deadline: Instant,
    ) -> Result<PendingSlot, GateFull> {
        // An IPv4 peer of a dual-stack listener shows as `::ffff:a.b.c.d`: one address, one count.
        let address = address.to_canonical();
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(GateFull::Total(self.max_total));
        }
        let from_address = counts.by_address.entry(address).or_insert(0);
        if *from_address >= self.max_per_address {
            return Err(GateFull::Address(self.max_per_address));
        }
        *from_address += 1;
        counts.total += 1;
        Ok(PendingSlot {
            gate: Arc::clone(self),
            address,
            deadline,
        })
    }

    /// How many connections hold a slot, for tests.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while holding the lock: each update is a
        // pair of plain integer changes with nothing that can panic in between.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn leave(&self, address: IpAddr) {
        let mut counts = self.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(from_address) = counts.by_address.get_mut(&address) {
            *from_address = from_address.saturating_sub(1);
            if *from_address == 0 {
                counts.by_address.remove(&address);
            }
        }
    }
}

/// One connection's place among those waiting to authenticate, and when its time is up; given
/// back when dropped.
pub(crate) struct PendingSlot {
    gate: Arc<PendingGate>,
    address: IpAddr,
    deadline: Instant,
}

impl PendingSlot {
    /// When the connection must have completed its TLS handshake (if any) and authenticated: one
    /// deadline for both, counted from the moment it was accepted.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl fmt::Debug for PendingSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSlot")
            .field("address", &self.address)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.gate.leave(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn slots_are_bounded_in_total_and_per_address_and_given_back_on_drop() {
        let gate = PendingGate::new(3, 2);
        let now = Instant::now();
        let a1 = gate.try_enter(ip(1), now).unwrap();
        let _a2 = gate.try_enter(ip(1), now).unwrap();
        assert_eq!(
            gate.try_enter(ip(1), now).unwrap_err(),
            GateFull::Address(2)
        );
        let _b1 = gate.try_enter(ip(2), now).unwrap();
        assert_eq!(gate.try_enter(ip(3), now).unwrap_err(), GateFull::Total(3));
        assert_eq!(gate.held(), 3);
        drop(a1);
        assert_eq!(gate.held(), 2);
        let _a3 = gate.try_enter(ip(1), now).unwrap();
        assert_eq!(gate.lock().by_address.len(), 2);
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_the_ipv4_one() {
        let gate = PendingGate::new(8, 1);
        let now = Instant::now();
        let _v4 = gate.try_enter(ip(7), now).unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 7).to_ipv6_mapped());
        assert_eq!(
            gate.try_enter(mapped, now).unwrap_err(),
            GateFull::Address(1)
        );
    }

    #[test]
    fn the_map_forgets_an_address_with_no_slot() {
        let gate = PendingGate::new(8, 8);
        let now = Instant::now();
        drop(gate.try_enter(ip(9), now).unwrap());
        assert!(gate.lock().by_address.is_empty());
        assert_eq!(gate.held(), 0);
    }
}
