//! The promotion election: is the promotee the most advanced candidate? Pure.

use crate::logic::lsn::WalPosition;
use std::collections::BTreeMap;

/// Private attributes of the election, set at pre-promote and removed at post-promote.
pub const LSN_LOCATION: &str = "lsn_location";
pub const CANDIDATES: &str = "nodes";
pub const CANCEL_SWITCHOVER: &str = "cancel_switchover";
/// `cancel_switchover` values.
pub const SWITCHOVER_UNSAFE: &str = "1";
pub const SWITCHOVER_CHECK_FAILED: &str = "2";
/// Set by a demote that found a crashed primary (it writes no shutdown checkpoint, so the
/// promotion that follows is a failover: no switchover check); removed by every other
/// demote and at post-promote.
pub const DEMOTED_CRASHED: &str = "demoted_crashed";

/// What a candidate published at pre-promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Nothing yet.
    Missing,
    /// The node ran its notification but could not read its position (instance down).
    Unknown,
    Known(WalPosition),
}

impl Published {
    pub const UNKNOWN: &'static str = "unknown";

    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None | Some("") => Published::Missing,
            Some(Self::UNKNOWN) => Published::Unknown,
            Some(v) => WalPosition::from_attribute(v).map_or(Published::Unknown, Published::Known),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No other candidate is ahead: promote.
    Promote,
    /// `node` is ahead: hand the promotion to it.
    HandOver { node: String, position: WalPosition },
    /// These candidates have not published yet.
    Waiting(Vec<String>),
}

/// Decides on the promotee at `mine` against the other candidates. A candidate is better
/// when its timeline is higher, or equal with a higher LSN; ties keep the promotee, so a
/// promotion never bounces between equals. Candidates whose position is unknown (their
/// instance is down) cannot be promoted and do not block.
pub fn decide(mine: WalPosition, others: &BTreeMap<String, Published>) -> Verdict {
    let waiting: Vec<String> = others
        .iter()
        .filter(|(_, p)| **p == Published::Missing)
        .map(|(n, _)| n.clone())
        .collect();
    if !waiting.is_empty() {
        return Verdict::Waiting(waiting);
    }
    let best = others
        .iter()
        .filter_map(|(n, p)| match p {
            Published::Known(pos) if *pos > mine => Some((n, *pos)),
            _ => None,
        })
        // Highest position; among equals the lowest name, for a stable choice.
        .max_by(|(na, a), (nb, b)| a.cmp(b).then_with(|| nb.cmp(na)));
    match best {
        Some((node, position)) => Verdict::HandOver {
            node: node.clone(),
            position,
        },
        None => Verdict::Promote,
    }
}

/// Positions and published lists as the election's and headless recovery's tests write them.
#[cfg(test)]
pub mod test_support {
    use super::*;
    use crate::logic::lsn::Lsn;

    pub fn pos(tl: u32, lsn: u64) -> WalPosition {
        WalPosition {
            timeline: tl,
            lsn: Lsn(lsn),
        }
    }

    pub fn others(list: &[(&str, Published)]) -> BTreeMap<String, Published> {
        list.iter().map(|(n, p)| (n.to_string(), *p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{others, pos};
    use super::*;

    #[test]
    fn parses_published_values() {
        assert_eq!(Published::parse(None), Published::Missing);
        assert_eq!(Published::parse(Some("")), Published::Missing);
        assert_eq!(Published::parse(Some("unknown")), Published::Unknown);
        assert_eq!(Published::parse(Some("garbage")), Published::Unknown);
        assert_eq!(
            Published::parse(Some("3#1234")),
            Published::Known(pos(3, 1234))
        );
    }

    #[test]
    fn promotes_when_alone_or_ahead() {
        assert_eq!(decide(pos(1, 10), &others(&[])), Verdict::Promote);
        let o = others(&[
            ("b", Published::Known(pos(1, 9))),
            ("c", Published::Known(pos(1, 10))),
        ]);
        assert_eq!(
            decide(pos(1, 10), &o),
            Verdict::Promote,
            "ties keep the promotee"
        );
    }

    #[test]
    fn hands_over_to_the_most_advanced() {
        let o = others(&[
            ("b", Published::Known(pos(1, 20))),
            ("c", Published::Known(pos(1, 30))),
        ]);
        assert_eq!(
            decide(pos(1, 10), &o),
            Verdict::HandOver {
                node: "c".into(),
                position: pos(1, 30)
            }
        );
    }

    #[test]
    fn equal_better_candidates_resolve_to_the_lowest_name() {
        let o = others(&[
            ("c", Published::Known(pos(1, 30))),
            ("b", Published::Known(pos(1, 30))),
        ]);
        assert!(matches!(decide(pos(1, 10), &o), Verdict::HandOver { node, .. } if node == "b"));
    }

    #[test]
    fn a_higher_timeline_wins_over_a_higher_lsn() {
        let o = others(&[("b", Published::Known(pos(2, 5)))]);
        assert!(
            matches!(decide(pos(1, 1_000_000), &o), Verdict::HandOver { node, .. } if node == "b")
        );
        let o = others(&[("b", Published::Known(pos(1, 1_000_000)))]);
        assert_eq!(decide(pos(2, 5), &o), Verdict::Promote);
    }

    #[test]
    fn waits_for_missing_candidates() {
        let o = others(&[
            ("b", Published::Missing),
            ("c", Published::Known(pos(9, 9))),
            ("d", Published::Missing),
        ]);
        assert_eq!(
            decide(pos(1, 1), &o),
            Verdict::Waiting(vec!["b".into(), "d".into()])
        );
    }

    #[test]
    fn unknown_positions_do_not_block_or_win() {
        let o = others(&[("b", Published::Unknown)]);
        assert_eq!(decide(pos(1, 1), &o), Verdict::Promote);
    }
}
