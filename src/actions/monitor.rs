//! `monitor`: reports the local instance's state; on the primary, also keeps every node's
//! promotion score up to date. A healthy instance costs one socket connection and no
//! child process.

use crate::actions::Action;
use crate::agent::headless_recovery::{self, BEYOND_MAXLAG};
use crate::agent::statefile::{self, CrashRecord, MonitorState, PrimaryMemory};
use crate::agent::sync_standbys;
use crate::agent::{answer_unusable, Agent};
use crate::logic::controldata::ControlData;
use crate::logic::replication_view::{PublishedView, Replication, REPLICATION_VIEW};
use crate::logic::scores::{self, Note, ReplicationRow};
use crate::logic::show::REPLAY_PAUSED;
use crate::logic::state::InstanceState;
use crate::ocf::log;
use crate::ocf::log::brief;
use crate::ocf::unusable::Caller;
use crate::ocf::{remedy, OcfCode, OcfError, OcfResult};
use crate::pacemaker::Pacemaker;
use crate::postgres::sql::Db;
use std::collections::{BTreeMap, BTreeSet};

pub fn monitor(a: &Agent) -> OcfResult<OcfCode> {
    let caller = Action::Monitor.caller(&a.meta);
    let missing = || {
        OcfError::installed(format!(
            "no PostgreSQL data directory at {}",
            brief(a.params.datadir.display())
        ))
    };
    match a.instance.usable() {
        Ok(true) => {}
        // A probe on a node that does not host the instance.
        Ok(false) if caller == Caller::Probe => {
            return answer_unusable(caller, &a.params.datadir, a.deadline, missing())
        }
        // The data directory vanished under a running resource.
        Ok(false) => {
            return Err(missing().with_remedy(remedy!(
                "restore it, or move the resource away from this node"
            )))
        }
        Err(why) => return answer_unusable(caller, &a.params.datadir, a.deadline, why.into()),
    }
    let probe = a.instance.settled(a.deadline)?;
    if probe.state.is_crashed() && stopped_by_the_cluster(a, &probe.control(&a.instance)?) {
        return Err(OcfError::new(
            OcfCode::NotRunning,
            format!(
                "instance is stopped: it had crashed ({:?}) and the cluster stopped it",
                probe.state
            ),
        ));
    }
    let code = probe.state.monitor_result()?;
    // Scores are advice to Pacemaker: failing to refresh them must not fail the instance,
    // which Pacemaker would then restart.
    match (&probe.state, &probe.db) {
        (InstanceState::RunningPrimary, Some(db)) => match db.replication() {
            Ok(replication) => {
                let rows = replication.rows();
                match update_scores(a, &rows) {
                    Ok(partition) => {
                        if let Err(e) = headless_recovery::settle(a) {
                            log::warning!("promotion scores not updated: {e}");
                        }
                        // a failure leaves the value and the record as they were: safe
                        if a.params.sync_mode.is_managed() {
                            if let Err(e) = sync_standbys::manage(a, db, &partition, &rows) {
                                log::warning!("{e}");
                            }
                        }
                    }
                    Err(e) => log::warning!("promotion scores not updated: {e}"),
                }
                publish_view(a, replication);
            }
            Err(e) => log::warning!("promotion scores not updated: {e}"),
        },
        (InstanceState::RunningStandby, Some(db)) => {
            if let Err(e) = headless_recovery::check_standby(a, db) {
                log::warning!("cannot check whether the cluster has a primary: {e}");
            }
            if let Err(e) = publish_replay_paused(a, db) {
                log::warning!("paused replay not published for pgsqlms show: {e}");
            }
        }
        _ => {}
    }
    Ok(code)
}

