//! `notify`: the election's pre-promote round (each node publishes its WAL position; a
//! switchover's target proves it received the old primary's shutdown checkpoint), the
//! post-promote cleanup, and the approval of a crashed primary's in-place recovery at
//! pre-demote.
//! Pacemaker ignores notify results, so problems are logged and success returned.

use crate::agent::headless_recovery;
use crate::agent::statefile::{self, CrashRecord};
use crate::agent::Agent;
use crate::logic::divergence;
use crate::logic::election::Published;
use crate::logic::election::{
    CANCEL_SWITCHOVER, CANDIDATES, DEMOTED_CRASHED, LSN_LOCATION, SWITCHOVER_CHECK_FAILED,
    SWITCHOVER_UNSAFE,
};
use crate::logic::lsn::WalPosition;
use crate::logic::notify::{Notification, Operation, When};
use crate::logic::shutdown_checkpoint;
use crate::logic::state::InstanceState;
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::pacemaker::Pacemaker;
use crate::system::command;

pub fn notify(a: &Agent) -> OcfResult<OcfCode> {
    let n = match Notification::from_env(&a.env) {
        Ok(n) => n,
        // Pacemaker always sets both variables; a manual run or ocf-tester may not, and a
        // notify result is ignored anyway: say why nothing was done.
        Err(e) => {
            log::warning!("notification ignored: {e}");
            return Ok(OcfCode::Success);
        }
    };
    log::debug!("notification {:?}-{:?}: {:?}", n.when, n.operation, n.nodes);
    let result = match (n.when, n.operation) {
        (When::Pre, Operation::Promote) => pre_promote(a, &n),
        (When::Post, Operation::Promote) => post_promote(a.pacemaker()),
        (When::Pre, Operation::Demote) => pre_demote(a, &n),
        _ => Ok(()),
    };
    if let Err(e) = result {
        log::warning!(
            "{:?}-{:?} notification: {}",
            n.when,
            n.operation,
            e.message()
        );
    }
    Ok(OcfCode::Success)
}

/// Removes what a previous election left: its positions, candidate list and verdict, and
/// what a headless recovery published.
fn clear_election(pm: &dyn Pacemaker) -> OcfResult<()> {
    pm.delete_private_all(&[
        LSN_LOCATION,
        CANDIDATES,
        CANCEL_SWITCHOVER,
        headless_recovery::POSITION,
    ])?;
    Ok(())
}

/// The election is over, and with it the hint of a crashed primary's demote (kept until
/// now: the promotee reads it at pre-promote, after every node cleared its own election).
fn post_promote(pm: &dyn Pacemaker) -> OcfResult<()> {
    clear_election(pm)?;
    pm.delete_private_all(&[DEMOTED_CRASHED])?;
    Ok(())
}

fn pre_promote(a: &Agent, n: &Notification) -> OcfResult<()> {
    let local = a.node();
    clear_election(a.pacemaker())?;
    if let Some(promotee) = n.promotee() {
        log::info!("promotion of {promotee} announced");
    }
    let cancel = switchover_to_check(a.pacemaker(), n, local).and_then(|old| {
        log::info!("switchover from {old} to this node: checking this standby received {old}'s shutdown checkpoint");
        let verdict = match received_shutdown_checkpoint(a) {
            Ok(true) => None,
            Ok(false) => Some(SWITCHOVER_UNSAFE),
            Err(e) => {
                log::warning!("switchover check failed: {}", e.message());
                Some(SWITCHOVER_CHECK_FAILED)
            }
        };
        match verdict {
            Some(_) => log::warning!(
                "switchover from {old} is not safe: the promotion will be cancelled"
            ),
            None => log::info!("this standby received {old}'s shutdown checkpoint"),
        }
        verdict
    });
    publish_for_election(a.pacemaker(), local, n, cancel, || own_position(a))
}

/// The old primary of a switchover to `local`, unless its demote left it down as a crashed
/// primary: it wrote no shutdown checkpoint, so the promotion is a failover, which the
/// election decides. An unreadable hint keeps the check.
fn switchover_to_check<'a>(
    pm: &dyn Pacemaker,
    n: &'a Notification,
    local: &str,
) -> Option<&'a str> {
    let old = n.switchover_from(local)?;
    if let Ok(Some(_)) = pm.private(DEMOTED_CRASHED, old) {
        log::warning!("{old}, the primary demoted in this transition, had crashed and is left down: this promotion is a failover, the election decides");
        return None;
    }
    Some(old)
}

