//! What start, stop, demote and promote do in each state of the local instance: one table
//! per action, which the action files carry out. `in_place` says that the pre-demote
//! notification approved the in-place recovery of this crashed primary (see
//! `agent::statefile::in_place_recovery_approved`). `rejoin` is the setting that says
//! whether a diverged former primary is rewound (`agent::rejoin` checks and rewinds).

use crate::logic::controldata::ClusterState;
use crate::logic::state::{InstanceState, UnreachableCause, REBUILD_CRASHED_PRIMARY};
use crate::ocf::config::Rejoin;
use crate::ocf::{remedy, OcfCode, OcfError, Remedy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartStep {
    AlreadyRunning,
    /// Start as a standby.
    Start,
    /// Start as a standby, which replays the crashed standby's WAL.
    RecoverCrashedStandby,
    /// Kill what the crashed primary left behind, check it against an instance promoted
    /// elsewhere since (`rejoin_step`), then start it as a standby, which replays its WAL:
    /// Pacemaker recovers it in place.
    RecoverInPlace,
    /// rejoin=rewind: kill what the crashed primary left behind, check it against the
    /// promoted instance and rewind it if it diverged (`rejoin_step`), then start it as a
    /// standby.
    RejoinCrashedPrimary,
    /// A crashed former primary may hold WAL the current primary never got.
    RefuseCrashedPrimary,
    Refuse(OcfError),
}

pub fn start_step(state: &InstanceState, in_place: bool, rejoin: Rejoin) -> StartStep {
    match state {
        InstanceState::RunningStandby => StartStep::AlreadyRunning,
        InstanceState::Stopped => StartStep::Start,
        InstanceState::CrashedStandby => StartStep::RecoverCrashedStandby,
        InstanceState::RunningPrimary => StartStep::Refuse(
            OcfError::generic("the instance already runs as a primary outside Pacemaker's control")
                .with_remedy(crate::ocf::remedy!("stop it, then crm_resource --cleanup")),
        ),
        InstanceState::CrashedPrimary(_) if in_place => StartStep::RecoverInPlace,
        InstanceState::CrashedPrimary(_) if rejoin == Rejoin::Rewind => {
            StartStep::RejoinCrashedPrimary
        }
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
            StartStep::RefuseCrashedPrimary
        }
        InstanceState::Transitional(_) | InstanceState::Unreachable(_) => {
            StartStep::Refuse(state.refusal())
        }
    }
}

impl StartStep {
    /// What this start checks against the instance promoted elsewhere, if anything: a
    /// crashed primary it recovers, a primary that `cleanly_stopped_primary` (its
    /// pg_control says it shut down as a primary), or a cleanly stopped standby, whose WAL
    /// may go on past the point where the promoted instance left its timeline. (A crashed
    /// standby is not checked: pg_rewind could not recover it first in single-user mode,
    /// which refuses standby mode.)
    pub fn rejoiner(&self, cleanly_stopped_primary: bool) -> Option<Rejoiner> {
        match self {
            StartStep::RecoverInPlace => Some(Rejoiner::CrashedPrimary { in_place: true }),
            StartStep::RejoinCrashedPrimary => Some(Rejoiner::CrashedPrimary { in_place: false }),
            StartStep::Start if cleanly_stopped_primary => Some(Rejoiner::CleanPrimary),
            StartStep::Start => Some(Rejoiner::Standby),
            _ => None,
        }
    }
}

/// The instances start checks against the instance promoted elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejoiner {
    /// A crashed primary (`in_place`: its recovery in place was approved at pre-demote).
    CrashedPrimary { in_place: bool },
    /// A primary shut down cleanly: it may still hold WAL its lagging standbys never got.
    CleanPrimary,
    /// A cleanly stopped standby: it may have received WAL of its former primary that the
    /// promoted instance never got, and would then start only to stop streaming.
    Standby,
}

/// What the divergence check found (`agent::rejoin::check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No promoted instance elsewhere: today's rules decide.
    NoPrimary,
    /// The instance can follow the primary as it is.
    CanFollow,
    /// The instance was rewound and can follow the primary now.
    Rewound,
    /// It cannot follow the primary as it is (diverged with `rejoin=manual`, or another
    /// history altogether): start refuses it with this reason.
    CannotFollow(OcfError),
}