/// Publishes for `pgsqlms show` whether an administrator paused this standby's WAL replay
/// (`pg_wal_replay_pause()`): only a change reaches attrd, and a file in the runtime
/// directory says what was published last.
fn publish_replay_paused(a: &Agent, db: &Db) -> Result<(), String> {
    let paused = db.replay_paused()?;
    let path = a.replay_paused_file();
    if paused == path.exists() {
        return Ok(());
    }
    let value = paused.then_some("1");
    a.pacemaker()
        .change_for(a.node(), REPLAY_PAUSED, true, value)
        .map_err(|e| e.to_string())?;
    if paused {
        log::warning!("WAL replay is paused on this standby: it falls behind the primary until pg_wal_replay_resume()");
        statefile::save_text(&path, "paused\n")
            .map_err(|e| format!("cannot save {}: {e}", path.display()))
    } else {
        log::info!("WAL replay resumed on this standby");
        statefile::forget(&path);
        Ok(())
    }
}

/// True when stop left this crashed instance down and nothing ran it since.
fn stopped_by_the_cluster(a: &Agent, control: &ControlData) -> bool {
    CrashRecord::of(control).is_recorded(&a.crash_record_file())
}

/// Sets every partition node's promotion score from pg_stat_replication, writing only the
/// scores that change. Returns the partition it saw.
fn update_scores(a: &Agent, rows: &[ReplicationRow]) -> Result<BTreeSet<String>, String> {
    let path = a.state_file();
    let cached = MonitorState::load(&path);
    let connected: BTreeSet<String> = rows.iter().map(|r| r.application_name.clone()).collect();
    let grace = remember_lost(a, cached.as_ref(), &connected)?;
    let local = a.node();
    let ScoreRound {
        plan,
        changes,
        membership_reread,
        state,
    } = write_scores(
        a.pacemaker(),
        local,
        rows,
        cached,
        a.params.maxlag,
        &grace,
        &scores::streaming_members(&recorded_members(a), rows),
    )?;
    let changed = |n: &str| changes.iter().any(|(c, _)| c == n);
    for note in &plan.notes {
        match note {
            Note::NotConnected(n) if changed(n) => {
                log::warning!("{n} is in the partition but does not replicate from this primary")
            }
            Note::NotReady { node, state } if changed(node) => {
                log::info!("{node} is in state {state:?}: not promotable yet")
            }
            Note::LagAboveMax { node, lag, primary } if changed(node) => {
                log::warning!(
                    "{node} lags {lag} bytes behind, more than maxlag={}: promotion score made negative",
                    a.params.maxlag
                );
                // left to the cluster, for a headless recovery after this primary is gone
                if let Some(p) = primary {
                    record_beyond_maxlag(a, node, Some(&p.0.to_string()));
                }
            }
            Note::AwaitingConnection(n) if membership_reread => log::info!(
                "{n} does not replicate from this primary yet: its promotion score is left as it is for up to {} s after the promotion",
                scores::CONNECT_GRACE.as_secs()
            ),
            Note::KeptRank(n) if membership_reread => log::info!(
                "{n} stopped replicating from this primary: it keeps its promotion score for up to {} s",
                scores::LOST_GRACE.as_secs()
            ),
            Note::SelfReplication if !changes.is_empty() => log::warning!(
                "a standby connects with application_name={local}, this node's own name: it replicates from itself; reject it in pg_hba.conf"
            ),
            Note::UnknownStandby(n) if !changes.is_empty() => {
                log::debug!("ignoring replication connection {n:?}: not a node of this partition")
            }
            _ => {}
        }
    }
    if a.params.maxlag > 0 {
        // caught up again: its record of being beyond maxlag no longer holds
        for (node, _) in changes.iter().filter(|(n, s)| *s > 0 && n != local) {
            record_beyond_maxlag(a, node, None);
        }
    }
    let partition = state.partition.clone();
    if membership_reread || !changes.is_empty() {
        // otherwise the state file already says all this: the steady state writes nothing
        state
            .save(&path)
            .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    }
    Ok(partition)
}

/// What one primary monitor decided and wrote.
struct ScoreRound {
    plan: scores::ScorePlan,
    /// The scores written, in order.
    changes: Vec<(String, i64)>,
    /// Whether the partition was asked for again (the replication connections changed).
    membership_reread: bool,
    /// What the next monitor may trust without asking Pacemaker again.
    state: MonitorState,
}

