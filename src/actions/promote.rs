//! `promote`: promotes the local standby, unless the pre-promote round cancelled a
//! switchover or another candidate holds more WAL, in which case the promotion is handed
//! to it.

use crate::agent::Agent;
use crate::election::{
    self, Published, Verdict, CANCEL_SWITCHOVER, CANDIDATES, LSN_LOCATION, SWITCHOVER_UNSAFE,
};
use crate::history::{self, Outcome, Trace, PROMOTIONS};
use crate::instance;
use crate::log::brief;
use crate::lsn::WalPosition;
use crate::ocf::{remedy, OcfCode, OcfError, OcfResult};
use crate::pg::Db;
use crate::replication_view::{unix_now, PublishedView, REPLICATION_VIEW};
use crate::state::InstanceState;
use crate::statefile::{self, PrimaryMemory};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Time kept for pg_promote itself out of the promote timeout.
const PROMOTE_RESERVE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

pub fn promote(a: &Agent) -> OcfResult<OcfCode> {
    a.meta.check_clone_settings()?;
    a.check_identity_and_programs()?;
    let mut probe = instance::settled(a, a.deadline)?;
    match probe.state {
        InstanceState::RunningPrimary => {
            crate::info!("instance already running as a primary");
            return Ok(OcfCode::Success);
        }
        InstanceState::RunningStandby => {}
        InstanceState::Stopped => {
            instance::start_standby(a, a.deadline)?;
            probe = instance::probe(a)?;
        }
        _ => {
            return Err(OcfError {
                code: OcfCode::ErrGeneric,
                ..probe.state.refusal().within("cannot promote")
            });
        }
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

/// The switchover check, the election and pg_promote, each timed for the record.
fn promote_standby(a: &Agent, db: &Db, trace: &mut Trace) -> OcfResult<OcfCode> {
    let step = Instant::now();
    let checked = check_switchover(a);
    trace.step("switchover check", step);
    if let Err(e) = checked {
        trace.decision = Some((Outcome::Cancelled, None, e.problem.clone()));
        return Err(e);
    }
    let step = Instant::now();
    let elected = elect(a, db, trace);
    trace.step("election", step);
    elected?;
    crate::info!("promoting the instance");
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
    crate::info!("promotion complete");
    start_primary_memory(a);
    Ok(OcfCode::Success)
}

fn check_switchover(a: &Agent) -> OcfResult<()> {
    let attrs = a.attributes();
    let Some(cancel) = attrs.private(CANCEL_SWITCHOVER, a.node())? else {
        return Ok(());
    };
    let _ = attrs.delete_private(CANCEL_SWITCHOVER);
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
        .attributes()
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

fn elect(a: &Agent, db: &Db, trace: &mut Trace) -> OcfResult<()> {
    let attrs = a.attributes();
    let local = a.node();
    let candidates: BTreeSet<String> = match attrs.private(CANDIDATES, local)? {
        Some(list) => list.split_whitespace().map(str::to_string).collect(),
        None => {
            crate::warn!("no candidate list from a pre-promote notification (manual promote?): promoting without an election");
            trace.decision = Some((
                Outcome::Promoted,
                Some(local.to_string()),
                "no election: promoted without a pre-promote notification".into(),
            ));
            return Ok(());
        }
    };
    let mine = own_position(a, db)?;
    trace.mine = Some(mine);
    let wait = a
        .deadline
        .capped(a.deadline.remaining().saturating_sub(PROMOTE_RESERVE));
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
                crate::info!("this node is the most advanced candidate ({mine})");
                let rule = if others.is_empty() {
                    "only candidate"
                } else {
                    "most advanced candidate (highest timeline, then LSN; ties keep the promotee)"
                };
                trace.decision = Some((Outcome::Promoted, Some(local.to_string()), rule.into()));
                return Ok(());
            }
            Verdict::HandOver { node, position } => {
                trace.decision = Some((
                    Outcome::HandedOver,
                    Some(node.clone()),
                    format!("{node} is more advanced ({position}) than the promotee ({mine})"),
                ));
                attrs.set_score(local, crate::scores::FIRST_START)?;
                attrs.set_score(&node, crate::scores::BEST_STANDBY)?;
                return Err(OcfError::generic(format!(
                    "promotion handed over to the more advanced {}",
                    brief(&node)
                ))
                .with_remedy(remedy!("nothing to do: Pacemaker promotes it next"))
                .with_detail(format!("{node} is at {position}, this node at {mine}")));
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
    let attrs = a.attributes();
    let (views, copies) = std::thread::scope(|s| {
        let copies = s.spawn(|| attrs.private_all(PROMOTIONS));
        (attrs.private_all(REPLICATION_VIEW), copies.join())
    });
    let views: Vec<PublishedView> = views
        .unwrap_or_default()
        .values()
        .filter_map(|v| PublishedView::parse(v))
        .collect();
    let copies = match copies {
        Ok(Ok(c)) => c,
        _ => BTreeMap::new(),
    };
    let previous = history::merge(copies.values().map(String::as_str))
        .into_iter()
        .find(|r| r.outcome == Outcome::Promoted);
    let Some(record) = history::record(unix_now(), a.node(), trace, &views, previous.as_ref())
    else {
        return;
    };
    let mut nodes: BTreeSet<String> = copies.keys().cloned().collect();
    nodes.extend(record.candidates.iter().map(|c| c.node.clone()));
    let text = history::render_all(&history::with_record(
        copies.values().map(String::as_str),
        record,
    ));
    std::thread::scope(|s| {
        for node in &nodes {
            let (attrs, text) = (&attrs, &text);
            s.spawn(move || {
                if let Err(e) = attrs.change_for(node, PROMOTIONS, true, Some(text)) {
                    crate::warn!("promotion record not kept on {node}: {}", e.message());
                }
            });
        }
    });
}

/// Starts the grace periods of this new primary's monitor (see `scores::unseen_score`).
fn start_primary_memory(a: &Agent) {
    let path = a.primary_memory_file();
    let memory = PrimaryMemory {
        promoted_at: Some(statefile::boot_seconds()),
        lost: Default::default(),
    };
    if let Err(e) = memory.save(&path) {
        crate::warn!(
            "cannot save {}: {e}; standbys get no grace period to connect",
            path.display()
        );
    }
}
