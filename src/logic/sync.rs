//! Managed synchronous replication (`sync_mode` on or strict). Pure.
//!
//! PostgreSQL's `synchronous_standby_names` is kept at `ANY k (members)`; the CIB holds a
//! record of members and k that every promotion must satisfy. The record must always
//! "cover" what PostgreSQL may acknowledge: every set of k members that can acknowledge a
//! commit overlaps every set of n-k+1 recorded members an election may rely on. With
//! PostgreSQL at (Mp, kp) and the record at (Mr, kr), that holds when
//! `kp >= kr + |Mp \ Mr|` (an acknowledging set takes at most |Mp \ Mr| nodes outside the
//! record, so at least kr recorded ones). A record with k = 0 proves nothing: no standby
//! can be promoted on it (commits may have been acknowledged by the primary alone).

use crate::logic::election::Published;
use crate::logic::lsn::{Lsn, WalPosition};
use crate::logic::scores::ReplicationRow;
use crate::ocf::config::SyncMode;
use std::collections::{BTreeMap, BTreeSet};

/// Members and k: a value of `synchronous_standby_names`, or the CIB record of one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncSet {
    pub k: usize,
    pub members: BTreeSet<String>,
}

impl SyncSet {
    pub fn new(k: usize, members: &[&str]) -> Self {
        SyncSet {
            k,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    /// The value for `synchronous_standby_names`: `ANY k ("a", "b")`, or empty (no
    /// standby is waited for; PostgreSQL rejects `ANY 0`).
    pub fn setting(&self) -> String {
        if self.k == 0 || self.members.is_empty() {
            return String::new();
        }
        let names: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("\"{}\"", m.replace('"', "\"\"")))
            .collect();
        format!("ANY {} ({})", self.k, names.join(", "))
    }

    /// Reads back a value `setting` wrote (as `SHOW` prints it). Anything else (an
    /// administrator's `FIRST 1 (...)`, `*`) is `None`: it guarantees nothing the agent
    /// knows of.
    pub fn parse_setting(value: &str) -> Option<Self> {
        let v = value.trim();
        if v.is_empty() {
            return Some(SyncSet::default());
        }
        let rest = v.strip_prefix("ANY ")?;
        let (k, list) = rest.split_once(' ')?;
        let k: usize = k.parse().ok().filter(|k| *k > 0)?;
        let list = list.trim().strip_prefix('(')?.strip_suffix(')')?;
        let mut members = BTreeSet::new();
        for item in list.split(", ") {
            let name = item.strip_prefix('"')?.strip_suffix('"')?;
            members.insert(name.replace("\"\"", "\""));
        }
        Some(SyncSet { k, members })
    }

    /// Whether this record covers what PostgreSQL at `pg` may acknowledge (module doc).
    pub fn covers(&self, pg: &SyncSet) -> bool {
        self.k == 0 || pg.k >= self.k + pg.members.difference(&self.members).count()
    }

    /// How many members an election needs to have heard from: n-k+1, at least one
    /// (strict's k above n: no commit was acknowledged since every member flushed); more
    /// than there are when k = 0: nothing can be proven.
    pub fn quorum(&self) -> usize {
        let n = self.members.len();
        match self.k {
            0 => n + 1,
            k => (n + 1).saturating_sub(k).max(1),
        }
    }
}

/// Whether commits wait for standbys with this `synchronous_commit` (as `SHOW` or
/// `postgres -C` print it): with `off` or `local` no list makes them wait, so managing one
/// would promise what it cannot keep.
pub fn commits_wait_for_standbys(synchronous_commit: &str) -> bool {
    matches!(
        synchronous_commit.trim(),
        "on" | "remote_write" | "remote_apply"
    )
}

/// The CIB record: the set, for a timeline. `since`: written by a new primary whose other
/// members had not yet received all it held at its promotion; a standby holds what this
/// record promises only once it is at least there (it then has all the primary held, and
/// what came after is on k members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    pub timeline: u32,
    pub set: SyncSet,
    /// The primary that wrote it: every commit of `timeline` it acknowledged is in its own
    /// WAL, so it needs no proof to be promoted again on that timeline.
    pub primary: String,
    pub since: Option<WalPosition>,
}