/// This node's part of the election: the verdict that cancels an unsafe switchover, or
/// else its WAL position ("unknown" when it cannot be read: it then cannot win), and, on
/// the promotee, the candidates the promote must wait for.
fn publish_for_election(
    pm: &dyn Pacemaker,
    local: &str,
    n: &Notification,
    cancel: Option<&str>,
    position: impl FnOnce() -> OcfResult<WalPosition>,
) -> OcfResult<()> {
    if let Some(value) = cancel {
        pm.set_private(CANCEL_SWITCHOVER, value)?;
        return Ok(());
    }
    let published = match position() {
        Ok(p) => {
            log::info!("WAL position of this node: {p}");
            p.to_attribute()
        }
        Err(e) => {
            log::warning!(
                "WAL position unknown ({}): this node cannot be promoted now",
                e.message()
            );
            Published::UNKNOWN.to_string()
        }
    };
    pm.set_private(LSN_LOCATION, &published)?;
    if n.promotee() == Some(local) {
        let list: Vec<String> = n.candidates().into_iter().collect();
        pm.set_private(CANDIDATES, &list.join(" "))?;
    }
    Ok(())
}

/// Timeline and the furthest of received and replayed WAL, after a restartpoint so
/// pg_control's timeline is current.
fn own_position(a: &Agent) -> OcfResult<WalPosition> {
    let probe = a.instance.probe()?;
    let db = match (&probe.state, probe.db) {
        (InstanceState::RunningStandby, Some(db)) => db,
        (state, _) => {
            return Err(OcfError::generic(format!(
                "instance is not a running standby ({state:?})"
            )))
        }
    };
    db.checkpoint().map_err(OcfError::generic)?;
    db.standby_position().map_err(OcfError::generic)
}

/// Reads this standby's WAL from the last restartpoint to the last received record,
/// looking for the shutdown checkpoint a cleanly stopped primary writes last.
fn received_shutdown_checkpoint(a: &Agent) -> OcfResult<bool> {
    let probe = a.instance.probe()?;
    let db = probe
        .db
        .ok_or_else(|| OcfError::generic("the standby does not answer"))?;
    db.checkpoint().map_err(OcfError::generic)?;
    let (redo, timeline) = db.checkpoint_redo().map_err(OcfError::generic)?;
    let last = db
        .standby_wal()
        .map_err(OcfError::generic)?
        .received
        .ok_or_else(|| OcfError::generic("this standby has received no WAL"))?;
    let segment_size = a.instance.controldata()?.wal_segment_size;
    let segments = divergence::waldump_segments(&[], timeline, redo, Some(last), segment_size);
    let cmd = a.instance.waldump(segments, redo, Some(last))?;
    // pg_waldump complains at the end of the received WAL; the records it printed before
    // are what counts.
    let out = command::run(cmd, a.deadline)?;
    Ok(shutdown_checkpoint::received(&out.stdout, timeline))
}

