//! The primary's view of replication (its position and `pg_stat_replication`), which its
//! monitor reads anyway and publishes for `pgsqlms show` on every node: a private attrd
//! attribute (held in every node's attrd, never written to the CIB, so it causes no
//! transition), set only when the view's shape changes or the last publication is older
//! than `REFRESH`, so that a steady-state monitor spawns nothing. Pure: rendering, parsing
//! and the decision to publish.

use crate::logic::lsn::Lsn;
use crate::logic::scores::ReplicationRow;

/// The private attribute (suffixed with the resource's name) that carries the view.
pub const REPLICATION_VIEW: &str = "replication";
/// Longest time between two publications: also a heartbeat, so that `show` can tell a
/// quiet cluster from a primary whose monitor no longer runs.
pub const REFRESH_SECS: u64 = 30;
/// Format version, the first word of the attribute.
const VERSION: &str = "v1";

/// One `pg_stat_replication` row with what `show` adds to what the scores need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalSender {
    pub row: ReplicationRow,
    pub flush_lsn: Option<Lsn>,
    pub replay_lsn: Option<Lsn>,
    /// `sync`, `quorum`, `potential` or `async`.
    pub sync_state: String,
    pub replay_lag_ms: Option<u64>,
}

/// What the primary's monitor reads in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub timeline: u32,
    pub current: Lsn,
    pub senders: Vec<WalSender>,
}

impl Replication {
    pub fn rows(&self) -> Vec<ReplicationRow> {
        self.senders.iter().map(|s| s.row.clone()).collect()
    }
}

/// A published view: who published it, when (Unix seconds), and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedView {
    pub published_at: u64,
    pub primary: String,
    pub maxlag: u64,
    pub replication: Replication,
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

fn parse_opt<T: std::str::FromStr>(s: &str) -> Option<Option<T>> {
    match s {
        "-" => Some(None),
        s => s.parse().ok().map(Some),
    }
}