impl SyncRecord {
    /// `<timeline>:<k>:<member>,<member>:<primary>[:<since timeline>#<since lsn>]` (node
    /// names hold neither ':' nor ',').
    pub fn render(&self) -> String {
        let members: Vec<&str> = self.set.members.iter().map(String::as_str).collect();
        let since = self
            .since
            .map_or_else(String::new, |p| format!(":{}", p.to_attribute()));
        format!(
            "{}:{}:{}:{}{since}",
            self.timeline,
            self.set.k,
            members.join(","),
            self.primary
        )
    }

    /// Whether `candidate` at `mine` may be promoted (`prove`). The record's own primary
    /// holds every commit it acknowledged on the record's timeline: the candidate needs no
    /// more proof when it is that primary, still on that timeline (say, demoted when its
    /// partition lost quorum), or when that primary, stopped since (a switchover), published
    /// its final position and the candidate is at least there. In both cases no member may
    /// be ahead of it.
    pub fn proves(
        &self,
        candidate: &str,
        mine: WalPosition,
        positions: &BTreeMap<String, Published>,
    ) -> Proof {
        let primary_reached = match positions.get(&self.primary) {
            _ if candidate == self.primary => mine.timeline == self.timeline,
            Some(Published::Known(p)) => p.timeline == self.timeline && mine >= *p,
            _ => false,
        };
        if primary_reached {
            return match most_advanced_ahead(&self.set.members, mine, positions) {
                Some((node, position)) => Proof::Behind { node, position },
                None => Proof::Holds,
            };
        }
        prove(&self.set, self.since, mine, positions)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().splitn(5, ':');
        let timeline = parts.next()?.parse().ok()?;
        let k = parts.next()?.parse().ok()?;
        let members = parts
            .next()?
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        let primary = parts.next()?.to_string();
        let since = match parts.next() {
            None => None,
            Some(p) => Some(WalPosition::from_attribute(p)?),
        };
        Some(SyncRecord {
            timeline,
            set: SyncSet { k, members },
            primary,
            since,
        })
    }
}

/// The standbys that may be members: of this partition (not the primary itself), in state
/// `streaming` (caught up: `catchup` or `startup` are still behind), and within `maxlag`
/// when it is set.
pub fn eligible(
    local: &str,
    partition: &BTreeSet<String>,
    walsenders: &[ReplicationRow],
    maxlag: u64,
) -> BTreeSet<String> {
    walsenders
        .iter()
        .filter(|w| w.application_name != local && partition.contains(&w.application_name))
        .filter(|w| w.state == "streaming")
        .filter(|w| maxlag == 0 || w.lag.is_some_and(|l| l <= maxlag))
        .map(|w| w.application_name.clone())
        .collect()
}

/// Right after this primary's promotion (`just_promoted`: within the score policy's
/// `CONNECT_GRACE`), the recorded members of the partition that do not stream yet are
/// still counted: they are reconnecting to the new primary, and dropping them would let it
/// acknowledge writes without any standby.
pub fn with_reconnecting(
    eligible: &BTreeSet<String>,
    recorded: &SyncSet,
    partition: &BTreeSet<String>,
    local: &str,
    just_promoted: bool,
) -> BTreeSet<String> {
    let mut members = eligible.clone();
    if just_promoted {
        members.extend(
            recorded
                .members
                .iter()
                .filter(|m| m.as_str() != local && partition.contains(*m))
                .cloned(),
        );
    }
    members
}

/// What PostgreSQL should wait for. `on`: every eligible standby, k = min(sync_count, n);
/// none left: empty. `strict`: k = sync_count always; with fewer eligible standbys than
/// that, the recorded members are kept beside them, so writes wait for them to come back;
/// with no standby ever known there is nobody to wait for, and the value stays empty.
pub fn target(
    mode: SyncMode,
    sync_count: usize,
    eligible: &BTreeSet<String>,
    recorded: &SyncSet,
) -> SyncSet {
    match mode {
        SyncMode::Off => SyncSet::default(),
        SyncMode::On => SyncSet {
            k: sync_count.min(eligible.len()),
            members: eligible.clone(),
        },
        SyncMode::Strict if eligible.len() >= sync_count => SyncSet {
            k: sync_count,
            members: eligible.clone(),
        },
        SyncMode::Strict => {
            let members: BTreeSet<String> = eligible.union(&recorded.members).cloned().collect();
            SyncSet {
                k: if members.is_empty() { 0 } else { sync_count },
                members,
            }
        }
    }
}

