//! Promotion scores: what the primary's monitor wants each node's score to be. Pure.

use crate::logic::lsn::Lsn;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Score of the running primary.
pub const PRIMARY: i64 = 1001;
/// Score of the best connected standby; the next ones get 10 less each.
pub const BEST_STANDBY: i64 = 1000;
const RANK_STEP: i64 = 10;
/// Score of a standby still catching up from a base backup or starting.
pub const NOT_READY: i64 = -1;
/// Score of a partition node with no replication connection to the primary.
pub const NOT_CONNECTED: i64 = -1000;
/// How long after its promotion a primary leaves alone the score of a standby it has not
/// seen yet: its first monitor runs before the standbys reconnect to it, and marking them
/// "not connected" then would leave no candidate if it died at once.
pub const CONNECT_GRACE: Duration = Duration::from_secs(30);
/// How long a standby that stopped replicating keeps the rank it had (only without
/// maxlag: with maxlag, a standby the primary cannot measure is not promotable).
pub const LOST_GRACE: Duration = Duration::from_secs(30);
/// How far below the recorded synchronous members a standby outside them ranks (see
/// `members_first`): members rank at least 1000 - 10 x 49, for up to 50 standbys.
const NON_MEMBER_MARGIN: i64 = 500;
/// Score given to the first instance started from a cleanly stopped primary when no node
/// has a score, so that Pacemaker has something to promote (PAF's first-start rule).
pub const FIRST_START: i64 = 1;

/// One row of `pg_stat_replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationRow {
    pub application_name: String,
    pub state: String,
    pub write_lsn: Option<Lsn>,
    /// Bytes between the primary's current WAL position and `write_lsn`.
    pub lag: Option<u64>,
}

/// Why a node got the score it got, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A connection whose application_name names no partition node (pg_basebackup, a
    /// misconfigured standby, a node outside the partition).
    UnknownStandby(String),
    /// A connection that claims to be this node: it replicates from itself.
    SelfReplication,
    NotReady {
        node: String,
        state: String,
    },
    LagAboveMax {
        node: String,
        lag: u64,
        /// The primary's position when it measured that lag.
        primary: Option<Lsn>,
    },
    NotConnected(String),
    /// Not seen yet by this new primary: its score is left as it is for now.
    AwaitingConnection(String),
    /// Stopped replicating a moment ago: keeps its last score for now.
    KeptRank(String),
}

/// A standby the primary saw replicating and no longer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// When the primary's monitor first missed it (seconds on the boot clock).
    pub since: u64,
    /// The score it had then.
    pub score: i64,
}

/// What the primary's monitor remembers to grant the grace periods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grace {
    /// Now, in seconds on the boot clock.
    pub now: u64,
    /// When this node was promoted, if known.
    pub promoted_at: Option<u64>,
    pub lost: BTreeMap<String, Lost>,
}

impl Grace {
    pub fn within(&self, since: u64, grace: Duration) -> bool {
        self.now.saturating_sub(since) < grace.as_secs()
    }
}