impl PublishedView {
    /// One line: `v1 <time> <primary> <maxlag> <timeline> <lsn>` then, per standby,
    /// `|<node> <state> <sync> <write> <flush> <replay> <lag bytes> <replay lag ms>`.
    pub fn render(&self) -> String {
        let r = &self.replication;
        let mut out = format!(
            "{VERSION} {} {} {} {} {}",
            self.published_at, self.primary, self.maxlag, r.timeline, r.current
        );
        for s in &r.senders {
            out.push_str(&format!(
                "|{} {} {} {} {} {} {} {}",
                s.row.application_name,
                s.row.state,
                s.sync_state,
                opt(&s.row.write_lsn),
                opt(&s.flush_lsn),
                opt(&s.replay_lsn),
                opt(&s.row.lag),
                opt(&s.replay_lag_ms)
            ));
        }
        out
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('|');
        let head: Vec<&str> = parts.next()?.split_whitespace().collect();
        let [VERSION, at, primary, maxlag, tl, lsn] = head[..] else {
            return None;
        };
        let senders = parts
            .map(|p| {
                let w: Vec<&str> = p.split_whitespace().collect();
                let [node, state, sync, write, flush, replay, lag, lag_ms] = w[..] else {
                    return None;
                };
                Some(WalSender {
                    row: ReplicationRow {
                        application_name: node.to_string(),
                        state: state.to_string(),
                        write_lsn: parse_opt(write)?,
                        lag: parse_opt(lag)?,
                    },
                    flush_lsn: parse_opt(flush)?,
                    replay_lsn: parse_opt(replay)?,
                    sync_state: sync.to_string(),
                    replay_lag_ms: parse_opt(lag_ms)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(PublishedView {
            published_at: at.parse().ok()?,
            primary: primary.to_string(),
            maxlag: maxlag.parse().ok()?,
            replication: Replication {
                timeline: tl.parse().ok()?,
                current: lsn.parse().ok()?,
                senders,
            },
        })
    }

    /// What a reader would judge differently: who replicates, in which state and
    /// synchronous state, and who is beyond maxlag. Positions and lag alone are not in it.
    fn shape(&self) -> Vec<(String, String, String, bool)> {
        let beyond = |lag: Option<u64>| self.maxlag > 0 && lag.is_some_and(|l| l > self.maxlag);
        let mut shape: Vec<_> = self
            .replication
            .senders
            .iter()
            .map(|s| {
                (
                    s.row.application_name.clone(),
                    s.row.state.clone(),
                    s.sync_state.clone(),
                    beyond(s.row.lag),
                )
            })
            .collect();
        shape.sort();
        shape
    }

    /// True when `self` (seen now) must replace `last`: its shape changed, or the last
    /// publication is `REFRESH_SECS` old (a clock stepped back counts as old).
    pub fn replaces(&self, last: Option<&PublishedView>) -> bool {
        let Some(last) = last else { return true };
        let age = self.published_at.checked_sub(last.published_at);
        last.primary != self.primary
            || last.maxlag != self.maxlag
            || last.replication.timeline != self.replication.timeline
            || last.shape() != self.shape()
            || age.map_or(true, |a| a >= REFRESH_SECS)
    }
}

#[cfg(test)]
pub mod test_support {
    use super::*;

    pub fn sender(node: &str, state: &str, sync: &str, write: u64, lag: u64) -> WalSender {
        WalSender {
            row: ReplicationRow {
                application_name: node.into(),
                state: state.into(),
                write_lsn: Some(Lsn(write)),
                lag: Some(lag),
            },
            flush_lsn: Some(Lsn(write)),
            replay_lsn: Some(Lsn(write.saturating_sub(0x100))),
            sync_state: sync.into(),
            replay_lag_ms: Some(lag / 1000),
        }
    }

    pub fn view(at: u64, senders: Vec<WalSender>) -> PublishedView {
        PublishedView {
            published_at: at,
            primary: "node1".into(),
            maxlag: 0,
            replication: Replication {
                timeline: 3,
                current: Lsn(0x3000_0000),
                senders,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{sender, view};
    use super::*;

    #[test]
    fn renders_and_parses_back() {
        let mut v = view(
            1_700_000_000,
            vec![
                sender("node2", "streaming", "quorum", 0x2FFF_0000, 65536),
                sender("node3", "catchup", "async", 0x1000, 12345),
            ],
        );
        v.replication.senders[1].flush_lsn = None;
        v.replication.senders[1].replay_lag_ms = None;
        let text = v.render();
        assert_eq!(
            text,
            "v1 1700000000 node1 0 3 0/30000000|node2 streaming quorum 0/2FFF0000 0/2FFF0000 0/2FFEFF00 65536 65|node3 catchup async 0/1000 - 0/F00 12345 -"
        );
        assert_eq!(PublishedView::parse(&text), Some(v));
        assert_eq!(
            PublishedView::parse(&view(5, vec![]).render()),
            Some(view(5, vec![]))
        );
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        assert_eq!(PublishedView::parse("v2 1 node1 0 3 0/1"), None);
        assert_eq!(PublishedView::parse("v1 1 node1 0 3"), None);
        assert_eq!(
            PublishedView::parse("v1 1 node1 0 3 0/1|node2 streaming"),
            None
        );
        assert_eq!(PublishedView::parse(""), None);
    }

    #[test]
    fn publishes_on_a_new_shape_at_once_and_otherwise_every_refresh() {
        let s = |lag| vec![sender("node2", "streaming", "sync", 0x100, lag)];
        let last = view(1000, s(0));
        assert!(view(1001, s(0)).replaces(None));
        // positions and lag moved, shape did not: wait for the refresh
        assert!(!view(1001, s(500)).replaces(Some(&last)));
        assert!(!view(1000 + REFRESH_SECS - 1, s(500)).replaces(Some(&last)));
        assert!(view(1000 + REFRESH_SECS, s(0)).replaces(Some(&last)));
        assert!(view(999, s(0)).replaces(Some(&last)), "clock stepped back");
        // a standby leaves, changes state or synchronous state, or the timeline changes
        assert!(view(1001, vec![]).replaces(Some(&last)));
        let catchup = vec![sender("node2", "catchup", "sync", 0x100, 0)];
        assert!(view(1001, catchup).replaces(Some(&last)));
        let demoted = vec![sender("node2", "streaming", "async", 0x100, 0)];
        assert!(view(1001, demoted).replaces(Some(&last)));
        let mut tl = view(1001, s(0));
        tl.replication.timeline = 4;
        assert!(tl.replaces(Some(&last)));
    }

    #[test]
    fn crossing_maxlag_is_a_new_shape() {
        let s = |lag| vec![sender("node2", "streaming", "async", 0x100, lag)];
        let mut last = view(1000, s(10));
        last.maxlag = 1000;
        let mut behind = view(1001, s(2000));
        behind.maxlag = 1000;
        assert!(behind.replaces(Some(&last)));
        let mut still_within = view(1001, s(999));
        still_within.maxlag = 1000;
        assert!(!still_within.replaces(Some(&last)));
    }
}