/// The next thing the primary does to move from (record, PostgreSQL) to `target`, one
/// step per call so that each is confirmed before the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Everything agrees.
    Settled,
    /// Widen the record first: it must cover both PostgreSQL's current value and the
    /// target before PostgreSQL changes.
    Record(SyncSet),
    /// Set `synchronous_standby_names` to the target (the record covers it).
    Apply(SyncSet),
    /// PostgreSQL has the target; record it (narrower, or stricter) once every member has
    /// flushed past the WAL position PostgreSQL was at when the value took effect.
    RecordWhenFlushed(SyncSet),
}

/// `pg` is `None` when PostgreSQL's value is not one the agent wrote: only a record that
/// proves nothing (k = 0) covers it.
pub fn next_step(record: &SyncSet, pg: Option<&SyncSet>, target: &SyncSet) -> Step {
    if pg == Some(target) {
        return if record == target {
            Step::Settled
        } else {
            Step::RecordWhenFlushed(target.clone())
        };
    }
    let covers_pg = pg.map_or(record.k == 0, |p| record.covers(p));
    if covers_pg && record.covers(target) {
        return Step::Apply(target.clone());
    }
    Step::Record(SyncSet {
        k: if pg.is_some() {
            record.k.min(target.k)
        } else {
            0
        },
        members: record.members.union(&target.members).cloned().collect(),
    })
}

/// What a new primary starts with, from the record it was elected on (`former`): PostgreSQL
/// waits for the former record's other members (k as the mode gives for them; the next
/// monitor drops, in `on`, those that do not stream), and the record names them with that
/// k. Unless each of them had already flushed as far as this node at the election, the
/// record holds `since` (see `SyncRecord`): a commit this node alone acknowledged before
/// is on them only once they are past its promotion.
pub fn promoted_start(mode: SyncMode, sync_count: usize, former: &SyncSet, local: &str) -> SyncSet {
    let members: BTreeSet<String> = former
        .members
        .iter()
        .filter(|m| m.as_str() != local)
        .cloned()
        .collect();
    target(mode, sync_count, &members, &SyncSet::default())
}

/// Whether every one of `members` but `local` published a position at least `mine`.
pub fn all_at_least(
    members: &BTreeSet<String>,
    local: &str,
    positions: &BTreeMap<String, Published>,
    mine: WalPosition,
) -> bool {
    members
        .iter()
        .filter(|m| m.as_str() != local)
        .all(|m| matches!(positions.get(m), Some(Published::Known(p)) if *p >= mine))
}

/// Whether every member has flushed past `position` (the primary's WAL position when the
/// new value took effect).
pub fn all_flushed(
    members: &BTreeSet<String>,
    flushed: &BTreeMap<String, Lsn>,
    position: Lsn,
) -> bool {
    members
        .iter()
        .all(|m| flushed.get(m).is_some_and(|f| *f >= position))
}

/// The most advanced of `members` that published a position beyond `mine` (ties: the
/// lowest name).
fn most_advanced_ahead(
    members: &BTreeSet<String>,
    mine: WalPosition,
    positions: &BTreeMap<String, Published>,
) -> Option<(String, WalPosition)> {
    members
        .iter()
        .filter_map(|m| match positions.get(m) {
            Some(Published::Known(p)) if *p > mine => Some((m, *p)),
            _ => None,
        })
        .max_by(|(na, a), (nb, b)| a.cmp(b).then_with(|| nb.cmp(na)))
        .map(|(n, p)| (n.clone(), p))
}

/// Whether the promotion of a standby at `mine` is proven safe by `record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    Holds,
    /// Too few recorded members published a position: `need` of them are needed, these
    /// did not.
    TooFewMembers {
        need: usize,
        missing: Vec<String>,
    },
    /// A member that published is further ahead.
    Behind {
        node: String,
        position: WalPosition,
    },
    /// The record holds only from `since` on, and the candidate is not there.
    NotPast {
        since: WalPosition,
    },
}

