//! `promote`: promotes the local standby, unless the pre-promote round cancelled a
//! switchover or another candidate holds more WAL, in which case the promotion is handed
//! to it.

use crate::agent::statefile::{self, PrimaryMemory};
use crate::agent::sync_standbys;
use crate::agent::timeline_claim;
use crate::agent::Agent;
use crate::logic::election::{
    self, Published, Verdict, CANCEL_SWITCHOVER, CANDIDATES, LSN_LOCATION, SWITCHOVER_UNSAFE,
};
use crate::logic::history::{self, Outcome, Trace, PROMOTIONS};
use crate::logic::lsn::WalPosition;
use crate::logic::replication_view::{PublishedView, REPLICATION_VIEW};
use crate::logic::sync::{self, Proof, SyncRecord, SyncSet};
use crate::logic::transitions::{promote_step, PromoteStep};
use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::ocf::log::brief;
use crate::ocf::{remedy, OcfCode, OcfError, OcfResult};
use crate::pacemaker::Pacemaker;
use crate::postgres::sql::Db;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Time kept for pg_promote itself out of the promote timeout.
const PROMOTE_RESERVE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

pub fn promote(a: &Agent) -> OcfResult<OcfCode> {
    a.meta.check_clone_settings()?;
    a.instance.check_identity_and_programs()?;
    let mut probe = a.instance.settled(a.deadline)?;
    match promote_step(&probe.state) {
        PromoteStep::AlreadyPrimary => {
            log::info!("instance already running as a primary");
            return Ok(OcfCode::Success);
        }
        PromoteStep::Promote => {}
        PromoteStep::StartThenPromote => {
            a.instance.start_standby(a.deadline)?;
            probe = a.instance.probe()?;
        }
        PromoteStep::Refuse(e) => return Err(e),
    }
    let db = probe.db.ok_or_else(|| {
        OcfError::generic("cannot promote: the standby does not answer")
            .with_remedy(remedy!("see the server log"))
    })?;
    let mut trace = Trace::default();
    let result = promote_standby(a, &db, &mut trace);
    if let Err(e) = &result {
        if trace.decision.is_none() {
            trace.decision = Some((Outcome::Failed, None, e.problem.clone()));
        }
    }
    record_promotion(a, &trace);
    result
}

/// The switchover check, the election (with the synchronous proof when replication is
/// managed) and pg_promote, each timed for the record.
fn promote_standby(a: &Agent, db: &Db, trace: &mut Trace) -> OcfResult<OcfCode> {
    let step = Instant::now();
    let checked = check_switchover(a.pacemaker(), a.node());
    trace.step("switchover check", step);
    if let Err(e) = checked {
        trace.decision = Some((Outcome::Cancelled, None, e.problem.clone()));
        return Err(e);
    }
    // with managed synchronous replication, the record the election must satisfy; none
    // when the agent never wrote one (never managed yet: nothing was promised)
    let record = if a.params.sync_mode.is_managed() {
        sync_standbys::read_record(a.pacemaker()).map_err(|e| {
            OcfError::generic(format!("cannot read the synchronous record: {}", brief(e)))
                .with_remedy(remedy!("check that Pacemaker runs; Pacemaker retries"))
        })?
    } else {
        None
    };
    let step = Instant::now();
    let elected = elect(
        a.pacemaker(),
        a.node(),
        || own_position(a, db),
        record.as_ref(),
        a.deadline,
        trace,
    );
    trace.step("election", step);
    let mine = elected?;
    if let Some(r) = &record {
        sync_standbys::before_promotion(a, db, &r.set).map_err(|e| {
            OcfError::generic(format!(
                "cannot set synchronous_standby_names: {}",
                brief(e)
            ))
            .with_remedy(remedy!("see the server log"))
        })?;
    }
    let step = Instant::now();
    timeline_claim::reserve_and_claim(a, db);
    trace.step("timeline claim", step);
    log::info!("promoting the instance");
    let step = Instant::now();
    let done = db.promote(a.deadline);
    trace.step("pg_promote", step);
    let done = done.map_err(|e| {
        OcfError::generic(format!("pg_promote failed: {}", brief(e)))
            .with_remedy(remedy!("see the server log"))
    })?;
    if !done {
        return Err(
            OcfError::generic("the promotion did not finish within the promote timeout")
                .with_remedy(remedy!(
                    "see the server log; raise the promote timeout if it is slow"
                )),
        );
    }
    if let Some(r) = &record {
        let caught_up = mine.is_some_and(|mine| {
            former_members_caught_up(a.pacemaker(), a.node(), mine, &r.set).unwrap_or(false)
        });
        sync_standbys::after_promotion(a, db, &r.set, caught_up).map_err(|e| {
            OcfError::generic(format!(
                "promoted, but the record is not written: {}",
                brief(e)
            ))
            .with_remedy(remedy!("check quorum and the CIB; Pacemaker recovers"))
        })?;
    }
    log::info!("promotion complete");
    claim_primary_score(a.pacemaker(), a.node());
    start_primary_memory(a);
    Ok(OcfCode::Success)
}

