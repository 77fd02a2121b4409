//! Every wait of every action ends before Pacemaker's own timeout does.

use std::time::{Duration, Instant};

/// Time kept back from Pacemaker's timeout so the agent can still report why it gave up.
const MARGIN: Duration = Duration::from_secs(2);
/// Share of the timeout always kept back, for short timeouts.
const MARGIN_SHARE: u32 = 10;
/// Used when Pacemaker gave no timeout (manual runs): PAF's action defaults are 60 s.
const FALLBACK: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// The instant by which an action given `timeout` must have answered.
    pub fn for_action(timeout: Option<Duration>) -> Self {
        let t = timeout.unwrap_or(FALLBACK);
        let margin = MARGIN.min(t / 4).max(t / MARGIN_SHARE);
        Deadline(Instant::now() + t.saturating_sub(margin))
    }

    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now() + d)
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The earlier of this deadline and `d` from now.
    pub fn capped(&self, d: Duration) -> Self {
        Deadline(self.0.min(Instant::now() + d))
    }

    /// Sleeps `step`, or less if the deadline comes first. False once it has passed.
    pub fn sleep(&self, step: Duration) -> bool {
        let r = self.remaining();
        if r.is_zero() {
            return false;
        }
        std::thread::sleep(step.min(r));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_margin_before_pacemakers_timeout() {
        let d = Deadline::for_action(Some(Duration::from_secs(60)));
        let r = d.remaining();
        assert!(
            r <= Duration::from_secs(58) && r > Duration::from_secs(50),
            "{r:?}"
        );
        let d = Deadline::for_action(Some(Duration::from_secs(4)));
        let r = d.remaining();
        assert!(
            r <= Duration::from_secs(3) && r > Duration::from_secs(2),
            "{r:?}"
        );
        let d = Deadline::for_action(Some(Duration::ZERO));
        assert!(d.remaining().is_zero());
    }

    #[test]
    fn capped_takes_the_earlier() {
        let d = Deadline::for_action(Some(Duration::from_secs(60)));
        assert!(d.capped(Duration::from_secs(1)).remaining() <= Duration::from_secs(1));
        let short = Deadline::after(Duration::from_millis(10));
        assert!(short.capped(Duration::from_secs(100)).remaining() <= Duration::from_millis(10));
    }

    #[test]
    fn sleep_stops_at_the_deadline() {
        let d = Deadline::after(Duration::from_millis(30));
        let start = Instant::now();
        while d.sleep(Duration::from_millis(10)) {}
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
