//! Timeline numbers a promotion must not reuse. Pure.
//!
//! PostgreSQL gives a promoted standby one more than the newest timeline it knows of (a
//! history file in pg_wal or the archive). A standby that never received the history file
//! of a node promoted moments before, and lost since, picks that node's number again: two
//! primaries with one timeline ID and different WAL after the same point, which pg_rewind
//! cannot tell apart (`divergence::Fork::Twin`) and whose segments overwrite each other in
//! a shared WAL archive. So each promotee claims its timeline on every node before
//! pg_promote, and the next one reserves every claimed number it lacks with a placeholder
//! history file, which makes PostgreSQL skip it.

use crate::logic::lsn::WalPosition;
use std::ops::RangeInclusive;

/// Private attribute: the newest timeline a promotion claimed, kept on every node (so that
/// it outlives the claimant).
pub const TIMELINE_CLAIM: &str = "timeline_claim";

/// What a promotion does about timelines: the one it will take (`target`) and the numbers
/// to reserve first (`reserve`, empty when the node knows of every claimed one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub target: u32,
    pub reserve: RangeInclusive<u32>,
}

/// One past the newest timeline this node knows of (`local_newest`) or any node claimed;
/// the claims' values that are no timeline are ignored.
pub fn plan<'a>(local_newest: u32, claims: impl IntoIterator<Item = &'a str>) -> Plan {
    let claimed = claims
        .into_iter()
        .filter_map(|c| c.trim().parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let target = local_newest.max(claimed) + 1;
    Plan {
        target,
        reserve: local_newest + 1..=target - 1,
    }
}

/// The placeholder history file of a reserved timeline: the history of the node's own
/// timeline (`parent_history`, the text of its history file; empty on timeline 1) and the
/// line that forks the reserved timeline off it at the node's `position`, with a reason
/// that says what it is. PostgreSQL reads it as any history file (timelines in increasing
/// order, each below the reserved one).
pub fn placeholder_history(parent_history: &str, position: WalPosition, reserved: u32) -> String {
    let mut text: String = parent_history
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!(
        "{}\t{}\tpgsqlms: timeline {reserved} was claimed by another node's promotion, never used here\n",
        position.timeline, position.lsn
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::divergence::{parse_history, HistoryEntry};
    use crate::logic::election::test_support::pos;
    use crate::logic::lsn::Lsn;

    #[test]
    fn a_promotion_takes_one_past_the_newest_known_or_claimed_timeline() {
        // nothing claimed, or only older claims: what PostgreSQL would pick, nothing reserved
        for claims in [vec![], vec!["3", "6"], vec!["garbage", ""]] {
            let p = plan(6, claims);
            assert_eq!(p.target, 7);
            assert!(p.reserve.is_empty(), "{p:?}");
        }
        // node1 claimed 7 and was lost before this node got its history file
        assert_eq!(
            plan(6, ["7", "5"]),
            Plan {
                target: 8,
                reserve: 7..=7
            }
        );
        // two claims this node never heard of
        assert_eq!(
            plan(6, ["9"]),
            Plan {
                target: 10,
                reserve: 7..=9
            }
        );
        // from timeline 1 (no history file yet)
        assert_eq!(plan(1, ["2"]).reserve, 2..=2);
    }

    #[test]
    fn a_placeholder_is_a_valid_history_below_its_timeline() {
        let parent = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000060\tno recovery target specified\n";
        let text = placeholder_history(parent, pos(3, 0x6000_0000), 4);
        assert!(text.contains("timeline 4 was claimed"), "{text}");
        let entries = parse_history(&text).unwrap();
        assert_eq!(
            entries.last(),
            Some(&HistoryEntry {
                timeline: 3,
                end: Lsn(0x6000_0000)
            })
        );
        assert!(entries.iter().all(|e| e.timeline < 4));
        // from timeline 1: the one line
        assert_eq!(
            parse_history(&placeholder_history("", pos(1, 0x100), 2)).unwrap(),
            [HistoryEntry {
                timeline: 1,
                end: Lsn(0x100)
            }]
        );
    }
}