/// Fails the promotion when the pre-promote round found the switchover unsafe.
fn check_switchover(attrs: &dyn Pacemaker, local: &str) -> OcfResult<()> {
    let Some(cancel) = attrs.private(CANCEL_SWITCHOVER, local)? else {
        return Ok(());
    };
    let _ = attrs.delete_private_all(&[CANCEL_SWITCHOVER]);
    let (code, why, detail) = match cancel.as_str() {
        SWITCHOVER_UNSAFE => (
            OcfCode::ErrGeneric,
            "standby lacks the shutdown checkpoint",
            "this standby did not receive the old primary's shutdown checkpoint, so it may miss transactions the old primary committed",
        ),
        _ => (
            OcfCode::ErrArgs,
            "the shutdown checkpoint check failed",
            "the check that this standby received the old primary's shutdown checkpoint could not run (see the pre-promote log lines)",
        ),
    };
    Err(OcfError::new(code, format!("switchover cancelled: {why}"))
        .with_remedy(remedy!(
            "restart the old primary (it has all data) or pick another standby"
        ))
        .with_detail(detail))
}

/// This standby's position, as published in its pre-promote notification or, when no
/// notification came (a manual promote), read now.
fn own_position(a: &Agent, db: &Db) -> OcfResult<WalPosition> {
    if let Some(Published::Known(p)) = a
        .pacemaker()
        .private(LSN_LOCATION, a.node())?
        .map(|v| Published::parse(Some(&v)))
    {
        return Ok(p);
    }
    db.standby_position().map_err(|e| {
        OcfError::generic(format!(
            "cannot read this standby's WAL position: {}",
            brief(e)
        ))
        .with_remedy(remedy!("see the server log"))
    })
}

