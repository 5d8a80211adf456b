//! Allowances a peer draws on for what it makes this node hold: proxies of its actors, actors it
//! spawned here. A [`Token`] is one unit taken from the peer's allowance (and the node's, for a
//! node-wide ceiling); whatever holds the token (a proxy's state, the task that watches a spawned
//! actor) gives it back by dropping it, so the counts cannot drift from what is alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A count with a ceiling, shared by everything that draws on it.
#[derive(Debug)]
pub(crate) struct Allowance {
    used: AtomicUsize,
    max: usize,
}

impl Allowance {
    /// An allowance of `max` units, none used.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Units in use now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The ceiling.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    fn try_take(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.max).then_some(used + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One unit of a peer's allowance and, if given, of its node's; returned when dropped.
#[derive(Debug)]
pub(crate) struct Token {
    peer: Arc<Allowance>,
    node: Option<Arc<Allowance>>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.peer.give_back();
        if let Some(node) = &self.node {
            node.give_back();
        }
    }
}

/// Takes one unit from `peer` and from `node`, or none if either is used up.
pub(crate) fn take(peer: &Arc<Allowance>, node: Option<&Arc<Allowance>>) -> Option<Token> {
    if !peer.try_take() {
        return None;
    }
    if let Some(node) = node {
        if !node.try_take() {
            peer.give_back();
            return None;
        }
    }
    Some(Token {
        peer: Arc::clone(peer),
        node: node.map(Arc::clone),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_count_against_both_ceilings_and_come_back_when_dropped() {
        let node = Allowance::new(3);
        let first = Allowance::new(2);
        let second = Allowance::new(5);
        let a = take(&first, Some(&node)).unwrap();
        let _b = take(&first, Some(&node)).unwrap();
        assert!(take(&first, Some(&node)).is_none(), "the peer's ceiling");
        let _c = take(&second, Some(&node)).unwrap();
        assert!(take(&second, Some(&node)).is_none(), "the node's ceiling");
        assert_eq!(second.used(), 1, "a refused token takes nothing");
        drop(a);
        assert_eq!((first.used(), node.used()), (1, 2));
        assert!(take(&second, Some(&node)).is_some());
    }
}
