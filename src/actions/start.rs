//! `start`: always as a standby. A former primary that crashed is refused, since its WAL
//! may have diverged from the primary promoted after it, unless Pacemaker recovers it in
//! place (approved at pre-demote): then it replays its own WAL as a standby.

use crate::agent::Agent;
use crate::config::Rejoin;
use crate::controldata::{ClusterState, ControlData};
use crate::instance;
use crate::instance::in_place_recovery_approved;
use crate::ocf::{remedy, OcfCode, OcfError, OcfResult};
use crate::rejoin::{self, Verdict};
use crate::scores;
use crate::state::{InstanceState, REBUILD_CRASHED_PRIMARY};
use crate::statefile;
use crate::validate;

pub fn start(a: &Agent) -> OcfResult<OcfCode> {
    a.meta.check_clone_settings()?;
    validate::installation(a)?;
    validate::local_configuration(a)?;
    let probe = instance::settled(a, a.deadline)?;
    match probe.state {
        InstanceState::RunningStandby => {
            crate::info!("instance already running as a standby");
            return Ok(OcfCode::Success);
        }
        InstanceState::Stopped => {}
        InstanceState::CrashedStandby => {
            crate::warn!("the standby had crashed; it recovers as a standby");
        }
        InstanceState::RunningPrimary => {
            return Err(OcfError::generic(
                "the instance already runs as a primary outside Pacemaker's control",
            )
            .with_remedy(remedy!("stop it, then crm_resource --cleanup")))
        }
        InstanceState::CrashedPrimary(_) if in_place_recovery_approved(a, &probe) => {
            crate::warn!("the primary had crashed and Pacemaker recovers it in place: replaying its WAL as a standby");
            instance::reap_orphans(a)?;
        }
        // Rewound below when another node is promoted; refused there when none is.
        InstanceState::CrashedPrimary(_) if a.params.rejoin == Rejoin::Rewind => {
            instance::reap_orphans(a)?;
        }
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
            return Err(OcfError::generic(format!(
                "refusing to start: {}",
                probe.state.refusal().problem
            ))
            .with_remedy(REBUILD_CRASHED_PRIMARY)
            .with_detail(format!(
                "it may hold WAL the current primary never got. Rebuild it from the current primary (pg_basebackup, or pg_rewind), then run 'crm_resource --cleanup --resource {} --node {}'",
                a.meta.resource,
                a.node()
            )))
        }
        InstanceState::Transitional(_) | InstanceState::Unreachable(_) => {
            return Err(probe.state.refusal())
        }
    }
    let control = probe.control(a)?;
    rejoin::refuse_if_needs_rebuild(a, &control)?;
    let was_clean_primary =
        !a.datadir()?.has_entry("backup_label") && control.state == ClusterState::ShutDown;
    if let InstanceState::CrashedPrimary(_) = probe.state {
        rejoin_crashed_primary(a, &probe, &control)?;
    } else if was_clean_primary {
        rejoin_stopped_primary(a, &control)?;
    }
    instance::start_standby(a, a.deadline)?;
    crate::info!("instance started as a standby");
    statefile::forget(&a.crash_record_file());
    statefile::forget(&a.in_place_recovery_file());
    if was_clean_primary {
        apply_first_start_rule(a);
    }
    Ok(OcfCode::Success)
}

/// A crashed primary starts as a standby only when it can follow the promoted instance
/// (after a rewind with rejoin=rewind), or, when none is promoted, when Pacemaker approved
/// its recovery in place.
fn rejoin_crashed_primary(
    a: &Agent,
    probe: &instance::Probe,
    control: &ControlData,
) -> OcfResult<()> {
    match rejoin::check(a, control) {
        Ok(Verdict::CanFollow | Verdict::Rewound) => Ok(()),
        Ok(Verdict::CannotFollow(refusal)) => Err(refusal),
        Ok(Verdict::NoPrimary) if in_place_recovery_approved(a, probe) => Ok(()),
        Ok(Verdict::NoPrimary) => Err(OcfError::generic(
            "refusing to start a crashed primary while no instance is promoted",
        )
        .with_remedy(REBUILD_CRASHED_PRIMARY)),
        // Promoted elsewhere, so an approved recovery in place was abandoned: unchecked, it
        // is refused as every crashed primary is.
        Err(e) => Err(e),
    }
}

/// A cleanly stopped primary may have written WAL the promoted instance never got (its
/// standbys lagged): it then cannot follow it. When the check cannot be made, rejoin=manual
/// starts it as before; rejoin=rewind refuses, having changed nothing.
fn rejoin_stopped_primary(a: &Agent, control: &ControlData) -> OcfResult<()> {
    match (rejoin::check(a, control), a.params.rejoin) {
        (Ok(Verdict::CannotFollow(refusal)), _) => Err(refusal),
        (Ok(_), _) => Ok(()),
        (Err(e), Rejoin::Rewind) => Err(e),
        (Err(e), Rejoin::Manual) => {
            crate::warn!(
                "could not check that this former primary can follow the promoted instance: {}",
                e.message()
            );
            Ok(())
        }
    }
}

/// A cleanly stopped primary that comes back when no node has a promotion score gets a
/// small one, so Pacemaker can elect a primary on a cold start.
fn apply_first_start_rule(a: &Agent) {
    let attrs = a.attributes();
    let result = attrs.partition().and_then(|partition| {
        let existing = partition
            .iter()
            .map(|n| attrs.score(n))
            .collect::<OcfResult<Vec<_>>>()?;
        match scores::first_start_score(true, &existing) {
            Some(score) => {
                crate::info!("no promotion score in the partition and this instance was a cleanly stopped primary: setting its score to {score}");
                attrs.set_score(a.node(), score)
            }
            None => Ok(()),
        }
    });
    if let Err(e) = result {
        crate::warn!("first-start promotion score not set: {}", e.message());
    }
}
