//! `demote`: a fast stop, then a start as a standby. The shutdown checkpoint the fast stop
//! writes reaches the standbys, which is what lets the next promote prove a switchover
//! lost nothing. A crashed primary Pacemaker recovers in place is left down: start
//! replays its WAL.

use crate::agent::statefile::in_place_recovery_approved;
use crate::agent::Agent;
use crate::logic::state::{InstanceState, REBUILD_CRASHED_PRIMARY};
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::postgres::instance::StopMode;

pub fn demote(a: &Agent) -> OcfResult<OcfCode> {
    let probe = a.instance.settled(a.deadline)?;
    let state = &probe.state;
    match state {
        InstanceState::RunningStandby => {
            log::info!("instance already running as a standby");
            return Ok(OcfCode::Success);
        }
        InstanceState::RunningPrimary => {
            a.instance
                .stop(StopMode::Fast, a.deadline)
                .map_err(|e| OcfError {
                    code: OcfCode::ErrGeneric,
                    ..e.within("demote could not stop the primary")
                })?;
        }
        // Not running: start it as a standby, so demote never loops through
        // demote-fails, stop, start, promote.
        InstanceState::Stopped | InstanceState::CrashedStandby => {}
        InstanceState::CrashedPrimary(_) if in_place_recovery_approved(a, &probe) => {
            log::info!("crashed primary left down: Pacemaker recovers it in place, and start replays its WAL as a standby");
            return Ok(OcfCode::Success);
        }
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
            return Err(OcfError::generic(state.refusal().problem)
                .with_remedy(REBUILD_CRASHED_PRIMARY)
                .with_detail("it is only restarted (as a standby) when Pacemaker recovers it in place (approved by the pre-demote notification)"));
        }
        InstanceState::Transitional(_) | InstanceState::Unreachable(_) => {
            return Err(state.refusal());
        }
    }
    a.instance.start_standby(a.deadline).map_err(|e| OcfError {
        code: OcfCode::ErrGeneric,
        ..e.within("demote: the restart as a standby failed")
    })?;
    log::info!("instance demoted: running as a standby");
    Ok(OcfCode::Success)
}
