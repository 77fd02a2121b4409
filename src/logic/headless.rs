//! Headless recovery: what a running standby does when its monitor finds the cluster
//! without a promoted instance and without a node Pacemaker could promote. The running
//! standbys publish their WAL positions, the most advanced one takes a promotion score,
//! and Pacemaker promotes it through the usual notifications and election. Pure.

use crate::logic::election::Published;
use crate::logic::lsn::{Lsn, WalPosition};
use crate::logic::sync::{Proof, SyncRecord};
use std::collections::BTreeMap;

/// One instance of the clone, as `crm_resource --locate` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub node: String,
    pub promoted: bool,
}

/// Reads `resource pgsqld is running on: node1 Promoted` lines (`Master` before
/// Pacemaker 2.1); "is NOT running" and anything else list nothing.
pub fn parse_locate(stdout: &str) -> Vec<Located> {
    stdout
        .lines()
        .filter_map(|line| line.split_once("is running on:"))
        .filter_map(|(_, rest)| {
            let mut words = rest.split_whitespace();
            let node = words.next()?.to_string();
            let promoted = words.any(|w| w == "Promoted" || w == "Master");
            Some(Located { node, promoted })
        })
        .collect()
}

/// The node Pacemaker can already promote: the running standby with the highest
/// non-negative promotion score (ties: lowest name). Headless recovery leaves the cluster
/// to Pacemaker while there is one.
pub fn candidate(scores: &BTreeMap<String, Option<i64>>) -> Option<Decision> {
    scores
        .iter()
        .filter_map(|(n, s)| s.filter(|s| *s >= 0).map(|s| (n, s)))
        .max_by(|(na, a), (nb, b)| a.cmp(b).then_with(|| nb.cmp(na)))
        .map(|(node, score)| Decision::Candidate {
            node: node.clone(),
            score,
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Pacemaker can promote this node already (see `candidate`): nothing to do.
    Candidate { node: String, score: i64 },
    /// These running standbys have not published their position yet.
    Waiting(Vec<String>),
    /// This node is the most advanced running standby: it takes a promotion score.
    TakePromotion(WalPosition),
    /// Another running standby is more advanced (or equal with a lower name): its own
    /// monitor takes the promotion.
    Defer { node: String, position: WalPosition },
    /// The most advanced running standby is further than maxlag behind the last primary
    /// position known to the cluster: nobody is promoted.
    Decline {
        best: String,
        position: WalPosition,
        primary: Lsn,
        maxlag: u64,
    },
    /// sync_mode on/strict: too few recorded synchronous members published to prove the
    /// most advanced standby holds every acknowledged commit: nobody is promoted.
    Unproven {
        best: String,
        need: usize,
        missing: Vec<String>,
    },
    /// sync_mode on/strict: the most advanced standby has not received the last primary's
    /// WAL past that primary's promotion: it may lack commits that primary acknowledged.
    NotPast { best: String, since: WalPosition },
}

/// sync_mode on/strict: the winner of `decision` is promoted only when the synchronous
/// replication record proves it holds every acknowledged commit (`sync::prove`), from the
/// positions the running standbys published (`local` at `mine` included).
pub fn require_proof(
    decision: Decision,
    record: &SyncRecord,
    local: &str,
    mine: WalPosition,
    others: &BTreeMap<String, Published>,
) -> Decision {
    let (best, position) = match &decision {
        Decision::TakePromotion(p) => (local.to_string(), *p),
        Decision::Defer { node, position } => (node.clone(), *position),
        _ => return decision,
    };
    let mut positions = others.clone();
    positions.insert(local.to_string(), Published::Known(mine));
    match record.proves(&best, position, &positions) {
        Proof::Holds => decision,
        // (the winner is the most advanced of every published position already)
        Proof::Behind { node, position } => Decision::Defer { node, position },
        Proof::TooFewMembers { need, missing } => Decision::Unproven {
            best,
            need,
            missing,
        },
        Proof::NotPast { since } => Decision::NotPast { best, since },
    }
}

/// Decides for the standby `local` at `mine`, given what the other running standbys
/// published and the primary positions the last primary recorded when it found a standby
/// beyond maxlag. The most advanced wins (timeline, then LSN; ties go to the lowest name,
/// so every standby reaches the same answer). With `maxlag` set, the last primary position
/// known to the cluster is the furthest of those records and of the published positions,
/// and a winner further behind it than maxlag is refused: its promotion would lose more
/// than the administrator allowed.
pub fn decide(
    local: &str,
    mine: WalPosition,
    others: &BTreeMap<String, Published>,
    primary_records: &[Lsn],
    maxlag: u64,
) -> Decision {
    let waiting: Vec<String> = others
        .iter()
        .filter(|(_, p)| **p == Published::Missing)
        .map(|(n, _)| n.clone())
        .collect();
    if !waiting.is_empty() {
        return Decision::Waiting(waiting);
    }
    let mut known: Vec<(&str, WalPosition)> = others
        .iter()
        .filter_map(|(n, p)| match p {
            Published::Known(pos) => Some((n.as_str(), *pos)),
            _ => None,
        })
        .collect();
    known.push((local, mine));
    let (best, position) = known
        .iter()
        .copied()
        .max_by(|(na, a), (nb, b)| a.cmp(b).then_with(|| nb.cmp(na)))
        .expect("the local standby is always known");
    if maxlag > 0 {
        let primary = known
            .iter()
            .map(|(_, p)| p.lsn)
            .chain(primary_records.iter().copied())
            .max()
            .unwrap_or(position.lsn);
        if primary.0.saturating_sub(position.lsn.0) > maxlag {
            return Decision::Decline {
                best: best.to_string(),
                position,
                primary,
                maxlag,
            };
        }
    }
    if best == local {
        Decision::TakePromotion(position)
    } else {
        Decision::Defer {
            node: best.to_string(),
            position,
        }
    }
}

impl Decision {
    /// What the administrator reads, in the log and in the node attribute.
    pub fn describe(&self) -> String {
        match self {
            Decision::Candidate { node, score } => format!(
                "no primary: Pacemaker can promote {node} (promotion score {score})"
            ),
            Decision::Waiting(nodes) => format!(
                "no primary: waiting for {} to publish a WAL position",
                nodes.join(", ")
            ),
            Decision::TakePromotion(p) => format!(
                "no primary: this node is the most advanced running standby ({p}), it takes the promotion"
            ),
            Decision::Defer { node, position } => format!(
                "no primary: {node} is the most advanced running standby ({position}), it takes the promotion"
            ),
            Decision::Decline {
                best,
                position,
                primary,
                maxlag,
            } => format!(
                "no primary, none promoted: no standby within maxlag={maxlag} of the last primary position {primary} (most advanced: {best} at {}, {} bytes behind)",
                position.lsn,
                primary.0.saturating_sub(position.lsn.0)
            ),
            Decision::Unproven {
                best,
                need,
                missing,
            } => format!(
                "no primary, none promoted: {need} synchronous members must publish a position to prove {best} holds every acknowledged commit; missing: {}",
                missing.join(", ")
            ),
            Decision::NotPast { best, since } => format!(
                "no primary, none promoted: the most advanced standby {best} has not received the last primary's WAL past its promotion ({since})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::election::test_support::{others, pos};
    use crate::logic::sync::test_support::rec;
    use crate::logic::sync::SyncSet;

    #[test]
    fn with_a_sync_record_only_a_proven_winner_is_promoted() {
        let record = rec(SyncSet::new(1, &["n2", "n3"]));
        let o = others(&[("n2", Published::Known(pos(1, 5)))]);
        let take = decide("n1", pos(1, 9), &o, &[], 0);
        assert_eq!(take, Decision::TakePromotion(pos(1, 9)));
        // n1 is not a member and member n3 is silent: no proof
        let d = require_proof(take.clone(), &record, "n1", pos(1, 9), &o);
        assert_eq!(
            d,
            Decision::Unproven {
                best: "n1".into(),
                need: 2,
                missing: vec!["n3".into()]
            }
        );
        assert!(d.describe().contains("missing: n3"), "{}", d.describe());
        // ANY 2 of the two: n2 alone suffices, and n1 is ahead of it
        let record = rec(SyncSet::new(2, &["n2", "n3"]));
        assert_eq!(
            require_proof(take.clone(), &record, "n1", pos(1, 9), &o),
            take
        );
        // the other node's decision is gated the same way, so every standby says the same
        let defer = decide(
            "n2",
            pos(1, 5),
            &others(&[("n1", Published::Known(pos(1, 9)))]),
            &[],
            0,
        );
        let d = require_proof(
            defer,
            &rec(SyncSet::new(1, &["n2", "n3"])),
            "n2",
            pos(1, 5),
            &others(&[("n1", Published::Known(pos(1, 9)))]),
        );
        assert!(matches!(d, Decision::Unproven { best, .. } if best == "n1"));
        // a new primary's record: the winner must be past its promotion
        let mut past = rec(SyncSet::new(1, &["n1", "n2"]));
        past.since = Some(pos(2, 1));
        let d = require_proof(take.clone(), &past, "n1", pos(1, 9), &o);
        assert!(matches!(d, Decision::NotPast { .. }), "{d:?}");
        assert!(
            d.describe().contains("past its promotion"),
            "{}",
            d.describe()
        );
        // nothing else is touched
        let w = Decision::Waiting(vec!["n3".into()]);
        assert_eq!(require_proof(w.clone(), &record, "n1", pos(1, 9), &o), w);
    }

    #[test]
    fn parses_crm_resource_locate() {
        let out = "resource pgsqld is running on: node1 Promoted\nresource pgsqld is running on: node2\nresource pgsqld is running on: node3 \n";
        assert_eq!(
            parse_locate(out),
            vec![
                Located {
                    node: "node1".into(),
                    promoted: true
                },
                Located {
                    node: "node2".into(),
                    promoted: false
                },
                Located {
                    node: "node3".into(),
                    promoted: false
                },
            ]
        );
        assert_eq!(
            parse_locate("resource pgsqld is running on: n1 Master\n"),
            vec![Located {
                node: "n1".into(),
                promoted: true
            }]
        );
        assert!(parse_locate("resource pgsqld is NOT running\n").is_empty());
        assert!(parse_locate("").is_empty());
    }

    #[test]
    fn a_node_with_a_non_negative_score_is_a_candidate() {
        let s = |l: &[(&str, Option<i64>)]| -> BTreeMap<String, Option<i64>> {
            l.iter().map(|(n, v)| (n.to_string(), *v)).collect()
        };
        let is = |node: &str, score| {
            Some(Decision::Candidate {
                node: node.into(),
                score,
            })
        };
        assert_eq!(candidate(&s(&[("a", Some(-1000)), ("b", None)])), None);
        assert_eq!(candidate(&s(&[])), None);
        assert_eq!(
            candidate(&s(&[("a", Some(-1000)), ("b", Some(0))])),
            is("b", 0)
        );
        assert_eq!(
            candidate(&s(&[
                ("a", Some(990)),
                ("b", Some(1000)),
                ("c", Some(1000))
            ])),
            is("b", 1000)
        );
        assert_eq!(
            is("b", 1000).unwrap().describe(),
            "no primary: Pacemaker can promote b (promotion score 1000)"
        );
    }

    #[test]
    fn the_most_advanced_running_standby_takes_the_promotion() {
        let o = others(&[
            ("b", Published::Known(pos(1, 200))),
            ("c", Published::Known(pos(1, 100))),
        ]);
        assert_eq!(
            decide("a", pos(1, 300), &o, &[], 0),
            Decision::TakePromotion(pos(1, 300))
        );
        assert_eq!(
            decide("a", pos(1, 150), &o, &[], 0),
            Decision::Defer {
                node: "b".into(),
                position: pos(1, 200)
            }
        );
        // a higher timeline wins over a higher LSN
        assert_eq!(
            decide("a", pos(2, 10), &o, &[], 0),
            Decision::TakePromotion(pos(2, 10))
        );
    }

    #[test]
    fn ties_go_to_the_lowest_name_on_every_node() {
        let at = pos(1, 500);
        let on_a = decide("a", at, &others(&[("b", Published::Known(at))]), &[], 0);
        let on_b = decide("b", at, &others(&[("a", Published::Known(at))]), &[], 0);
        assert_eq!(on_a, Decision::TakePromotion(at));
        assert_eq!(
            on_b,
            Decision::Defer {
                node: "a".into(),
                position: at
            }
        );
    }

    #[test]
    fn waits_for_every_running_standby_and_ignores_unknown_ones() {
        let o = others(&[
            ("b", Published::Missing),
            ("c", Published::Known(pos(9, 9))),
        ]);
        assert_eq!(
            decide("a", pos(1, 1), &o, &[], 0),
            Decision::Waiting(vec!["b".into()])
        );
        let o = others(&[("b", Published::Unknown)]);
        assert_eq!(
            decide("a", pos(1, 1), &o, &[], 0),
            Decision::TakePromotion(pos(1, 1))
        );
    }

    #[test]
    fn maxlag_refuses_a_winner_too_far_behind_the_last_primary_position() {
        // The last primary recorded it was at 10_000 when it found a standby lagging.
        let records = [Lsn(10_000)];
        let alone = others(&[]);
        assert_eq!(
            decide("c", pos(1, 8_000), &alone, &records, 1_000),
            Decision::Decline {
                best: "c".into(),
                position: pos(1, 8_000),
                primary: Lsn(10_000),
                maxlag: 1_000
            }
        );
        // exactly at maxlag is still allowed; without maxlag the record does not count
        assert_eq!(
            decide("c", pos(1, 9_000), &alone, &records, 1_000),
            Decision::TakePromotion(pos(1, 9_000))
        );
        assert_eq!(
            decide("c", pos(1, 8_000), &alone, &records, 0),
            Decision::TakePromotion(pos(1, 8_000))
        );
        // an advanced standby is chosen, never the lagging one
        let o = others(&[("b", Published::Known(pos(1, 10_050)))]);
        assert_eq!(
            decide("c", pos(1, 8_000), &o, &records, 1_000),
            Decision::Defer {
                node: "b".into(),
                position: pos(1, 10_050)
            }
        );
        // the published positions count as known primary positions too
        let o = others(&[("b", Published::Unknown)]);
        assert_eq!(
            decide("c", pos(1, 8_000), &o, &[], 1_000),
            Decision::TakePromotion(pos(1, 8_000))
        );
    }

    #[test]
    fn descriptions_name_the_reason() {
        let d = Decision::Decline {
            best: "node3".into(),
            position: pos(1, 0x300_0000),
            primary: Lsn(0x500_0060),
            maxlag: 1_048_576,
        };
        assert_eq!(
            d.describe(),
            "no primary, none promoted: no standby within maxlag=1048576 of the last primary position 0/5000060 (most advanced: node3 at 0/3000000, 33554528 bytes behind)"
        );
        assert!(Decision::Waiting(vec!["b".into(), "c".into()])
            .describe()
            .contains("waiting for b, c"));
    }
}