/// Score of a partition node that does not replicate from this primary, or `None` to leave
/// its score as it is. A standby that stopped replicating keeps its last score for
/// `LOST_GRACE` (not with maxlag set: its lag is unknown); one never seen since this node's
/// promotion is left alone for `CONNECT_GRACE`; otherwise it is not promotable.
pub fn unseen_score(node: &str, grace: &Grace, maxlag: u64) -> (Option<i64>, Note) {
    let node_s = node.to_string();
    if let Some(lost) = grace.lost.get(node) {
        return if maxlag == 0 && grace.within(lost.since, LOST_GRACE) {
            (Some(lost.score), Note::KeptRank(node_s))
        } else {
            (Some(NOT_CONNECTED), Note::NotConnected(node_s))
        };
    }
    match grace.promoted_at {
        Some(at) if grace.within(at, CONNECT_GRACE) => (None, Note::AwaitingConnection(node_s)),
        _ => (Some(NOT_CONNECTED), Note::NotConnected(node_s)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScorePlan {
    pub scores: BTreeMap<String, i64>,
    pub notes: Vec<Note>,
}

/// Computes every partition node's promotion score from the primary's point of view.
/// Node names are matched exactly; nodes outside the partition are left alone (their
/// transient scores go away with them), and so are standbys still within a grace period
/// (see `unseen_score`).
pub fn plan(
    local: &str,
    partition: &BTreeSet<String>,
    rows: &[ReplicationRow],
    maxlag: u64,
    grace: &Grace,
) -> ScorePlan {
    let mut out = ScorePlan::default();
    out.scores.insert(local.to_string(), PRIMARY);

    // Keep one row per node: the most advanced, in case a node has several connections.
    let mut by_node: BTreeMap<&str, &ReplicationRow> = BTreeMap::new();
    for row in rows {
        let name = row.application_name.as_str();
        if name == local {
            out.notes.push(Note::SelfReplication);
            continue;
        }
        if !partition.contains(name) {
            out.notes.push(Note::UnknownStandby(name.to_string()));
            continue;
        }
        let ready = |r: &ReplicationRow| !is_not_ready(&r.state);
        let better = match by_node.get(name) {
            None => true,
            Some(prev) => (ready(row), row.write_lsn) > (ready(prev), prev.write_lsn),
        };
        if better {
            by_node.insert(name, row);
        }
    }

    let (not_ready, mut ready): (Vec<_>, Vec<_>) =
        by_node.into_values().partition(|r| is_not_ready(&r.state));
    for r in not_ready {
        out.scores.insert(r.application_name.clone(), NOT_READY);
        out.notes.push(Note::NotReady {
            node: r.application_name.clone(),
            state: r.state.clone(),
        });
    }
    // Most advanced first; ties by name so the order is stable.
    ready.sort_by(|a, b| {
        b.write_lsn
            .cmp(&a.write_lsn)
            .then_with(|| a.application_name.cmp(&b.application_name))
    });
    for (rank, r) in ready.into_iter().enumerate() {
        let base = (BEST_STANDBY - RANK_STEP * rank as i64).max(1);
        let lag = r.lag.unwrap_or(u64::MAX);
        let score = if maxlag > 0 && lag > maxlag {
            out.notes.push(Note::LagAboveMax {
                node: r.application_name.clone(),
                lag,
                primary: r
                    .write_lsn
                    .zip(r.lag)
                    .map(|(w, l)| Lsn(w.0.saturating_add(l))),
            });
            -base
        } else {
            base
        };
        out.scores.insert(r.application_name.clone(), score);
    }

    let seen: BTreeSet<String> = out.scores.keys().cloned().collect();
    for node in partition.difference(&seen) {
        let (score, note) = unseen_score(node, grace, maxlag);
        if let Some(s) = score {
            out.scores.insert(node.clone(), s);
        }
        out.notes.push(note);
    }
    out
}

/// With managed synchronous replication a promotion must be proven from the recorded
/// members (`logic::sync`): a standby outside them (catching up after a return, or lost a
/// moment ago and keeping its rank) passes only when at least as far as they are, and
/// otherwise hands the promotion over, at the cost of a failed promote. Every positive
/// score outside `members` is lowered below every member's, so Pacemaker tries a member
/// first; the order within each group stays. No members (not managed, or nothing recorded):
/// nothing changes.
pub fn members_first(plan: &mut ScorePlan, local: &str, members: &BTreeSet<String>) {
    if members.is_empty() {
        return;
    }
    for (node, score) in plan.scores.iter_mut() {
        if node != local && !members.contains(node) && *score > 0 {
            *score = (*score - NON_MEMBER_MARGIN).max(1);
        }
    }
}

/// The members to prefer (`members_first`): those of `members` streaming now. A member lost
/// since the last round is removed by this round's management, after the scores; meanwhile
/// it must not keep its rank above the member that receives everything.
pub fn streaming_members(members: &BTreeSet<String>, rows: &[ReplicationRow]) -> BTreeSet<String> {
    rows.iter()
        .filter(|r| r.state == "streaming" && members.contains(&r.application_name))
        .map(|r| r.application_name.clone())
        .collect()
}

/// The standbys the primary no longer sees: those it remembered as lost, still within
/// their grace, plus those connected at its previous monitor and missing now, with the
/// score they had then.
pub fn still_lost(
    grace: &Grace,
    was_connected: &BTreeSet<String>,
    had: &BTreeMap<String, i64>,
    connected: &BTreeSet<String>,
) -> BTreeMap<String, Lost> {
    let mut lost: BTreeMap<String, Lost> = grace
        .lost
        .iter()
        .filter(|(n, l)| !connected.contains(*n) && grace.within(l.since, LOST_GRACE))
        .map(|(n, l)| (n.clone(), *l))
        .collect();
    for node in was_connected.difference(connected) {
        if let Some(score) = had.get(node) {
            lost.entry(node.clone()).or_insert(Lost {
                since: grace.now,
                score: *score,
            });
        }
    }
    lost
}

fn is_not_ready(state: &str) -> bool {
    matches!(state, "startup" | "backup")
}

/// The scores to write: those that differ from what is known to be set.
pub fn changes(
    wanted: &BTreeMap<String, i64>,
    current: &BTreeMap<String, i64>,
) -> Vec<(String, i64)> {
    wanted
        .iter()
        .filter(|(node, score)| current.get(*node) != Some(*score))
        .map(|(n, s)| (n.clone(), *s))
        .collect()
}

/// PAF's first-start rule: an instance that was a cleanly stopped primary gets a small
/// positive score when no partition node has a non-negative score, so the cluster can
/// elect it on a cold start.
pub fn first_start_score(was_clean_primary: bool, partition_scores: &[Option<i64>]) -> Option<i64> {
    let any_score = partition_scores.iter().flatten().any(|s| *s >= 0);
    (was_clean_primary && !any_score).then_some(FIRST_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn row(name: &str, state: &str, lsn: u64, lag: u64) -> ReplicationRow {
        ReplicationRow {
            application_name: name.into(),
            state: state.into(),
            write_lsn: Some(Lsn(lsn)),
            lag: Some(lag),
        }
    }

    /// A primary promoted long ago that lost no standby: no grace applies.
    fn plan_without_grace(
        local: &str,
        partition: &BTreeSet<String>,
        rows: &[ReplicationRow],
        maxlag: u64,
    ) -> ScorePlan {
        plan(local, partition, rows, maxlag, &Grace::default())
    }

    fn scores(p: &ScorePlan) -> Vec<(&str, i64)> {
        p.scores.iter().map(|(n, s)| (n.as_str(), *s)).collect()
    }

    #[test]
    fn primary_gets_1001_and_standbys_rank_most_advanced_first() {
        let p = plan_without_grace(
            "a",
            &nodes(&["a", "b", "c", "d"]),
            &[
                row("b", "streaming", 100, 50),
                row("c", "streaming", 150, 0),
                row("d", "catchup", 120, 30),
            ],
            0,
        );
        assert_eq!(
            scores(&p),
            vec![("a", 1001), ("b", 980), ("c", 1000), ("d", 990)]
        );
        assert!(p.notes.is_empty());
    }

    #[test]
    fn ties_go_to_the_lowest_name() {
        let p = plan_without_grace(
            "a",
            &nodes(&["a", "c", "b"]),
            &[row("c", "streaming", 10, 0), row("b", "streaming", 10, 0)],
            0,
        );
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000), ("c", 990)]);
    }

    #[test]
    fn startup_and_backup_states_are_forbidden() {
        let p = plan_without_grace(
            "a",
            &nodes(&["a", "b", "c", "d"]),
            &[
                row("b", "startup", 500, 0),
                row("c", "backup", 500, 0),
                row("d", "streaming", 1, 499),
            ],
            0,
        );
        assert_eq!(
            scores(&p),
            vec![("a", 1001), ("b", -1), ("c", -1), ("d", 1000)]
        );
    }

    #[test]
    fn lag_above_maxlag_is_negative_and_zero_disables() {
        let rows = [row("b", "streaming", 90, 10), row("c", "streaming", 50, 50)];
        let p = plan_without_grace("a", &nodes(&["a", "b", "c"]), &rows, 20);
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000), ("c", -990)]);
        assert!(p.notes.contains(&Note::LagAboveMax {
            node: "c".into(),
            lag: 50,
            primary: Some(Lsn(100)),
        }));
        let p = plan_without_grace("a", &nodes(&["a", "b", "c"]), &rows, 0);
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000), ("c", 990)]);
        // Lag exactly at the limit is still allowed.
        let p = plan_without_grace("a", &nodes(&["a", "b", "c"]), &rows, 50);
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000), ("c", 990)]);
    }

    #[test]
    fn unknown_lag_counts_as_over_maxlag() {
        let mut r = row("b", "streaming", 90, 0);
        r.lag = None;
        r.write_lsn = None;
        let p = plan_without_grace("a", &nodes(&["a", "b"]), &[r], 100);
        assert_eq!(scores(&p), vec![("a", 1001), ("b", -1000)]);
    }

    #[test]
    fn partition_nodes_not_streaming_get_minus_1000() {
        let p = plan_without_grace(
            "a",
            &nodes(&["a", "b", "c"]),
            &[row("b", "streaming", 1, 0)],
            0,
        );
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000), ("c", -1000)]);
        assert_eq!(p.notes, vec![Note::NotConnected("c".into())]);
    }

    #[test]
    fn names_match_exactly_and_outsiders_are_left_alone() {
        // "node1" is a substring of "node10": PAF's regex matched it, we must not.
        let p = plan_without_grace(
            "node2",
            &nodes(&["node10", "node2"]),
            &[
                row("node1", "streaming", 5, 0),
                row("pg_basebackup", "backup", 5, 0),
            ],
            0,
        );
        assert_eq!(scores(&p), vec![("node10", -1000), ("node2", 1001)]);
        assert!(p.notes.contains(&Note::UnknownStandby("node1".into())));
        assert!(p
            .notes
            .contains(&Note::UnknownStandby("pg_basebackup".into())));
    }

    #[test]
    fn self_replication_is_reported_and_ignored() {
        let p = plan_without_grace("a", &nodes(&["a"]), &[row("a", "streaming", 5, 0)], 0);
        assert_eq!(scores(&p), vec![("a", 1001)]);
        assert_eq!(p.notes, vec![Note::SelfReplication]);
    }

    #[test]
    fn a_node_with_two_connections_keeps_its_best_ready_one() {
        let p = plan_without_grace(
            "a",
            &nodes(&["a", "b", "c"]),
            &[
                row("b", "backup", 900, 0),
                row("b", "streaming", 100, 0),
                row("c", "streaming", 200, 0),
            ],
            0,
        );
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 990), ("c", 1000)]);
    }

    #[test]
    fn ranks_never_reach_zero() {
        let names: Vec<String> = (0..120).map(|i| format!("n{i:03}")).collect();
        let mut part: BTreeSet<String> = names.iter().cloned().collect();
        part.insert("p".into());
        let rows: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| row(n, "streaming", 1000 - i as u64, 0))
            .collect();
        let p = plan_without_grace("p", &part, &rows, 0);
        assert_eq!(p.scores["n000"], 1000);
        assert_eq!(p.scores["n099"], 10);
        assert_eq!(p.scores["n100"], 1);
        assert_eq!(p.scores["n119"], 1);
    }

    fn grace(now: u64, promoted_at: Option<u64>, lost: &[(&str, u64, i64)]) -> Grace {
        Grace {
            now,
            promoted_at,
            lost: lost
                .iter()
                .map(|(n, since, score)| {
                    (
                        n.to_string(),
                        Lost {
                            since: *since,
                            score: *score,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_new_primary_leaves_unseen_standbys_alone_for_the_connect_grace() {
        let part = nodes(&["a", "b", "c"]);
        let rows = [row("b", "streaming", 1, 0)];
        // promoted at 100; the first monitor runs at once, the last one within the
        // grace 29 s later: c's score is not written (it keeps what it has).
        for now in [100, 129] {
            let p = plan("a", &part, &rows, 0, &grace(now, Some(100), &[]));
            assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000)], "at {now}");
            assert_eq!(p.notes, vec![Note::AwaitingConnection("c".into())]);
        }
        // from 30 s on, c is marked not connected
        let p = plan("a", &part, &rows, 0, &grace(130, Some(100), &[]));
        assert_eq!(scores(&p), vec![("a", 1001), ("b", 1000), ("c", -1000)]);
        assert_eq!(p.notes, vec![Note::NotConnected("c".into())]);
        // the grace applies whatever maxlag says: no score is raised by it
        let p = plan("a", &part, &rows, 10, &grace(100, Some(100), &[]));
        assert!(!p.scores.contains_key("c"));
        // no known promotion time (agent upgraded under a running primary): no grace
        let p = plan("a", &part, &rows, 0, &grace(100, None, &[]));
        assert_eq!(p.scores["c"], -1000);
    }

    #[test]
    fn a_standby_lost_a_moment_ago_keeps_its_rank_for_the_lost_grace() {
        let part = nodes(&["a", "b", "c"]);
        let rows = [row("b", "streaming", 1, 0)];
        let lost = [("c", 200, 990)];
        for now in [200, 229] {
            let p = plan("a", &part, &rows, 0, &grace(now, Some(0), &lost));
            assert_eq!(p.scores["c"], 990, "at {now}");
            assert_eq!(p.notes, vec![Note::KeptRank("c".into())]);
        }
        let p = plan("a", &part, &rows, 0, &grace(230, Some(0), &lost));
        assert_eq!(p.scores["c"], -1000);
        // with maxlag its lag is unknown: not promotable at once
        let p = plan("a", &part, &rows, 1000, &grace(200, Some(200), &lost));
        assert_eq!(p.scores["c"], -1000);
        assert_eq!(p.notes, vec![Note::NotConnected("c".into())]);
    }

    #[test]
    fn lost_standbys_are_remembered_until_they_return_or_their_grace_ends() {
        let set = |names: &[&str]| nodes(names);
        let had: BTreeMap<String, i64> =
            [("a".into(), 1001), ("b".into(), 1000), ("c".into(), 990)].into();
        // c disappears at 50: remembered with its score from then
        let g = grace(50, Some(0), &[]);
        let lost = still_lost(&g, &set(&["b", "c"]), &had, &set(&["b"]));
        assert_eq!(
            lost,
            [(
                "c".to_string(),
                Lost {
                    since: 50,
                    score: 990
                }
            )]
            .into()
        );
        // still missing at 70: the first time counts, not this one
        let g = Grace { now: 70, ..g };
        let g2 = Grace {
            lost: lost.clone(),
            ..g.clone()
        };
        assert_eq!(still_lost(&g2, &set(&["b"]), &had, &set(&["b"])), lost);
        // back at 75: forgotten
        let g3 = Grace {
            now: 75,
            ..g2.clone()
        };
        assert!(still_lost(&g3, &set(&["b"]), &had, &set(&["b", "c"])).is_empty());
        // or its grace ended at 80
        let g4 = Grace { now: 80, ..g2 };
        assert!(still_lost(&g4, &set(&["b"]), &had, &set(&["b"])).is_empty());
    }

    #[test]
    fn recorded_members_rank_above_every_other_standby() {
        let rows = [
            row("b", "streaming", 100, 0),
            row("c", "catchup", 150, 0),
            row("d", "streaming", 90, 10),
            row("e", "streaming", 80, 20),
        ];
        let grace = Grace {
            now: 100,
            promoted_at: None,
            lost: BTreeMap::from([(
                "f".to_string(),
                Lost {
                    since: 90,
                    score: 1000,
                },
            )]),
        };
        let partition = nodes(&["a", "b", "c", "d", "e", "f"]);
        let mut p = plan("a", &partition, &rows, 0, &grace);
        assert_eq!(
            scores(&p),
            [
                ("a", 1001),
                ("b", 990),
                ("c", 1000),
                ("d", 980),
                ("e", 970),
                ("f", 1000)
            ]
        );
        members_first(&mut p, "a", &nodes(&["b", "e", "a"]));
        // c (ahead, catching up), d and f (lost, keeping its rank) fall below b and e
        assert_eq!(
            scores(&p),
            [
                ("a", 1001),
                ("b", 990),
                ("c", 500),
                ("d", 480),
                ("e", 970),
                ("f", 500)
            ]
        );
        // negative and non-positive scores stay; the floor is 1
        let mut q = ScorePlan::default();
        q.scores
            .extend([("x".into(), -990), ("y".into(), 400), ("z".into(), -1)]);
        members_first(&mut q, "a", &nodes(&["b"]));
        assert_eq!(scores(&q), [("x", -990), ("y", 1), ("z", -1)]);
        // nothing recorded: nothing changes
        let mut r = plan("a", &partition, &rows, 0, &grace);
        let before = r.clone();
        members_first(&mut r, "a", &BTreeSet::new());
        assert_eq!(r, before);
    }

    #[test]
    fn only_streaming_members_are_preferred() {
        let rows = [
            row("b", "streaming", 100, 0),
            row("c", "catchup", 150, 0),
            row("d", "streaming", 90, 10),
        ];
        // c catching up, e lost: not preferred; d streams but is no member
        assert_eq!(
            streaming_members(&nodes(&["b", "c", "e"]), &rows),
            nodes(&["b"])
        );
        assert!(streaming_members(&nodes(&["e"]), &rows).is_empty());
    }

    #[test]
    fn only_changed_scores_are_written() {
        let wanted: BTreeMap<String, i64> =
            [("a".into(), 1001), ("b".into(), 1000), ("c".into(), -1000)].into();
        let current: BTreeMap<String, i64> = [("a".into(), 1001), ("b".into(), 990)].into();
        assert_eq!(
            changes(&wanted, &current),
            vec![("b".to_string(), 1000), ("c".to_string(), -1000)]
        );
        assert!(changes(&wanted, &wanted).is_empty());
    }

    #[test]
    fn first_start_rule() {
        assert_eq!(first_start_score(true, &[None, None]), Some(1));
        assert_eq!(first_start_score(true, &[]), Some(1));
        assert_eq!(first_start_score(true, &[Some(-1000), None]), Some(1));
        assert_eq!(first_start_score(true, &[Some(0)]), None);
        assert_eq!(first_start_score(true, &[None, Some(1000)]), None);
        assert_eq!(first_start_score(false, &[None]), None);
    }
}
