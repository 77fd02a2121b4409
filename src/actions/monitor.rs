//! `monitor`: reports the local instance's state; on the primary, also keeps every node's
//! promotion score up to date. A healthy instance costs one socket connection and no
//! child process.

use crate::agent::Agent;
use crate::controldata::ControlData;
use crate::instance;
use crate::log::brief;
use crate::ocf::{remedy, OcfCode, OcfError, OcfResult};
use crate::pg::Db;
use crate::scores::{self, Note};
use crate::state::InstanceState;
use crate::statefile::{CrashRecord, MonitorState};
use std::collections::{BTreeMap, BTreeSet};

pub fn monitor(a: &Agent) -> OcfResult<OcfCode> {
    let unusable = match instance::usable(a) {
        Ok(true) => None,
        Ok(false) if a.meta.is_probe() => Some(OcfError::installed(format!(
            "no PostgreSQL data directory at {}",
            brief(a.params.datadir.display())
        ))),
        // The data directory vanished under a running resource.
        Ok(false) => {
            return Err(OcfError::installed(format!(
                "no PostgreSQL data directory at {}",
                brief(a.params.datadir.display())
            ))
            .with_remedy(remedy!(
                "restore it, or move the resource away from this node"
            )))
        }
        Err(e) => Some(e),
    };
    match unusable {
        // A probe on a node that does not host the instance, or where PostgreSQL is not
        // usable: it is simply not running here, unless a postmaster still works in the
        // data directory.
        Some(why) if a.meta.is_probe() && why.code == OcfCode::ErrInstalled => {
            return Err(match instance::postmaster_despite(a, &why)? {
                None => OcfError::new(OcfCode::NotRunning, format!("not running: {}", why.problem)),
                Some(pid) => OcfError::generic(format!(
                    "postmaster {pid} runs in datadir, yet {}",
                    why.problem
                ))
                .with_remedy(remedy!(
                    "fix this node (see the log), then stop the instance"
                ))
                .with_detail(why.message()),
            });
        }
        // Settings wrong everywhere, or on this node under a recurring monitor.
        Some(why) => return Err(why),
        None => {}
    }
    let probe = instance::settled(a, a.deadline)?;
    if probe.state.is_crashed() && stopped_by_the_cluster(a, &probe.control(a)?) {
        return Err(OcfError::new(
            OcfCode::NotRunning,
            format!(
                "instance is stopped: it had crashed ({:?}) and the cluster stopped it",
                probe.state
            ),
        ));
    }
    let code = probe.state.monitor_result()?;
    if probe.state == InstanceState::RunningPrimary {
        if let Some(db) = &probe.db {
            // Scores are advice to Pacemaker: failing to refresh them must not fail
            // the primary, which Pacemaker would then restart.
            if let Err(e) = update_scores(a, db) {
                crate::warn!("promotion scores not updated: {e}");
            }
        }
    }
    Ok(code)
}

/// True when stop left this crashed instance down and nothing ran it since.
fn stopped_by_the_cluster(a: &Agent, control: &ControlData) -> bool {
    CrashRecord::of(control).is_recorded(&a.crash_record_file())
}

/// Sets every partition node's promotion score from pg_stat_replication, writing only the
/// scores that change.
fn update_scores(a: &Agent, db: &Db) -> Result<(), String> {
    let rows = db.replication()?;
    let path = a.state_file();
    let cached = MonitorState::load(&path);
    let connected: BTreeSet<String> = rows.iter().map(|r| r.application_name.clone()).collect();
    let attrs = a.attributes();
    // Same replication connections as last time: trust what that monitor saw and wrote.
    // Otherwise the membership may have changed too, and Pacemaker purges the scores of a
    // node that leaves: ask again, and write every score.
    let (partition, known, membership_reread) = match cached {
        Some(c) if c.connected == connected => (c.partition, c.scores, false),
        _ => (
            attrs.partition().map_err(|e| e.message())?,
            BTreeMap::new(),
            true,
        ),
    };
    let local = a.node();
    let plan = scores::plan(local, &partition, &rows, a.params.maxlag);
    let changes = scores::changes(&plan.scores, &known);
    let mut written = known.clone();
    for (node, score) in &changes {
        attrs.set_score(node, *score).map_err(|e| e.message())?;
        match known.get(node) {
            Some(old) => crate::info!("promotion score of {node}: {old} -> {score}"),
            None => crate::info!("promotion score of {node} set to {score}"),
        }
        written.insert(node.clone(), *score);
    }
    let changed = |n: &str| changes.iter().any(|(c, _)| c == n);
    for note in &plan.notes {
        match note {
            Note::NotConnected(n) if changed(n) => {
                crate::warn!("{n} is in the partition but does not replicate from this primary")
            }
            Note::NotReady { node, state } if changed(node) => {
                crate::info!("{node} is in state {state:?}: not promotable yet")
            }
            Note::LagAboveMax { node, lag } if changed(node) => crate::warn!(
                "{node} lags {lag} bytes behind, more than maxlag={}: promotion score made negative",
                a.params.maxlag
            ),
            Note::SelfReplication if !changes.is_empty() => crate::warn!(
                "a standby connects with application_name={local}, this node's own name: it replicates from itself; reject it in pg_hba.conf"
            ),
            Note::UnknownStandby(n) if !changes.is_empty() => {
                crate::debug!("ignoring replication connection {n:?}: not a node of this partition")
            }
            _ => {}
        }
    }
    if !membership_reread && changes.is_empty() {
        // the state file already says all this: the steady state writes nothing
        return Ok(());
    }
    let state = MonitorState {
        partition,
        connected,
        scores: written,
    };
    state
        .save(&path)
        .map_err(|e| format!("cannot save {}: {e}", path.display()))
}