/// With ANY k of n recorded members, a commit acknowledged to a client is on k of them;
/// every n-k+1 of them include one of those. So a standby (member or not) holds every
/// acknowledged commit when it is at least as far as the most advanced of n-k+1 members
/// whose positions are known, and, with `since`, at least there. `positions` holds what
/// the members published (the candidate's own entry, if it is a member, included).
pub fn prove(
    record: &SyncSet,
    since: Option<WalPosition>,
    mine: WalPosition,
    positions: &BTreeMap<String, Published>,
) -> Proof {
    let known: Vec<(&String, WalPosition)> = record
        .members
        .iter()
        .filter_map(|m| match positions.get(m) {
            Some(Published::Known(p)) => Some((m, *p)),
            _ => None,
        })
        .collect();
    let need = record.quorum();
    if known.len() < need {
        let missing = record
            .members
            .iter()
            .filter(|m| !known.iter().any(|(n, _)| n == m))
            .cloned()
            .collect();
        return Proof::TooFewMembers { need, missing };
    }
    match most_advanced_ahead(&record.members, mine, positions) {
        Some((node, position)) => Proof::Behind { node, position },
        None => match since {
            Some(since) if mine < since => Proof::NotPast { since },
            _ => Proof::Holds,
        },
    }
}

/// A record of `set` on timeline 1 written by primary n0, for the tests of the election
/// and headless recovery.
#[cfg(test)]
pub mod test_support {
    use super::*;