/// Goes ahead only when this node is the most advanced of the candidates the pre-promote
/// round named (waiting for their positions until shortly before the deadline); hands the
/// promotion over to a more advanced one. With a synchronous replication record, also only
/// when enough recorded members published to prove this node holds every acknowledged
/// commit (`sync::prove`).
fn elect(
    attrs: &dyn Pacemaker,
    local: &str,
    own_position: impl FnOnce() -> OcfResult<WalPosition>,
    record: Option<&SyncRecord>,
    deadline: Deadline,
    trace: &mut Trace,
) -> OcfResult<Option<WalPosition>> {
    let candidates: BTreeSet<String> = match attrs.private(CANDIDATES, local)? {
        Some(list) => list.split_whitespace().map(str::to_string).collect(),
        None if record.is_none() => {
            log::warning!("no candidate list from a pre-promote notification (manual promote?): promoting without an election");
            trace.decision = Some((
                Outcome::Promoted,
                Some(local.to_string()),
                "no election: promoted without a pre-promote notification".into(),
            ));
            return Ok(None);
        }
        // the proof needs the members' positions, which only the round publishes
        None => BTreeSet::new(),
    };
    let mine = own_position()?;
    trace.mine = Some(mine);
    let wait = deadline.capped(deadline.remaining().saturating_sub(PROMOTE_RESERVE));
    loop {
        let others: BTreeMap<String, Published> = candidates
            .iter()
            .filter(|n| n.as_str() != local)
            .map(|n| {
                Ok((
                    n.clone(),
                    Published::parse(attrs.private(LSN_LOCATION, n)?.as_deref()),
                ))
            })
            .collect::<OcfResult<_>>()?;
        trace.published = others.clone();
        match election::decide(mine, &others) {
            Verdict::Promote => {
                if let Some(record) = record {
                    if let Err(e) = prove(attrs, local, mine, record) {
                        trace.decision = Some((Outcome::Cancelled, None, e.problem.clone()));
                        return Err(e);
                    }
                    trace.decision = Some((
                        Outcome::Promoted,
                        Some(local.to_string()),
                        "most advanced of the recorded synchronous members (holds every acknowledged commit)".into(),
                    ));
                } else {
                    log::info!("this node is the most advanced candidate ({mine})");
                    let rule = if others.is_empty() {
                        "only candidate"
                    } else {
                        "most advanced candidate (highest timeline, then LSN; ties keep the promotee)"
                    };
                    trace.decision =
                        Some((Outcome::Promoted, Some(local.to_string()), rule.into()));
                }
                return Ok(Some(mine));
            }
            Verdict::HandOver { node, position } => {
                trace.decision = Some((
                    Outcome::HandedOver,
                    Some(node.clone()),
                    format!("{node} is more advanced ({position}) than the promotee ({mine})"),
                ));
                return hand_over(attrs, local, mine, &node, position).map(|()| None);
            }
            Verdict::Waiting(missing) => {
                if !wait.sleep(POLL) {
                    trace.decision = Some((
                        Outcome::Cancelled,
                        None,
                        format!("no WAL position from {} in time", missing.join(", ")),
                    ));
                    return Err(OcfError::generic(format!(
                        "no WAL position from {} in time",
                        brief(missing.join(", "))
                    ))
                    .with_remedy(remedy!(
                        "Pacemaker retries; if this persists, check those nodes"
                    ))
                    .with_detail("not promoting without knowing whether they are ahead"));
                }
            }
        }
    }
}

/// Writes the promotion's record to every node's copy (see `history`). A failure is only
/// logged: the record is for people, the promotion stands.
fn record_promotion(a: &Agent, trace: &Trace) {
    let attrs = a.pacemaker();
    // one attrd_updater call after the other: the port is not shared between threads
    let views = attrs.private_all(REPLICATION_VIEW);
    let copies = attrs.private_all(PROMOTIONS);
    let views: Vec<PublishedView> = views
        .unwrap_or_default()
        .values()
        .filter_map(|v| PublishedView::parse(v))
        .collect();
    let copies = copies.unwrap_or_default();
    let previous = history::merge(copies.values().map(String::as_str))
        .into_iter()
        .find(|r| r.outcome == Outcome::Promoted);
    let Some(record) = history::record(
        statefile::unix_now(),
        a.node(),
        trace,
        &views,
        previous.as_ref(),
    ) else {
        return;
    };
    let mut nodes: BTreeSet<String> = copies.keys().cloned().collect();
    nodes.extend(record.candidates.iter().map(|c| c.node.clone()));
    let text = history::render_all(&history::with_record(
        copies.values().map(String::as_str),
        record,
    ));
    for node in &nodes {
        if let Err(e) = attrs.change_for(node, PROMOTIONS, true, Some(&text)) {
            log::warning!("promotion record not kept on {node}: {e}");
        }
    }
}

/// Whether every other member of the record published a position at least this node's at
/// the election: they hold whatever it acknowledged (see `sync::promoted_start`).
fn former_members_caught_up(
    attrs: &dyn Pacemaker,
    local: &str,
    mine: WalPosition,
    record: &SyncSet,
) -> OcfResult<bool> {
    let positions = published_positions(attrs, local, mine, record, None)?;
    Ok(sync::all_at_least(&record.members, local, &positions, mine))
}

