//! `stop`: a fast shutdown. A standby that does not stop in time is stopped immediately
//! (it recovers safely); a primary is not, since an immediate stop would make it a crashed
//! primary: Pacemaker's fencing is the better escalation there. An instance that already
//! crashed is stopped, never left for fencing (PAF fails here): a standby replays its WAL
//! and shuts down cleanly; a primary stays as it is, since only a rebuild (or Pacemaker's
//! in-place recovery, see start) may bring it back, and later probes report it stopped
//! rather than crashed again. A hung instance (see `logic::hang`) fails the stop at once:
//! fencing is the cure, and waiting out the timeout only delays it.

use crate::agent::statefile::in_place_recovery_approved;
use crate::agent::statefile::CrashRecord;
use crate::agent::{answer_unusable, Agent};
use crate::logic::controldata::ControlData;
use crate::logic::transitions::{stop_step, StopStep};
use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::ocf::log::brief;
use crate::ocf::unusable::Caller;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::postgres::instance::StopMode;

/// Share of the stop timeout a standby gets for its fast shutdown before the immediate one,
/// and a crashed standby for its recovery.
const FAST_SHARE: u32 = 2;

pub fn stop(a: &Agent) -> OcfResult<OcfCode> {
    // Whatever keeps the agent from looking at the instance as usual (settings it cannot
    // use, no data directory, files it refuses to read), stop answers success only once no
    // process of the instance is left.
    let looked = match a.instance.usable() {
        Ok(true) => a.instance.probe().map_err(OcfError::from),
        Ok(false) => Err(OcfError::installed(format!(
            "no data directory at {}",
            brief(a.params.datadir.display())
        ))),
        Err(e) => Err(e.into()),
    };
    let probe = match looked {
        Ok(probe) => probe,
        Err(why) => return answer_unusable(Caller::Stop, &a.params.datadir, a.deadline, why),
    };
    let state = &probe.state;
    match stop_step(state, in_place_recovery_approved(a, &probe)) {
        StopStep::AlreadyStopped => {
            log::info!("instance already stopped");
            Ok(OcfCode::Success)
        }
        StopStep::RecoverStandbyThenStop => {
            a.instance.reap_orphans()?;
            log::warning!(
                "the standby had crashed: replaying its WAL as a standby, then stopping it cleanly"
            );
            let recovery = Deadline::after(a.deadline.remaining() / FAST_SHARE);
            match a.instance.start_standby(recovery) {
                Ok(()) => stop_standby(a),
                Err(e) => {
                    log::warning!("recovery of the crashed standby failed: {e}");
                    a.instance.stop(StopMode::Immediate, a.deadline)?;
                    // the recovery attempt may have changed pg_control
                    leave_crashed(a, &a.instance.controldata()?)
                }
            }
        }
        StopStep::LeaveCrashed { in_place } => {
            if in_place {
                log::info!("crashed primary left down for its recovery in place: start replays its WAL as a standby");
            } else {
                log::warning!(
                    "instance had crashed ({state:?}); nothing left to stop. Start will refuse it until it is rebuilt from the current primary"
                );
            }
            a.instance.reap_orphans()?;
            leave_crashed(a, &probe.control(&a.instance)?)
        }
        StopStep::StopStandby => stop_standby(a),
        StopStep::FastStop => {
            a.instance.stop(StopMode::Fast, a.deadline)?;
            Ok(OcfCode::Success)
        }
        StopStep::FailHung => Err(state.refusal()),
    }
}

fn stop_standby(a: &Agent) -> OcfResult<OcfCode> {
    let fast = Deadline::after(a.deadline.remaining() / FAST_SHARE);
    if a.instance.stop(StopMode::Fast, fast).is_err() {
        log::warning!("fast shutdown of the standby did not finish in time: immediate shutdown");
        a.instance.stop(StopMode::Immediate, a.deadline)?;
    }
    Ok(OcfCode::Success)
}

/// Records the crashed instance, as `control` shows it, as stopped by the cluster (see
/// `CrashRecord`).
fn leave_crashed(a: &Agent, control: &ControlData) -> OcfResult<OcfCode> {
    let path = a.crash_record_file();
    if let Err(e) = CrashRecord::of(control).save(&path) {
        // Stopped all the same: later probes will report the crash again, which only
        // makes Pacemaker stop it again.
        log::warning!("cannot write {}: {e}", path.display());
    }
    Ok(OcfCode::Success)
}