/// The synchronous members PostgreSQL waits for, as this primary's last monitor left them
/// (none when not managed): those streaming rank first (`scores::members_first`). A removal
/// applied but not yet recorded counts: the removed standby receives nothing any more.
fn recorded_members(a: &Agent) -> BTreeSet<String> {
    if !a.params.sync_mode.is_managed() {
        return BTreeSet::new();
    }
    let memory = sync_standbys::SyncMemory::load(&a.sync_memory_file());
    match (memory.pending, memory.record) {
        (Some((applied, _)), _) => applied.members,
        (None, Some(r)) => r.set.members,
        (None, None) => BTreeSet::new(),
    }
}

/// The primary monitor's score-writing policy. With the same replication connections as
/// last time, it trusts what that monitor saw and wrote (`cached`) and writes only the
/// scores that change: the steady state costs Pacemaker nothing. Otherwise the membership
/// may have changed too, and Pacemaker purges the scores of a node that leaves: it asks for
/// the partition again and writes every score.
fn write_scores(
    pm: &dyn Pacemaker,
    local: &str,
    rows: &[ReplicationRow],
    cached: Option<MonitorState>,
    maxlag: u64,
    grace: &scores::Grace,
    members: &BTreeSet<String>,
) -> Result<ScoreRound, String> {
    let connected: BTreeSet<String> = rows.iter().map(|r| r.application_name.clone()).collect();
    let (partition, known, membership_reread) = match cached {
        Some(c) if c.connected == connected => (c.partition, c.scores, false),
        _ => (
            pm.partition().map_err(|e| e.to_string())?,
            BTreeMap::new(),
            true,
        ),
    };
    let mut plan = scores::plan(local, &partition, rows, maxlag, grace);
    scores::members_first(&mut plan, local, members);
    let changes = scores::changes(&plan.scores, &known);
    let mut written = known.clone();
    for (node, score) in &changes {
        pm.set_score(node, *score).map_err(|e| e.to_string())?;
        match known.get(node) {
            Some(old) => log::info!("promotion score of {node}: {old} -> {score}"),
            None => log::info!("promotion score of {node} set to {score}"),
        }
        written.insert(node.clone(), *score);
    }
    Ok(ScoreRound {
        plan,
        changes,
        membership_reread,
        state: MonitorState {
            partition,
            connected,
            scores: written,
        },
    })
}

/// The grace periods' memory, updated with the standbys missing since the last monitor
/// (saved only when that changes).
fn remember_lost(
    a: &Agent,
    cached: Option<&MonitorState>,
    connected: &BTreeSet<String>,
) -> Result<scores::Grace, String> {
    let path = a.primary_memory_file();
    let memory = PrimaryMemory::load(&path);
    let mut grace = scores::Grace {
        now: statefile::boot_seconds(),
        promoted_at: memory.promoted_at,
        lost: memory.lost.clone(),
    };
    let (was_connected, had) = cached.map_or((BTreeSet::new(), BTreeMap::new()), |c| {
        (c.connected.clone(), c.scores.clone())
    });
    grace.lost = scores::still_lost(&grace, &was_connected, &had, connected);
    if grace.lost != memory.lost {
        PrimaryMemory {
            lost: grace.lost.clone(),
            ..memory
        }
        .save(&path)
        .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    }
    Ok(grace)
}

/// Sets (or with `None` deletes) the primary position recorded on a standby found beyond
/// maxlag. A failure is only logged: the score already says it.
fn record_beyond_maxlag(a: &Agent, node: &str, primary_lsn: Option<&str>) {
    if let Err(e) = a
        .pacemaker()
        .change_for(node, BEYOND_MAXLAG, true, primary_lsn)
    {
        log::warning!("{e}");
    }
}