/// What the record's members published at pre-promote (this node: `mine`), and with
/// `primary`, also what that node published.
fn published_positions(
    attrs: &dyn Pacemaker,
    local: &str,
    mine: WalPosition,
    record: &SyncSet,
    primary: Option<&str>,
) -> OcfResult<BTreeMap<String, Published>> {
    record
        .members
        .iter()
        .map(String::as_str)
        .chain(primary.filter(|p| !p.is_empty()))
        .map(|m| {
            let p = if m == local {
                Published::Known(mine)
            } else {
                Published::parse(attrs.private(LSN_LOCATION, m)?.as_deref())
            };
            Ok((m.to_string(), p))
        })
        .collect()
}

/// Gives the promotion to the more advanced `node`.
fn hand_over(
    attrs: &dyn Pacemaker,
    local: &str,
    mine: WalPosition,
    node: &str,
    position: WalPosition,
) -> OcfResult<()> {
    attrs.set_score(local, crate::logic::scores::FIRST_START)?;
    attrs.set_score(node, crate::logic::scores::BEST_STANDBY)?;
    Err(OcfError::generic(format!(
        "promotion handed over to the more advanced {}",
        brief(node)
    ))
    .with_remedy(remedy!("nothing to do: Pacemaker promotes it next"))
    .with_detail(format!("{node} is at {position}, this node at {mine}")))
}

/// The synchronous replication proof: this node (at `mine`) is at least as far as the
/// most advanced of n-k+1 recorded members.
fn prove(
    attrs: &dyn Pacemaker,
    local: &str,
    mine: WalPosition,
    record: &SyncRecord,
) -> OcfResult<()> {
    let set = &record.set;
    let members = set.members.iter().cloned().collect::<Vec<_>>().join(", ");
    let positions = published_positions(attrs, local, mine, set, Some(&record.primary))?;
    match record.proves(local, mine, &positions) {
        Proof::Holds => {
            log::info!(
                "this node ({mine}) holds every acknowledged commit: it is the most advanced of the recorded synchronous members ANY {} of [{members}]",
                set.k
            );
            Ok(())
        }
        Proof::Behind { node, position } => hand_over(attrs, local, mine, &node, position),
        Proof::NotPast { since } => {
            log::warning!(
                "not promoting: this node ({mine}) has not received the last primary's WAL past its promotion ({since}), so it may lack commits that primary acknowledged"
            );
            Err(OcfError::generic(format!(
                "no proof of every acknowledged commit: behind {since}"
            ))
            .with_remedy(remedy!("bring the last primary back, or set sync_mode=off")))
        }
        Proof::TooFewMembers { need, missing } => {
            let missing = missing.join(", ");
            log::warning!(
                "not promoting: {need} of the synchronous members [{members}] (ANY {}) must publish their position to prove no acknowledged commit is lost; missing: {missing}",
                set.k
            );
            Err(OcfError::generic(format!(
                "no proof of every acknowledged commit; missing: {}",
                brief(&missing)
            ))
            .with_remedy(remedy!(
                "bring those nodes back, or sync_mode=off to accept a loss"
            ))
            .with_detail(format!(
                "{need} of the recorded synchronous members must be present; missing: {missing}"
            )))
        }
    }
}

/// Gives this new primary the primary's score now rather than at its first monitor: until
/// then a standby's score left by the former primary (1000, the best standby's) may beat
/// this node's, and Pacemaker would move the promoted role at once, a switchover that its
/// check cancels (the soak met it: 40 s of flapping after a double fault).
fn claim_primary_score(attrs: &dyn Pacemaker, local: &str) {
    if let Err(e) = attrs.set_score(local, crate::logic::scores::PRIMARY) {
        log::warning!("primary score not set ({e}): the first monitor sets it");
    }
}

