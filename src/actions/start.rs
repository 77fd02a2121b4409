//! `start`: always as a standby. A former primary that crashed is refused, since its WAL
//! may have diverged from the primary promoted after it, unless Pacemaker recovers it in
//! place (approved at pre-demote): then it replays its own WAL as a standby. Every former
//! primary is first checked against the instance promoted elsewhere, and with
//! rejoin=rewind rewound when it diverged (`agent::rejoin`).

use crate::agent::rejoin;
use crate::agent::statefile;
use crate::agent::statefile::in_place_recovery_approved;
use crate::agent::validate;
use crate::agent::Agent;
use crate::logic::controldata::{ClusterState, ControlData};
use crate::logic::scores;
use crate::logic::state::REBUILD_CRASHED_PRIMARY;
use crate::logic::transitions::{rejoin_step, start_step, RejoinStep, Rejoiner, StartStep};
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::pacemaker::Pacemaker;

pub fn start(a: &Agent) -> OcfResult<OcfCode> {
    a.meta.check_clone_settings()?;
    validate::installation(a)?;
    validate::local_configuration(a)?;
    let probe = a.instance.settled(a.deadline)?;
    let step = start_step(
        &probe.state,
        in_place_recovery_approved(a, &probe),
        a.params.rejoin,
    );
    match &step {
        StartStep::AlreadyRunning => {
            log::info!("instance already running as a standby");
            return Ok(OcfCode::Success);
        }
        StartStep::Start => {}
        StartStep::RecoverCrashedStandby => {
            log::warning!("the standby had crashed; it recovers as a standby");
        }
        StartStep::RecoverInPlace => {
            log::warning!("the primary had crashed and Pacemaker recovers it in place: replaying its WAL as a standby");
            a.instance.reap_orphans()?;
        }
        StartStep::RejoinCrashedPrimary => {
            log::warning!("the primary had crashed: it rejoins the promoted instance, rewound if it diverged (rejoin=rewind)");
            a.instance.reap_orphans()?;
        }
        StartStep::RefuseCrashedPrimary => {
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
        StartStep::Refuse(e) => return Err(e.clone()),
    }
    let control = probe.control(&a.instance)?;
    rejoin::refuse_if_needs_rebuild(a, &control)?;
    let was_clean_primary =
        !a.instance.datadir()?.has_entry("backup_label") && control.state == ClusterState::ShutDown;
    if let Some(rejoiner) = step.rejoiner(was_clean_primary) {
        check_rejoiner(a, rejoiner, &control)?;
    }
    a.instance.start_standby(a.deadline)?;
    log::info!("instance started as a standby");
    statefile::forget(&a.crash_record_file());
    statefile::forget(&a.in_place_recovery_file());
    if was_clean_primary {
        apply_first_start_rule(a.pacemaker(), a.node());
    }
    Ok(OcfCode::Success)
}

/// A former primary, or a cleanly stopped standby, starts only when it can follow the
/// instance promoted elsewhere (after a rewind with rejoin=rewind); see `rejoin_step` for
/// the rest.
fn check_rejoiner(a: &Agent, rejoiner: Rejoiner, control: &ControlData) -> OcfResult<()> {
    match rejoin_step(
        rejoiner,
        rejoin::check(a, control, rejoiner),
        a.params.rejoin,
    ) {
        RejoinStep::Start => Ok(()),
        RejoinStep::StartUnchecked(e) => {
            log::warning!(
                "could not check that this instance can follow the promoted one: {}",
                e.message()
            );
            Ok(())
        }
        RejoinStep::Refuse(e) => Err(e),
    }
}

/// A cleanly stopped primary that comes back when no node has a promotion score gets a
/// small one, so Pacemaker can elect a primary on a cold start.
fn apply_first_start_rule(attrs: &dyn Pacemaker, local: &str) {
    let result = attrs.partition().and_then(|partition| {
        let existing = partition
            .iter()
            .map(|n| attrs.score(n))
            .collect::<Result<Vec<_>, _>>()?;
        match scores::first_start_score(true, &existing) {
            Some(score) => {
                log::info!("no promotion score in the partition and this instance was a cleanly stopped primary: setting its score to {score}");
                attrs.set_score(local, score)
            }
            None => Ok(()),
        }
    });
    if let Err(e) = result {
        log::warning!("first-start promotion score not set: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacemaker::FakePacemaker;

    #[test]
    fn a_clean_former_primary_gets_the_first_start_score_only_when_no_node_is_promotable() {
        for pm in [
            FakePacemaker::new(&["n1", "n2", "n3"]),
            FakePacemaker::new(&["n1", "n2", "n3"]).with_score("n2", -1),
        ] {
            apply_first_start_rule(&pm, "n1");
            assert_eq!(
                *pm.score_writes.borrow(),
                [("n1".to_string(), scores::FIRST_START)]
            );
        }
        for existing in [scores::FIRST_START, 0, 1000] {
            let pm = FakePacemaker::new(&["n1", "n2", "n3"]).with_score("n2", existing);
            apply_first_start_rule(&pm, "n1");
            assert!(pm.score_writes.borrow().is_empty(), "{existing}");
        }
    }

    #[test]
    fn scores_that_cannot_be_read_set_no_first_start_score() {
        let pm = FakePacemaker::new(&["n1", "n2"]);
        pm.down.set(true);
        apply_first_start_rule(&pm, "n1");
        assert!(pm.score_writes.borrow().is_empty());
    }
}
