//! The standby monitor's part of headless recovery (the rules are in `headless`). While
//! the WAL receiver streams, a primary exists and nothing else is asked: no child process.
//! Otherwise Pacemaker is asked whether an instance is promoted or promotable; when none
//! is, the running standbys publish their positions and the most advanced one takes a
//! promotion score. It never fails the monitor: problems are logged by the caller.

use crate::agent::statefile;
use crate::agent::sync_standbys;
use crate::agent::Agent;
use crate::logic::election::Published;
use crate::logic::headless::{self, Decision};
use crate::logic::lsn::Lsn;
use crate::logic::scores;
use crate::ocf::log;
use crate::postgres::sql::Db;
use std::collections::{BTreeMap, BTreeSet};

/// Private attribute: the position a standby publishes while the cluster has no primary.
pub const POSITION: &str = "headless_position";
/// Private attribute of a standby, set by the primary's monitor (maxlag set) when it finds
/// that standby beyond maxlag: the primary's LSN then, the last primary position it leaves
/// to the cluster.
pub const BEYOND_MAXLAG: &str = "beyond_maxlag";
/// Public attribute (`crm_mon -A`): what this standby found and did about a cluster
/// without a primary.
pub const STATUS: &str = "headless";

pub fn check_standby(a: &Agent, db: &Db) -> Result<(), String> {
    if db.wal_receiver_streaming()? {
        return settle(a);
    }
    let attrs = a.pacemaker();
    let instances = attrs.locate().map_err(|e| e.to_string())?;
    if instances.iter().any(|i| i.promoted) {
        return settle(a);
    }
    let local = a.node();
    let mut standbys: BTreeSet<String> = instances.into_iter().map(|i| i.node).collect();
    standbys.insert(local.to_string());
    let scores = standbys
        .iter()
        .map(|n| Ok((n.clone(), attrs.score(n)?)))
        .collect::<Result<BTreeMap<_, _>, crate::pacemaker::PacemakerError>>()
        .map_err(|e| e.to_string())?;
    if let Some(candidate) = headless::candidate(&scores) {
        // Pacemaker is on its way (a failover, or the promotion this recovery asked for):
        // only a report already shown is brought up to date.
        if a.headless_report_file().exists() {
            report(a, &candidate.describe())?;
        }
        return Ok(());
    }
    let mine = db.standby_position()?;
    let published = attrs.private_all(POSITION).map_err(|e| e.to_string())?;
    if published.get(local) != Some(&mine.to_attribute()) {
        attrs
            .set_private(POSITION, &mine.to_attribute())
            .map_err(|e| e.to_string())?;
    }
    let others: BTreeMap<String, Published> = standbys
        .iter()
        .filter(|n| n.as_str() != local)
        .map(|n| {
            (
                n.clone(),
                Published::parse(published.get(n).map(String::as_str)),
            )
        })
        .collect();
    let records: Vec<Lsn> = if a.params.maxlag > 0 {
        attrs
            .private_all(BEYOND_MAXLAG)
            .map_err(|e| e.to_string())?
            .values()
            .filter_map(|v| v.parse().ok().map(Lsn))
            .collect()
    } else {
        Vec::new()
    };
    let mut decision = headless::decide(local, mine, &others, &records, a.params.maxlag);
    if a.params.sync_mode.is_managed() {
        if let Some(record) = sync_standbys::read_record(attrs)? {
            decision = headless::require_proof(decision, &record, local, mine, &others);
        }
    }
    // The report comes first: the score starts a transition, which may cancel this monitor.
    report(a, &decision.describe())?;
    if let Decision::TakePromotion(_) = decision {
        attrs
            .set_score(local, scores::BEST_STANDBY)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Logs and publishes what this standby found, when it differs from its last report.
fn report(a: &Agent, text: &str) -> Result<(), String> {
    let path = a.headless_report_file();
    let last = statefile::load_text(&path);
    if last.as_deref() == Some(text) {
        return Ok(());
    }
    if last.is_none() {
        log::warning!("the cluster has no promoted instance and no node Pacemaker can promote");
    }
    log::warning!("{text}");
    // the file first: whatever interrupts this, settle() finds something to withdraw
    statefile::save_text(&path, text)
        .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    a.pacemaker()
        .change_for(a.node(), STATUS, false, Some(text))
        .map_err(|e| e.to_string())
}

/// A primary exists (maybe this node): withdraws what this node published while there was
/// none. Costs one file lookup when it published nothing.
pub fn settle(a: &Agent) -> Result<(), String> {
    let path = a.headless_report_file();
    if !path.exists() {
        return Ok(());
    }
    log::info!("the cluster has a primary again");
    let attrs = a.pacemaker();
    attrs
        .change_for(a.node(), STATUS, false, None)
        .and_then(|()| attrs.change_for(a.node(), POSITION, true, None))
        .map_err(|e| e.to_string())?;
    statefile::forget(&path);
    Ok(())
}
