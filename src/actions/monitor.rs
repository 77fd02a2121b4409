//! `monitor`: reports the local instance's state; on the primary, also keeps every node's
//! promotion score up to date. A healthy instance costs one socket connection and no
//! child process.

use crate::agent::Agent;
use crate::controldata::ControlData;
use crate::instance;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::pg::Db;
use crate::scores::{self, Note};
use crate::state::InstanceState;
use crate::statefile::{CrashRecord, MonitorState};
use std::collections::{BTreeMap, BTreeSet};

pub fn monitor(a: &Agent) -> OcfResult<OcfCode> {
    let has_instance = match instance::usable(a) {
        Ok(has) => has,
        // A probe on a node where PostgreSQL is not usable: not running, unless a
        // postmaster still owns the data directory. Settings wrong everywhere fail.
        Err(e) if a.meta.is_probe() && e.code == OcfCode::ErrInstalled => {
            return match instance::postmaster_despite(a, &e)? {
                None => Err(OcfError::new(
                    OcfCode::NotRunning,
                    format!("PostgreSQL is not usable on this node: {}", e.reason),
                )),
                Some(pid) => Err(OcfError::generic(format!(
                    "{}; yet postmaster {pid} runs in datadir: fix this node, then stop it",
                    e.reason
                ))),
            };
        }
        Err(e) => return Err(e),
    };
    if !has_instance {
        let what = format!(
            "no PostgreSQL data directory at {}",
            a.params.datadir.display()
        );
        // A probe on a node that does not host the instance: it is simply not running
        // here. Anywhere else the data directory vanished under a running resource.
        return Err(if a.meta.is_probe() {
            OcfError::new(OcfCode::NotRunning, what)
        } else {
            OcfError::installed(format!(
                "{what}: restore it or move the resource away from this node"
            ))
        });
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
            attrs.partition().map_err(|e| e.reason)?,
            BTreeMap::new(),
            true,
        ),
    };
    let local = a.node();
    let plan = scores::plan(local, &partition, &rows, a.params.maxlag);
    let changes = scores::changes(&plan.scores, &known);
    let mut written = known.clone();
    for (node, score) in &changes {
        attrs.set_score(node, *score).map_err(|e| e.reason)?;
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