/// Publishes this primary's replication view for `pgsqlms show` when it replaces the last
/// one published (see `replication_view`): a steady-state monitor spawns nothing. A
/// failure is only logged: `show` then reports the view's age.
fn publish_view(a: &Agent, replication: Replication) {
    let path = a.published_view_file();
    let last = statefile::load_text(&path).and_then(|t| PublishedView::parse(&t));
    let view = PublishedView {
        published_at: statefile::unix_now(),
        primary: a.node().to_string(),
        maxlag: a.params.maxlag,
        replication,
    };
    if !view.replaces(last.as_ref()) {
        return;
    }
    let text = view.render();
    let published = a
        .pacemaker()
        .set_private(REPLICATION_VIEW, &text)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            statefile::save_text(&path, &text)
                .map_err(|e| format!("cannot save {}: {e}", path.display()))
        });
    if let Err(e) = published {
        log::warning!("replication view not published for pgsqlms show: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::lsn::Lsn;
    use crate::pacemaker::FakePacemaker;

    fn streaming(name: &str, lag: u64) -> ReplicationRow {
        ReplicationRow {
            application_name: name.into(),
            state: "streaming".into(),
            write_lsn: Some(Lsn(1000 - lag)),
            lag: Some(lag),
        }
    }

    fn round(
        pm: &FakePacemaker,
        rows: &[ReplicationRow],
        cached: Option<MonitorState>,
    ) -> ScoreRound {
        write_scores(
            pm,
            "n1",
            rows,
            cached,
            0,
            &scores::Grace::default(),
            &BTreeSet::new(),
        )
        .unwrap()
    }

    #[test]
    fn the_first_monitor_asks_for_the_partition_and_writes_every_score() {
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]);
        let r = round(&pm, &[streaming("n2", 0), streaming("n3", 10)], None);
        assert!(r.membership_reread);
        assert_eq!(*pm.score_writes.borrow(), r.changes);
        assert_eq!(r.changes.len(), 3, "{:?}", r.changes);
        assert_eq!(r.state.scores, *pm.scores.borrow());
    }

    #[test]
    fn the_steady_state_asks_pacemaker_nothing() {
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]);
        let rows = [streaming("n2", 0), streaming("n3", 10)];
        let first = round(&pm, &rows, None);
        // any call now fails: the next monitor must make none
        pm.down.set(true);
        let next = round(&pm, &rows, Some(first.state.clone()));
        assert!(!next.membership_reread);
        assert!(next.changes.is_empty());
        assert_eq!(next.state, first.state);
    }

    #[test]
    fn only_a_score_that_moves_is_written() {
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]);
        let first = round(&pm, &[streaming("n2", 0), streaming("n3", 10)], None);
        pm.score_writes.borrow_mut().clear();
        // n3 overtakes n2: both ranks move, the primary's does not
        let next = round(
            &pm,
            &[streaming("n2", 20), streaming("n3", 0)],
            Some(first.state),
        );
        assert_eq!(*pm.score_writes.borrow(), next.changes);
        assert_eq!(
            next.changes
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["n2", "n3"]
        );
    }

    #[test]
    fn a_membership_change_rewrites_every_score() {
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]);
        let first = round(&pm, &[streaming("n2", 0), streaming("n3", 10)], None);
        pm.score_writes.borrow_mut().clear();
        // n3 disconnected: Pacemaker may have purged scores, so all are written again
        let next = round(&pm, &[streaming("n2", 0)], Some(first.state));
        assert!(next.membership_reread);
        assert_eq!(pm.score_writes.borrow().len(), 3);
    }

    #[test]
    fn a_failing_pacemaker_fails_the_round_before_anything_is_trusted() {
        let pm = FakePacemaker::new(&["n1", "n2"]);
        pm.down.set(true);
        assert!(write_scores(
            &pm,
            "n1",
            &[streaming("n2", 0)],
            None,
            0,
            &scores::Grace::default(),
            &BTreeSet::new()
        )
        .is_err());
    }
}