/// Starts the grace periods of this new primary's monitor (see `scores::unseen_score`).
fn start_primary_memory(a: &Agent) {
    let path = a.primary_memory_file();
    let memory = PrimaryMemory {
        promoted_at: Some(statefile::boot_seconds()),
        lost: Default::default(),
    };
    if let Err(e) = memory.save(&path) {
        log::warning!(
            "cannot save {}: {e}; standbys get no grace period to connect",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::election::{test_support::pos, SWITCHOVER_CHECK_FAILED};
    use crate::logic::scores::{BEST_STANDBY, FIRST_START};
    use crate::logic::sync::test_support::rec;
    use crate::pacemaker::FakePacemaker;

    const MINE: fn() -> OcfResult<WalPosition> = || Ok(pos(1, 100));

    fn cluster(published: &[(&str, &str)]) -> FakePacemaker {
        published.iter().fold(
            FakePacemaker::new(&["n1", "n2", "n3"]).with_attribute(CANDIDATES, "n1", "n1 n2 n3"),
            |pm, (node, value)| pm.with_attribute(LSN_LOCATION, node, value),
        )
    }

    /// The election of n1 at `MINE`, with the synchronous `record` when managed.
    fn run_election(
        pm: &FakePacemaker,
        record: Option<&SyncRecord>,
    ) -> OcfResult<Option<WalPosition>> {
        elect(pm, "n1", MINE, record, soon(), &mut Trace::default())
    }

    fn soon() -> Deadline {
        // past the promote reserve: the election does not wait
        Deadline::after(PROMOTE_RESERVE)
    }

    #[test]
    fn a_switchover_goes_ahead_unless_the_pre_promote_round_cancelled_it() {
        let pm = FakePacemaker::new(&["n1", "n2"]);
        assert_eq!(check_switchover(&pm, "n1"), Ok(()));
        for (value, code) in [
            (SWITCHOVER_UNSAFE, OcfCode::ErrGeneric),
            (SWITCHOVER_CHECK_FAILED, OcfCode::ErrArgs),
        ] {
            let pm =
                FakePacemaker::new(&["n1", "n2"]).with_attribute(CANCEL_SWITCHOVER, "n1", value);
            assert_eq!(check_switchover(&pm, "n1").unwrap_err().code, code);
            // consumed: Pacemaker's next attempt is not cancelled by the same verdict
            assert_eq!(pm.attribute(CANCEL_SWITCHOVER, "n1"), None);
        }
    }

    #[test]
    fn a_promotion_without_a_pre_promote_round_has_no_election() {
        let pm = FakePacemaker::new(&["n1", "n2"]);
        let never = || -> OcfResult<WalPosition> { panic!("position read without an election") };
        assert_eq!(
            elect(&pm, "n1", never, None, soon(), &mut Trace::default()),
            Ok(None)
        );
        assert!(pm.score_writes.borrow().is_empty());
    }

    #[test]
    fn the_most_advanced_candidate_is_promoted() {
        for others in [
            [("n2", "1#100"), ("n3", "1#99")],
            [("n2", "1#50"), ("n3", Published::UNKNOWN)],
            [("n2", "0#900"), ("n3", "1#100")],
        ] {
            let pm = cluster(&others);
            assert_eq!(run_election(&pm, None), Ok(Some(pos(1, 100))), "{others:?}");
            assert!(pm.score_writes.borrow().is_empty());
        }
    }

    #[test]
    fn a_more_advanced_candidate_gets_the_promotion() {
        let pm = cluster(&[("n2", "1#101"), ("n3", "2#5")]);
        let e = run_election(&pm, None).unwrap_err();
        assert!(e.problem.contains("n3"), "{e:?}");
        assert_eq!(
            *pm.score_writes.borrow(),
            [
                ("n1".to_string(), FIRST_START),
                ("n3".to_string(), BEST_STANDBY)
            ]
        );
    }

    #[test]
    fn a_candidate_that_never_publishes_fails_the_promotion_at_the_deadline() {
        let pm = cluster(&[("n2", "1#1")]);
        let e = run_election(&pm, None).unwrap_err();
        assert!(e.problem.contains("n3"), "{e:?}");
        assert!(pm.score_writes.borrow().is_empty());
    }

    #[test]
    fn with_a_sync_record_enough_members_must_have_published() {
        // ANY 1 of [n1, n2, n3]: all three must be heard from
        let record = rec(SyncSet::new(1, &["n1", "n2", "n3"]));
        let pm = cluster(&[("n2", "1#90"), ("n3", Published::UNKNOWN)]);
        let e = run_election(&pm, Some(&record)).unwrap_err();
        assert!(e.problem.contains("missing: n3"), "{e:?}");
        assert!(pm.score_writes.borrow().is_empty());
        // ANY 2 of them: two suffice
        let record = rec(SyncSet::new(2, &["n1", "n2", "n3"]));
        assert_eq!(run_election(&pm, Some(&record)), Ok(Some(pos(1, 100))));
        // a record that proves nothing (commits acknowledged by the primary alone)
        let e = elect(
            &pm,
            "n1",
            MINE,
            Some(&rec(SyncSet::new(0, &["n2"]))),
            soon(),
            &mut Trace::default(),
        )
        .unwrap_err();
        assert!(e.problem.contains("missing"), "{e:?}");
    }

    #[test]
    fn a_non_member_is_promoted_only_when_proven_complete() {
        // n1 is not recorded; the only member n2 is behind it: n1 holds all n2 holds
        let pm = cluster(&[("n2", "1#90"), ("n3", "1#80")]);
        let record = rec(SyncSet::new(1, &["n2"]));
        assert_eq!(run_election(&pm, Some(&record)), Ok(Some(pos(1, 100))));
        // member n3 silent: no proof
        let pm = cluster(&[("n2", "1#90"), ("n3", Published::UNKNOWN)]);
        let record = rec(SyncSet::new(1, &["n2", "n3"]));
        let e = run_election(&pm, Some(&record)).unwrap_err();
        assert!(e.problem.contains("n3"), "{e:?}");
    }

    #[test]
    fn a_new_primarys_record_proves_only_standbys_past_its_promotion() {
        let pm = cluster(&[("n2", "1#90"), ("n3", "1#80")]);
        let mut record = rec(SyncSet::new(1, &["n1", "n2", "n3"]));
        record.since = Some(pos(1, 150));
        let e = run_election(&pm, Some(&record)).unwrap_err();
        assert!(e.problem.contains("behind"), "{e:?}");
        record.since = Some(pos(1, 100));
        assert!(run_election(&pm, Some(&record)).is_ok());
    }

    #[test]
    fn a_switchover_with_a_member_down_is_proven_by_the_old_primarys_position() {
        // n3 (member) is down; the old primary n0 was demoted and published its position
        let pm = cluster(&[("n2", "1#90"), ("n3", Published::UNKNOWN)]).with_attribute(
            LSN_LOCATION,
            "n0",
            "1#100",
        );
        let record = rec(SyncSet::new(1, &["n1", "n3"]));
        assert!(run_election(&pm, Some(&record)).is_ok());
        // without it, n3 is missing
        let pm = cluster(&[("n2", "1#90"), ("n3", Published::UNKNOWN)]);
        assert!(run_election(&pm, Some(&record)).is_err());
    }

    #[test]
    fn without_a_pre_promote_round_a_sync_record_still_needs_its_proof() {
        let pm = FakePacemaker::new(&["n1", "n2"]);
        let record = rec(SyncSet::new(1, &["n2"]));
        assert!(run_election(&pm, Some(&record)).is_err());
    }

    #[test]
    fn an_unreadable_candidate_list_fails_rather_than_skipping_the_election() {
        let pm = cluster(&[]);
        pm.down.set(true);
        assert!(run_election(&pm, None).is_err());
        assert!(check_switchover(&pm, "n1").is_err());
    }
}
