//! The window of discovery dials under way: how many a node dials at once, adapted to how its
//! handshakes fare (see the reconciler's module docs).

use std::time::Duration;

use tokio::time::Instant;

/// A handshake that takes longer than this, from the dial to authentication, is slow: the window
/// of dials under way halves (see [`DialWindow`]). On a network it takes a few round trips.
pub(super) const SLOW_HANDSHAKE: Duration = Duration::from_secs(1);

/// How many discovery dials may be under way now: between 1 and `max`, halved when handshakes are
/// slow or fail, grown by one when one completes in time (see the module docs).
#[derive(Debug)]
pub(super) struct DialWindow {
    max: usize,
    /// Dials that may be under way now.
    pub(super) now: usize,
    /// When the window was last halved: at most once per [`SLOW_HANDSHAKE`], so that the
    /// handshakes under way when it was, which are as slow, do not halve it again.
    last_cut: Option<Instant>,
}

impl DialWindow {
    pub(super) fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            now: max,
            last_cut: None,
        }
    }

    /// A handshake this node dialed authenticated its peer `took` after the dial.
    pub(super) fn completed(&mut self, took: Duration, at: Instant) {
        if took > SLOW_HANDSHAKE {
            self.cut(at);
        } else {
            self.now = (self.now + 1).min(self.max);
        }
    }

    /// A session this node dialed ended before it authenticated.
    pub(super) fn failed(&mut self, at: Instant) {
        self.cut(at);
    }

    fn cut(&mut self, at: Instant) {
        if self
            .last_cut
            .is_some_and(|cut| at.saturating_duration_since(cut) < SLOW_HANDSHAKE)
        {
            return;
        }
        self.last_cut = Some(at);
        self.now = (self.now / 2).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_or_failed_handshakes_halve_the_dials_under_way_and_quick_ones_grow_them_back() {
        let start = Instant::now();
        let quick = Duration::from_millis(20);
        let slow = SLOW_HANDSHAKE + Duration::from_millis(1);
        let mut window = DialWindow::new(16);
        assert_eq!(window.now, 16);
        window.completed(slow, start);
        assert_eq!(window.now, 8);
        // The handshakes that were under way with that one are as slow: no second cut at once.
        window.completed(slow, start + quick);
        window.failed(start + quick);
        assert_eq!(window.now, 8);
        // Later, another slow one, then one cut off before it authenticated.
        window.completed(slow, start + SLOW_HANDSHAKE);
        assert_eq!(window.now, 4);
        window.failed(start + SLOW_HANDSHAKE * 2);
        window.failed(start + SLOW_HANDSHAKE * 3);
        window.failed(start + SLOW_HANDSHAKE * 4);
        assert_eq!(window.now, 1, "never below one");
        for _ in 0..40 {
            window.completed(quick, start + SLOW_HANDSHAKE * 5);
        }
        assert_eq!(window.now, 16, "never above the bound");
    }
}