    pub fn rec(set: SyncSet) -> SyncRecord {
        SyncRecord {
            timeline: 1,
            set,
            primary: "n0".into(),
            since: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::election::test_support::pos;

    const NAMES: [&str; 4] = ["a", "b", "c", "d"];

    /// Every subset of the first `n` names.
    fn subsets(n: usize) -> Vec<BTreeSet<String>> {
        (0..1u32 << n)
            .map(|bits| {
                (0..n)
                    .filter(|i| bits & (1 << i) != 0)
                    .map(|i| NAMES[i].to_string())
                    .collect()
            })
            .collect()
    }

    /// Every set of up to 4 members with k from 0 to n.
    fn every_set() -> Vec<SyncSet> {
        subsets(4)
            .into_iter()
            .flat_map(|m| {
                (0..=m.len()).map(move |k| SyncSet {
                    k,
                    members: m.clone(),
                })
            })
            .collect()
    }

    /// `covers` by brute force: no k-subset of PostgreSQL's members that can acknowledge
    /// avoids some quorum-sized subset of the recorded members.
    fn covers_by_enumeration(record: &SyncSet, pg: &SyncSet) -> bool {
        if record.k == 0 {
            return true; // proves nothing, so can promise nothing wrong
        }
        if pg.k == 0 || pg.members.is_empty() {
            return false; // the primary alone acknowledges
        }
        let all: BTreeSet<String> = pg.members.union(&record.members).cloned().collect();
        let universe: Vec<String> = all.into_iter().collect();
        let subsets_of = |set: &BTreeSet<String>, size: usize| -> Vec<BTreeSet<String>> {
            (0..1u32 << universe.len())
                .map(|bits| {
                    (0..universe.len())
                        .filter(|i| bits & (1 << i) != 0)
                        .map(|i| universe[i].clone())
                        .collect::<BTreeSet<String>>()
                })
                .filter(|s| s.len() == size && s.is_subset(set))
                .collect()
        };
        let need = record.members.len() + 1 - record.k;
        subsets_of(&pg.members, pg.k).iter().all(|ack| {
            subsets_of(&record.members, need)
                .iter()
                .all(|quorum| !ack.is_disjoint(quorum))
        })
    }

    #[test]
    fn covers_agrees_with_enumeration() {
        for r in every_set() {
            for p in every_set() {
                assert_eq!(r.covers(&p), covers_by_enumeration(&r, &p), "{r:?} {p:?}");
            }
        }
    }

    #[test]
    fn setting_round_trips_and_is_empty_without_members() {
        for s in every_set() {
            let v = s.setting();
            let back = SyncSet::parse_setting(&v).unwrap();
            if s.k == 0 || s.members.is_empty() {
                assert_eq!(v, "");
                assert_eq!(back, SyncSet::default());
            } else {
                assert_eq!(back, s, "{v}");
            }
        }
        assert_eq!(
            SyncSet::new(1, &["node-2", "n\"3"]).setting(),
            r#"ANY 1 ("n""3", "node-2")"#
        );
        assert_eq!(
            SyncSet::parse_setting(r#"ANY 1 ("n""3", "node-2")"#),
            Some(SyncSet::new(1, &["node-2", "n\"3"]))
        );
        for foreign in ["FIRST 1 (a)", "*", "a, b", "ANY 0 (\"a\")", "ANY 1 (a)"] {
            assert_eq!(SyncSet::parse_setting(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn only_commits_that_wait_for_standbys_can_be_managed() {
        for v in ["on", "remote_write", "remote_apply"] {
            assert!(commits_wait_for_standbys(v), "{v}");
        }
        for v in ["off", "local", ""] {
            assert!(!commits_wait_for_standbys(v), "{v}");
        }
    }

    #[test]
    fn record_round_trips() {
        for s in every_set() {
            for since in [None, Some(pos(7, 0x3000060))] {
                let r = SyncRecord {
                    timeline: 7,
                    set: s.clone(),
                    primary: "p".into(),
                    since,
                };
                assert_eq!(SyncRecord::parse(&r.render()), Some(r.clone()));
            }
        }
        assert_eq!(
            SyncRecord::parse("2:1:a:p:2#100").map(|r| r.render()),
            Some("2:1:a:p:2#100".to_string())
        );
        assert_eq!(SyncRecord::parse("2:1:a:p:junk"), None);
        assert_eq!(SyncRecord::parse("2:1:a"), None);
    }

    #[test]
    fn the_records_own_primary_needs_no_proof_on_its_timeline() {
        let p = |l: &[(&str, WalPosition)]| -> BTreeMap<String, Published> {
            l.iter()
                .map(|(n, x)| (n.to_string(), Published::Known(*x)))
                .collect()
        };
        // a primary that recorded no member (writes went unprotected), demoted since
        let r = SyncRecord {
            timeline: 4,
            set: SyncSet::default(),
            primary: "n3".into(),
            since: None,
        };
        assert_eq!(r.proves("n3", pos(4, 90), &p(&[])), Proof::Holds);
        // anybody else: nothing provable
        assert!(matches!(
            r.proves("n1", pos(4, 90), &p(&[])),
            Proof::TooFewMembers { .. }
        ));
        // rebuilt onto another timeline since: no longer the writer of this one
        assert!(matches!(
            r.proves("n3", pos(5, 10), &p(&[])),
            Proof::TooFewMembers { .. }
        ));
        // a member ahead of it (cannot happen on one timeline, but never promote behind)
        let r = SyncRecord {
            set: SyncSet::new(1, &["n1"]),
            ..r
        };
        assert_eq!(
            r.proves("n3", pos(4, 90), &p(&[("n1", pos(4, 95))])),
            Proof::Behind {
                node: "n1".into(),
                position: pos(4, 95)
            }
        );
        assert_eq!(
            r.proves("n3", pos(4, 90), &p(&[("n1", pos(4, 80))])),
            Proof::Holds
        );
        assert_eq!(SyncRecord::parse("x:1:a"), None);
    }

    #[test]
    fn a_standby_as_far_as_the_stopped_primary_needs_no_members() {
        let p = |l: &[(&str, WalPosition)]| -> BTreeMap<String, Published> {
            l.iter()
                .map(|(n, x)| (n.to_string(), Published::Known(*x)))
                .collect()
        };
        // a switchover with member c down: the old primary a published its final position
        let r = SyncRecord {
            timeline: 2,
            set: SyncSet::new(1, &["b", "c"]),
            primary: "a".into(),
            since: None,
        };
        assert_eq!(
            r.proves("b", pos(2, 100), &p(&[("a", pos(2, 100))])),
            Proof::Holds
        );
        // b short of it, or the primary's position from another timeline: the members'
        // proof applies, and c is missing
        for a in [pos(2, 101), pos(1, 50)] {
            assert!(matches!(
                r.proves("b", pos(2, 100), &p(&[("a", a)])),
                Proof::TooFewMembers { .. }
            ));
        }
    }

    #[test]
    fn eligible_standbys_stream_within_maxlag_in_the_partition() {
        let partition: BTreeSet<String> = ["n1", "n2", "n3", "n4"].map(String::from).into();
        let w = |name: &str, state: &str, lag| ReplicationRow {
            application_name: name.into(),
            state: state.into(),
            write_lsn: None,
            lag,
        };
        let rows = [
            w("n1", "streaming", Some(0)),   // the primary itself
            w("n2", "streaming", Some(10)),  // member
            w("n3", "catchup", Some(0)),     // not caught up yet
            w("n4", "streaming", Some(500)), // beyond maxlag 100
            w("x9", "streaming", Some(0)),   // not of this partition
        ];
        assert_eq!(
            eligible("n1", &partition, &rows, 100),
            ["n2".to_string()].into()
        );
        assert_eq!(
            eligible("n1", &partition, &rows, 0),
            ["n2".to_string(), "n4".to_string()].into()
        );
    }

    #[test]
    fn a_new_primary_keeps_waiting_for_reconnecting_members() {
        let set = |l: &[&str]| -> BTreeSet<String> { l.iter().map(|s| s.to_string()).collect() };
        let recorded = SyncSet::new(1, &["b", "c", "gone"]);
        let partition = set(&["a", "b", "c"]);
        assert_eq!(
            with_reconnecting(&set(&["b"]), &recorded, &partition, "a", true),
            set(&["b", "c"])
        );
        assert_eq!(
            with_reconnecting(&set(&["b"]), &recorded, &partition, "a", false),
            set(&["b"])
        );
    }

    #[test]
    fn target_on_and_strict_for_every_small_case() {
        for sync_count in 1..=4 {
            for e in subsets(4) {
                for recorded in every_set() {
                    let on = target(SyncMode::On, sync_count, &e, &recorded.clone());
                    assert_eq!(on.members, e);
                    assert_eq!(on.k, sync_count.min(e.len()));
                    if e.is_empty() {
                        assert_eq!(on.setting(), "");
                    }
                    let strict = target(SyncMode::Strict, sync_count, &e, &recorded);
                    // k never drops below sync_count (unless nobody is known at all);
                    // the eligible are always members
                    let nobody = e.is_empty() && recorded.members.is_empty();
                    assert_eq!(strict.k, if nobody { 0 } else { sync_count });
                    assert!(strict.members.is_superset(&e));
                    if e.len() >= sync_count {
                        assert_eq!(strict.members, e);
                    } else {
                        assert!(strict.members.is_superset(&recorded.members));
                    }
                    assert_eq!(
                        target(SyncMode::Off, sync_count, &e, &recorded),
                        SyncSet::default()
                    );
                }
            }
        }
    }

    /// From every (record, PostgreSQL) state the record covers, to every target: each step
    /// keeps the record covering PostgreSQL, a widening record is written before
    /// PostgreSQL changes, and it settles within three steps.
    #[test]
    fn steps_keep_the_record_covering_postgresql_for_every_small_case() {
        let sets = every_set();
        // strict's targets may ask for more standbys than they name
        let targets: Vec<SyncSet> = sets
            .iter()
            .cloned()
            .chain(
                subsets(3)
                    .into_iter()
                    .filter(|m| !m.is_empty())
                    .map(|members| SyncSet {
                        k: members.len() + 1,
                        members,
                    }),
            )
            .collect();
        let pgs: Vec<Option<SyncSet>> = sets.iter().cloned().map(Some).chain([None]).collect();
        for record in &sets {
            for pg in &pgs {
                if pg.as_ref().is_some_and(|p| !record.covers(p)) {
                    continue;
                }
                if pg.is_none() && record.k > 0 {
                    continue; // the agent's record never vouches for a foreign value
                }
                for t in &targets {
                    let (mut r, mut p) = (record.clone(), pg.clone());
                    let mut settled = false;
                    for _ in 0..3 {
                        match next_step(&r, p.as_ref(), t) {
                            Step::Settled => {
                                settled = true;
                                break;
                            }
                            Step::Record(new) => {
                                assert!(
                                    p.as_ref().map_or(new.k == 0, |p| new.covers(p))
                                        && new.covers(t),
                                    "{record:?} {pg:?} -> {t:?}: record {new:?} vs pg {p:?}"
                                );
                                assert_ne!(new, r, "a step must change something");
                                r = new;
                            }
                            Step::Apply(new) => {
                                assert!(
                                    r.covers(&new),
                                    "{record:?} {pg:?} -> {t:?}: {r:?} vs {new:?}"
                                );
                                p = Some(new);
                            }
                            // the members flushed: what PostgreSQL acknowledged before is
                            // on all of them, so the target alone describes the rest
                            Step::RecordWhenFlushed(new) => {
                                assert_eq!(Some(&new), p.as_ref());
                                r = new;
                            }
                        }
                    }
                    assert!(
                        settled || next_step(&r, p.as_ref(), t) == Step::Settled,
                        "{record:?} {pg:?} -> {t:?} not settled: {r:?} {p:?}"
                    );
                    assert_eq!((&r, p.as_ref()), (t, Some(t)));
                }
            }
        }
    }

    #[test]
    fn adding_records_first_removing_applies_first() {
        let one = SyncSet::new(1, &["a"]);
        let two = SyncSet::new(1, &["a", "b"]);
        assert_eq!(next_step(&one, Some(&one), &two), Step::Record(two.clone()));
        assert_eq!(next_step(&two, Some(&one), &two), Step::Apply(two.clone()));
        assert_eq!(next_step(&two, Some(&two), &one), Step::Apply(one.clone()));
        assert_eq!(
            next_step(&two, Some(&one), &one),
            Step::RecordWhenFlushed(one.clone())
        );
    }

    #[test]
    fn a_new_primary_waits_for_the_former_members_and_records_them_once_caught_up() {
        let former = SyncSet::new(1, &["a", "b", "c"]);
        for mode in [SyncMode::On, SyncMode::Strict] {
            let t = promoted_start(mode, 1, &former, "a");
            assert_eq!(t, SyncSet::new(1, &["b", "c"]));
        }
        // sync_count above the others: on lowers k, strict keeps it
        assert_eq!(promoted_start(SyncMode::On, 3, &former, "a").k, 2);
        assert_eq!(promoted_start(SyncMode::Strict, 3, &former, "a").k, 3);
        // no other member: nothing to wait for
        let t = promoted_start(SyncMode::Strict, 1, &SyncSet::new(1, &["a"]), "a");
        assert_eq!(t.setting(), "");
    }

    #[test]
    fn caught_up_means_every_other_member_published_at_least_as_far() {
        let members: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        let p = |l: &[(&str, u64)]| -> BTreeMap<String, Published> {
            l.iter()
                .map(|(n, x)| (n.to_string(), Published::Known(pos(1, *x))))
                .collect()
        };
        assert!(all_at_least(
            &members,
            "a",
            &p(&[("b", 5), ("c", 6)]),
            pos(1, 5)
        ));
        assert!(!all_at_least(
            &members,
            "a",
            &p(&[("b", 5), ("c", 4)]),
            pos(1, 5)
        ));
        assert!(!all_at_least(&members, "a", &p(&[("b", 5)]), pos(1, 5)));
    }

    #[test]
    fn narrowing_waits_for_every_member_to_flush() {
        let members: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let flushed: BTreeMap<String, Lsn> =
            [("a".to_string(), Lsn(100)), ("b".to_string(), Lsn(90))].into();
        assert!(all_flushed(&members, &flushed, Lsn(90)));
        assert!(!all_flushed(&members, &flushed, Lsn(95)));
        assert!(!all_flushed(&["c".to_string()].into(), &flushed, Lsn(0)));
        assert!(all_flushed(&BTreeSet::new(), &flushed, Lsn(u64::MAX)));
    }

    /// Soundness over every record of up to 4 members, every set of members that
    /// published, every position of each member (published or not) and of the candidate
    /// (a member or not): when the proof holds, the candidate holds every commit that k
    /// members acknowledged. And a refusal for too few members is never needless: the
    /// silent members could hold a commit the candidate lacks.
    #[test]
    fn the_promotion_proof_is_sound_and_tight_for_every_small_case() {
        const LEVELS: u64 = 3;
        // strict's records may ask for one more standby than they name
        let records = every_set()
            .into_iter()
            .chain(subsets(3).into_iter().map(|members| SyncSet {
                k: members.len() + 1,
                members,
            }));
        for record in records {
            let members: Vec<String> = record.members.iter().cloned().collect();
            let n = members.len();
            for bits in 0..1u32 << n {
                let present: BTreeSet<&String> = (0..n)
                    .filter(|i| bits & (1 << i) != 0)
                    .map(|i| &members[i])
                    .collect();
                for assign in 0..LEVELS.pow(n as u32) {
                    let at: Vec<u64> = (0..n)
                        .map(|i| 1 + assign / LEVELS.pow(i as u32) % LEVELS)
                        .collect();
                    let positions: BTreeMap<String, Published> = members
                        .iter()
                        .zip(&at)
                        .filter(|(m, _)| present.contains(m))
                        .map(|(m, l)| (m.clone(), Published::Known(pos(1, *l))))
                        .collect();
                    for (mine, since) in
                        (1..=LEVELS).flat_map(|m| [(m, None), (m, Some(pos(1, 2)))])
                    {
                        let proof = prove(&record, since, pos(1, mine), &positions);
                        // the furthest commit k members hold
                        let mut sorted = at.clone();
                        sorted.sort_unstable_by(|a, b| b.cmp(a));
                        let acked = match record.k {
                            0 => u64::MAX, // anything: the primary alone acknowledged
                            // k above n: recorded once all flushed, nothing acknowledged
                            // since: every member holds it all
                            k if k > n => sorted.last().copied().unwrap_or(u64::MAX),
                            k => sorted[k - 1],
                        };
                        if proof == Proof::Holds {
                            assert!(mine >= acked, "{record:?} {positions:?} mine={mine}");
                            // past the new primary's promotion: holds all it held then
                            assert!(since.is_none_or(|s| pos(1, mine) >= s));
                        }
                        if let Proof::NotPast { since: s } = proof {
                            assert!(pos(1, mine) < s);
                        }
                        if let Proof::TooFewMembers { need, missing } = &proof {
                            assert!(present.len() < *need);
                            assert_eq!(missing.len(), n - present.len());
                            // the silent ones, all ahead, make a commit the candidate lacks
                            let silent = n - present.len();
                            assert!(record.k == 0 || n == 0 || silent >= record.k.min(n));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_most_advanced_member_wins_and_missing_members_are_named() {
        let record = SyncSet::new(1, &["a", "b", "c"]);
        let p = |l: &[(&str, u64)]| -> BTreeMap<String, Published> {
            l.iter()
                .map(|(n, x)| (n.to_string(), Published::Known(pos(1, *x))))
                .collect()
        };
        // ANY 1 of 3: all three must be heard from
        assert_eq!(
            prove(&record, None, pos(1, 9), &p(&[("a", 9), ("b", 5)])),
            Proof::TooFewMembers {
                need: 3,
                missing: vec!["c".into()]
            }
        );
        assert_eq!(
            prove(
                &record,
                None,
                pos(1, 5),
                &p(&[("a", 9), ("b", 5), ("c", 1)])
            ),
            Proof::Behind {
                node: "a".into(),
                position: pos(1, 9)
            }
        );
        assert_eq!(
            prove(
                &record,
                None,
                pos(1, 9),
                &p(&[("a", 9), ("b", 5), ("c", 1)])
            ),
            Proof::Holds
        );
        // ANY 2 of 3: two suffice
        let record = SyncSet::new(2, &["a", "b", "c"]);
        assert_eq!(
            prove(&record, None, pos(1, 9), &p(&[("a", 9), ("b", 5)])),
            Proof::Holds
        );
        // a new primary's record: only a standby past its promotion holds it all
        let since = Some(pos(2, 50));
        assert_eq!(
            prove(&record, since, pos(1, 9), &p(&[("a", 9), ("b", 5)])),
            Proof::NotPast { since: pos(2, 50) }
        );
        let two = |l: &[(&str, u64)]| -> BTreeMap<String, Published> {
            l.iter()
                .map(|(n, x)| (n.to_string(), Published::Known(pos(2, *x))))
                .collect()
        };
        assert_eq!(
            prove(&record, since, pos(2, 60), &two(&[("a", 60), ("b", 55)])),
            Proof::Holds
        );
        // an empty record (writes went unprotected) proves nothing
        assert!(matches!(
            prove(&SyncSet::default(), None, pos(1, 9), &p(&[])),
            Proof::TooFewMembers { need: 1, .. }
        ));
    }
}