/// Pacemaker recovers a crashed primary in place (demote, stop, start, promote on this
/// node): approve, against its pg_control, that start replays its WAL as a standby (never
/// as a writable primary). Demote and stop leave it down, so the WAL is replayed once.
/// Only in that case: a crashed primary Pacemaker moves away must stay down until rebuilt.
fn pre_demote(a: &Agent, n: &Notification) -> OcfResult<()> {
    let local = a.node();
    if !n.nodes.demote.contains(local) {
        return Ok(());
    }
    let approval = a.in_place_recovery_file();
    if !n.is_primary_recovery(local) {
        statefile::forget(&approval);
        return Ok(());
    }
    let probe = a.instance.probe()?;
    if let InstanceState::CrashedPrimary(_) = probe.state {
        CrashRecord::of(&probe.control(&a.instance)?)
            .save(&approval)
            .map_err(|e| OcfError::generic(format!("cannot write {}: {e}", approval.display())))?;
        log::warning!(
            "primary crashed and Pacemaker recovers it in place: start will replay its WAL as a standby"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::election::test_support::pos;
    use crate::logic::notify::NodeLists;
    use crate::pacemaker::FakePacemaker;

    fn promotion_of(promotee: &str) -> Notification {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Notification {
            when: When::Pre,
            operation: Operation::Promote,
            nodes: NodeLists {
                active: set(&["n1", "n2", "n3"]),
                promote: set(&[promotee]),
                unpromoted: set(&["n1", "n2", "n3"]),
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_promotee_publishes_its_position_and_the_candidates() {
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]);
        publish_for_election(&pm, "n1", &promotion_of("n1"), None, || Ok(pos(2, 77))).unwrap();
        assert_eq!(pm.attribute(LSN_LOCATION, "n1").as_deref(), Some("2#77"));
        assert_eq!(pm.attribute(CANDIDATES, "n1").as_deref(), Some("n1 n2 n3"));
    }

    #[test]
    fn another_candidate_publishes_only_its_position_unknown_if_unreadable() {
        let pm = FakePacemaker::new(&["n2", "n1", "n3"]);
        publish_for_election(&pm, "n2", &promotion_of("n1"), None, || {
            Err(OcfError::generic("instance is not a running standby"))
        })
        .unwrap();
        assert_eq!(
            pm.attribute(LSN_LOCATION, "n2").as_deref(),
            Some(Published::UNKNOWN)
        );
        assert_eq!(pm.attribute(CANDIDATES, "n2"), None);
    }

    #[test]
    fn an_unsafe_switchover_publishes_only_the_cancellation() {
        for verdict in [SWITCHOVER_UNSAFE, SWITCHOVER_CHECK_FAILED] {
            let pm = FakePacemaker::new(&["n1", "n2"]);
            let never =
                || -> OcfResult<WalPosition> { panic!("position read for a cancelled switchover") };
            publish_for_election(&pm, "n1", &promotion_of("n1"), Some(verdict), never).unwrap();
            assert_eq!(
                pm.attribute(CANCEL_SWITCHOVER, "n1").as_deref(),
                Some(verdict)
            );
            assert_eq!(pm.attribute(LSN_LOCATION, "n1"), None);
        }
    }

    #[test]
    fn a_switchover_from_a_primary_demoted_as_crashed_is_a_failover() {
        let switchover = Notification {
            nodes: NodeLists {
                promoted: ["n3".to_string()].into(),
                demote: ["n3".to_string()].into(),
                ..promotion_of("n1").nodes
            },
            ..promotion_of("n1")
        };
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]);
        assert_eq!(switchover_to_check(&pm, &switchover, "n1"), Some("n3"));
        // not for the other nodes
        assert_eq!(switchover_to_check(&pm, &switchover, "n2"), None);
        let pm = pm.with_attribute(DEMOTED_CRASHED, "n3", "1");
        assert_eq!(switchover_to_check(&pm, &switchover, "n1"), None);
        // another node's hint does not count
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]).with_attribute(DEMOTED_CRASHED, "n2", "1");
        assert_eq!(switchover_to_check(&pm, &switchover, "n1"), Some("n3"));
        // unreadable: the check is made
        let pm = FakePacemaker::new(&["n1", "n2", "n3"]).with_attribute(DEMOTED_CRASHED, "n3", "1");
        pm.down.set(true);
        assert_eq!(switchover_to_check(&pm, &switchover, "n1"), Some("n3"));
    }

    #[test]
    fn the_post_promote_round_clears_the_crashed_demote_hint() {
        let pm = FakePacemaker::new(&["n3", "n1"]).with_attribute(DEMOTED_CRASHED, "n3", "1");
        post_promote(&pm).unwrap();
        assert_eq!(pm.attribute(DEMOTED_CRASHED, "n3"), None);
    }

    #[test]
    fn a_new_round_starts_from_nothing() {
        let pm = [
            LSN_LOCATION,
            CANDIDATES,
            CANCEL_SWITCHOVER,
            headless_recovery::POSITION,
        ]
        .iter()
        .fold(FakePacemaker::new(&["n1", "n2"]), |pm, attr| {
            pm.with_attribute(attr, "n1", "x")
        })
        .with_attribute(LSN_LOCATION, "n2", "1#1");
        clear_election(&pm).unwrap();
        assert_eq!(
            pm.attributes.borrow().keys().cloned().collect::<Vec<_>>(),
            [(LSN_LOCATION.to_string(), "n2".to_string())],
            "only this node's attributes are cleared"
        );
    }
}