/// What to do about a crashed primary refused with rejoin=rewind while none is promoted.
pub const CLEANUP_ONCE_PROMOTED: Remedy =
    remedy!("crm_resource --cleanup once one is promoted: start rewinds it");

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejoinStep {
    /// Start it as a standby.
    Start,
    /// Start it as a standby, logging that the check could not be made (this reason).
    StartUnchecked(OcfError),
    Refuse(OcfError),
}

/// What start does with a rejoiner once the divergence check answered (`checked`
/// is the error when it could not be made, or when the rewind failed).
pub fn rejoin_step(
    rejoiner: Rejoiner,
    checked: Result<Verdict, OcfError>,
    rejoin: Rejoin,
) -> RejoinStep {
    match (rejoiner, checked) {
        (_, Ok(Verdict::CannotFollow(refusal))) => RejoinStep::Refuse(refusal),
        (_, Ok(Verdict::CanFollow | Verdict::Rewound)) => RejoinStep::Start,
        // None promoted: a crashed primary only starts when recovered in place.
        (Rejoiner::CrashedPrimary { in_place: true }, Ok(Verdict::NoPrimary)) => RejoinStep::Start,
        // (With rejoin=rewind a cleanup once one is promoted is enough: start rewinds it.)
        (Rejoiner::CrashedPrimary { in_place: false }, Ok(Verdict::NoPrimary)) => {
            let refusal = OcfError::generic(
                "refusing to start a crashed primary while no instance is promoted",
            );
            RejoinStep::Refuse(match rejoin {
                Rejoin::Manual => refusal.with_remedy(REBUILD_CRASHED_PRIMARY),
                Rejoin::Rewind => refusal.with_remedy(CLEANUP_ONCE_PROMOTED),
            })
        }
        // Promoted elsewhere, so an approved recovery in place was abandoned: unchecked, it
        // is refused as every crashed primary is.
        (Rejoiner::CrashedPrimary { .. }, Err(e)) => RejoinStep::Refuse(e),
        (Rejoiner::CleanPrimary | Rejoiner::Standby, Ok(Verdict::NoPrimary)) => RejoinStep::Start,
        // rejoin=manual starts a clean one as PAF did; rejoin=rewind refuses, having
        // changed nothing.
        (Rejoiner::CleanPrimary, Err(e)) => match rejoin {
            Rejoin::Manual => RejoinStep::StartUnchecked(e),
            Rejoin::Rewind => RejoinStep::Refuse(e),
        },
        // A standby starts as PAF started it: a check that cannot be made (the primary
        // unreachable a moment, rewind_user without its rights) never keeps it down.
        (Rejoiner::Standby, Err(e)) => RejoinStep::StartUnchecked(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopStep {
    AlreadyStopped,
    /// Replay the crashed standby's WAL, then stop it cleanly (immediately when the
    /// recovery fails).
    RecoverStandbyThenStop,
    /// Kill what the crashed instance left behind and record it as stopped by the cluster;
    /// it stays down (for its in-place recovery when `in_place`).
    LeaveCrashed {
        in_place: bool,
    },
    /// A fast shutdown, an immediate one when that does not finish in its share of time.
    StopStandby,
    /// A fast shutdown and no escalation: an immediate stop would make a crashed primary,
    /// so fencing is the escalation.
    FastStop,
    /// Fail at once: a hung instance acts on no signal (and a primary's postmaster is never
    /// killed), so fencing is the cure and waiting out the timeout only delays it.
    FailHung,
}

pub fn stop_step(state: &InstanceState, in_place: bool) -> StopStep {
    match state {
        InstanceState::Stopped => StopStep::AlreadyStopped,
        InstanceState::CrashedStandby => StopStep::RecoverStandbyThenStop,
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
            StopStep::LeaveCrashed { in_place }
        }
        InstanceState::RunningStandby => StopStep::StopStandby,
        InstanceState::Unreachable(u) if u.cause == UnreachableCause::Hung => StopStep::FailHung,
        InstanceState::RunningPrimary
        | InstanceState::Transitional(_)
        | InstanceState::Unreachable(_) => StopStep::FastStop,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoteStep {
    AlreadyStandby,
    /// A fast stop (whose shutdown checkpoint reaches the standbys), then a start as a
    /// standby.
    StopThenStartStandby,
    /// Not running: start it as a standby, so demote never loops through demote-fails,
    /// stop, start, promote.
    StartStandby,
    /// Leave the crashed primary down: start replays its WAL in its in-place recovery.
    LeaveForInPlaceRecovery,
    /// rejoin=rewind: leave the crashed primary down; the stop and start Pacemaker runs
    /// next rejoin it to the promoted instance, rewound if it diverged. (A refusal would
    /// only add a failure, and a failed demote halts the transition that promotes another.)
    LeaveForRejoin,
    Refuse(OcfError),
}

pub fn demote_step(state: &InstanceState, in_place: bool, rejoin: Rejoin) -> DemoteStep {
    match state {
        InstanceState::RunningStandby => DemoteStep::AlreadyStandby,
        InstanceState::RunningPrimary => DemoteStep::StopThenStartStandby,
        InstanceState::Stopped | InstanceState::CrashedStandby => DemoteStep::StartStandby,
        InstanceState::CrashedPrimary(_) if in_place => DemoteStep::LeaveForInPlaceRecovery,
        InstanceState::CrashedPrimary(_) if rejoin == Rejoin::Rewind => DemoteStep::LeaveForRejoin,
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => DemoteStep::Refuse(
            OcfError::generic(state.refusal().problem)
                .with_remedy(REBUILD_CRASHED_PRIMARY)
                .with_detail("it is only restarted (as a standby) when Pacemaker recovers it in place (approved by the pre-demote notification), or with rejoin=rewind"),
        ),
        InstanceState::Transitional(_) | InstanceState::Unreachable(_) => {
            DemoteStep::Refuse(state.refusal())
        }
    }
}

/// Whether demote may answer at once for a postmaster that takes no connection yet
/// (`InstanceState::Transitional`): its pg_control says it recovers, or shuts down, as a
/// standby, and no promotion is asked (`promotion_asked`: promote.signal is there). It is
/// no primary and cannot become one by itself. Waiting for it to take connections would
/// hold the transition, and the promotion of another node in it, for as long as the
/// action may run: a standby that cannot reach a consistent state (its WAL source gone)
/// never does. Its monitor then fails and Pacemaker recovers it.
pub fn demote_finds_recovering_standby(control: ClusterState, promotion_asked: bool) -> bool {
    !promotion_asked
        && matches!(
            control,
            ClusterState::InArchiveRecovery | ClusterState::ShutDownInRecovery
        )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteStep {
    AlreadyPrimary,
    /// The election, then pg_promote.
    Promote,
    StartThenPromote,
    Refuse(OcfError),
}

pub fn promote_step(state: &InstanceState) -> PromoteStep {
    match state {
        InstanceState::RunningPrimary => PromoteStep::AlreadyPrimary,
        InstanceState::RunningStandby => PromoteStep::Promote,
        InstanceState::Stopped => PromoteStep::StartThenPromote,
        // A promote that fails for the instance's state is a plain failure: Pacemaker
        // recovers the instance, then may try again.
        _ => PromoteStep::Refuse(OcfError {
            code: OcfCode::ErrGeneric,
            ..state.refusal().within("cannot promote")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::state::test_support::every_instance_state;
    use crate::ocf::log;

    const REJOIN: [Rejoin; 2] = [Rejoin::Manual, Rejoin::Rewind];

    #[test]
    fn start_never_runs_a_crashed_primary_unless_it_is_recovered_in_place_or_rejoined() {
        for s in every_instance_state() {
            for (in_place, rejoin) in [false, true]
                .into_iter()
                .flat_map(|i| REJOIN.map(|r| (i, r)))
            {
                let step = start_step(&s, in_place, rejoin);
                let runs = matches!(
                    step,
                    StartStep::Start | StartStep::RecoverCrashedStandby | StartStep::RecoverInPlace
                );
                // every former primary it may start is checked against the promoted instance
                let starts_crashed_primary = matches!(s, InstanceState::CrashedPrimary(_))
                    && step != StartStep::RefuseCrashedPrimary;
                assert_eq!(
                    matches!(step.rejoiner(false), Some(Rejoiner::CrashedPrimary { .. })),
                    starts_crashed_primary,
                    "{s:?}: {step:?}"
                );
                // and every standby it starts too
                assert_eq!(
                    step.rejoiner(false) == Some(Rejoiner::Standby),
                    s == InstanceState::Stopped,
                    "{s:?}: {step:?}"
                );
                if s == InstanceState::Stopped {
                    assert_eq!(step.rejoiner(true), Some(Rejoiner::CleanPrimary));
                }
                match &s {
                    InstanceState::CrashedPrimary(_) => {
                        assert_eq!(runs, in_place, "{s:?}");
                        // rewound only when asked, and not when recovered in place
                        assert_eq!(
                            step == StartStep::RejoinCrashedPrimary,
                            !in_place && rejoin == Rejoin::Rewind,
                            "{s:?}"
                        );
                    }
                    InstanceState::Crashed(_) => {
                        assert_eq!(step, StartStep::RefuseCrashedPrimary)
                    }
                    InstanceState::Stopped => assert_eq!(step, StartStep::Start),
                    InstanceState::CrashedStandby => {
                        assert_eq!(step, StartStep::RecoverCrashedStandby)
                    }
                    InstanceState::RunningStandby => assert_eq!(step, StartStep::AlreadyRunning),
                    // a running primary, or something the agent cannot talk to: never a
                    // second postmaster, never "already running" as a standby
                    _ => assert!(
                        matches!(&step, StartStep::Refuse(e) if e.code != OcfCode::Success),
                        "{s:?}: {step:?}"
                    ),
                }
            }
        }
    }

    fn every_check() -> Vec<Result<Verdict, OcfError>> {
        vec![
            Ok(Verdict::NoPrimary),
            Ok(Verdict::CanFollow),
            Ok(Verdict::Rewound),
            Ok(Verdict::CannotFollow(OcfError::generic("diverged"))),
            Err(OcfError::generic("cannot reach the primary")),
        ]
    }

    #[test]
    fn a_rejoiner_starts_only_when_it_can_follow_or_none_is_promoted() {
        let rejoiners = [
            Rejoiner::CrashedPrimary { in_place: false },
            Rejoiner::CrashedPrimary { in_place: true },
            Rejoiner::CleanPrimary,
            Rejoiner::Standby,
        ];
        for rejoiner in rejoiners {
            for rejoin in REJOIN {
                for checked in every_check() {
                    let step = rejoin_step(rejoiner, checked.clone(), rejoin);
                    let expected = match (&checked, rejoiner) {
                        (Ok(Verdict::CanFollow | Verdict::Rewound), _) => RejoinStep::Start,
                        // the check's own refusal, never another one
                        (Ok(Verdict::CannotFollow(e)), _) => RejoinStep::Refuse(e.clone()),
                        (Ok(Verdict::NoPrimary), Rejoiner::CrashedPrimary { in_place }) => {
                            if in_place {
                                RejoinStep::Start
                            } else {
                                let RejoinStep::Refuse(e) = &step else {
                                    panic!("{rejoiner:?} {rejoin:?}: {step:?}")
                                };
                                let remedy = match rejoin {
                                    Rejoin::Manual => REBUILD_CRASHED_PRIMARY,
                                    Rejoin::Rewind => CLEANUP_ONCE_PROMOTED,
                                };
                                assert_eq!(e.remedy, Some(remedy), "{rejoin:?}");
                                // (a problem and remedy chosen apart: the source scan cannot pair them)
                                let whole = format!("{}; {}", e.problem, remedy.as_str());
                                assert_eq!(log::reason_line(&e.problem, remedy.as_str()), whole);
                                assert!(whole.len() <= log::MAX_REASON, "{whole}");
                                continue;
                            }
                        }
                        (Ok(Verdict::NoPrimary), Rejoiner::CleanPrimary | Rejoiner::Standby) => {
                            RejoinStep::Start
                        }
                        // a crashed primary that could not be checked never starts
                        (Err(e), Rejoiner::CrashedPrimary { .. }) => RejoinStep::Refuse(e.clone()),
                        // a clean one starts unchecked only where PAF started it
                        (Err(e), Rejoiner::CleanPrimary) => match rejoin {
                            Rejoin::Manual => RejoinStep::StartUnchecked(e.clone()),
                            Rejoin::Rewind => RejoinStep::Refuse(e.clone()),
                        },
                        // a standby, always: PAF started it unchecked
                        (Err(e), Rejoiner::Standby) => RejoinStep::StartUnchecked(e.clone()),
                    };
                    assert_eq!(step, expected, "{rejoiner:?} {rejoin:?} {checked:?}");
                }
            }
        }
    }

    #[test]
    fn stop_answers_stopped_only_for_an_instance_that_runs_nothing() {
        for s in every_instance_state() {
            for in_place in [false, true] {
                let step = stop_step(&s, in_place);
                let running = matches!(
                    s,
                    InstanceState::RunningStandby
                        | InstanceState::RunningPrimary
                        | InstanceState::Transitional(_)
                        | InstanceState::Unreachable(_)
                );
                let hung = matches!(&s, InstanceState::Unreachable(u) if u.cause == UnreachableCause::Hung);
                // a hung instance fails the stop at once (fencing), whatever its role
                assert_eq!(step == StopStep::FailHung, hung, "{s:?}");
                if running && !hung {
                    assert!(
                        matches!(step, StopStep::StopStandby | StopStep::FastStop),
                        "{s:?}"
                    );
                }
                // only a standby is ever stopped immediately: never make a crashed primary
                if step == StopStep::StopStandby {
                    assert_eq!(s, InstanceState::RunningStandby);
                }
                if s.is_crashed_primary() {
                    assert_eq!(step, StopStep::LeaveCrashed { in_place });
                }
                assert_eq!(
                    step == StopStep::AlreadyStopped,
                    s == InstanceState::Stopped
                );
            }
        }
    }

    #[test]
    fn demote_leaves_a_crashed_primary_down_when_recovered_in_place_or_rejoined() {
        for s in every_instance_state() {
            for (in_place, rejoin) in [false, true]
                .into_iter()
                .flat_map(|i| REJOIN.map(|r| (i, r)))
            {
                let step = demote_step(&s, in_place, rejoin);
                match &s {
                    InstanceState::CrashedPrimary(_) if in_place => {
                        assert_eq!(step, DemoteStep::LeaveForInPlaceRecovery)
                    }
                    InstanceState::CrashedPrimary(_) if rejoin == Rejoin::Rewind => {
                        assert_eq!(step, DemoteStep::LeaveForRejoin)
                    }
                    InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
                        let DemoteStep::Refuse(e) = step else {
                            panic!("{s:?}: {step:?}")
                        };
                        assert_eq!(e.remedy, Some(REBUILD_CRASHED_PRIMARY));
                    }
                    InstanceState::RunningPrimary => {
                        assert_eq!(step, DemoteStep::StopThenStartStandby)
                    }
                    InstanceState::RunningStandby => assert_eq!(step, DemoteStep::AlreadyStandby),
                    InstanceState::Stopped | InstanceState::CrashedStandby => {
                        assert_eq!(step, DemoteStep::StartStandby)
                    }
                    _ => assert!(matches!(step, DemoteStep::Refuse(_)), "{s:?}"),
                }
            }
        }
    }

    #[test]
    fn demote_answers_at_once_only_for_a_standby_in_recovery_with_no_promotion_asked() {
        for control in crate::logic::state::test_support::ALL_STATES {
            for promotion_asked in [false, true] {
                let standby = matches!(
                    control,
                    ClusterState::InArchiveRecovery | ClusterState::ShutDownInRecovery
                );
                assert_eq!(
                    demote_finds_recovering_standby(control, promotion_asked),
                    standby && !promotion_asked,
                    "{control:?}, promotion asked: {promotion_asked}"
                );
            }
        }
    }

    #[test]
    fn promote_runs_only_from_a_standby_or_a_clean_stop() {
        for s in every_instance_state() {
            let step = promote_step(&s);
            match &s {
                InstanceState::RunningPrimary => assert_eq!(step, PromoteStep::AlreadyPrimary),
                InstanceState::RunningStandby => assert_eq!(step, PromoteStep::Promote),
                InstanceState::Stopped => assert_eq!(step, PromoteStep::StartThenPromote),
                _ => {
                    let PromoteStep::Refuse(e) = step else {
                        panic!("{s:?}: {step:?}")
                    };
                    assert_eq!(e.code, OcfCode::ErrGeneric, "{s:?}");
                }
            }
        }
    }
}
