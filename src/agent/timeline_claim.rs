//! Before pg_promote: reserves the timelines other nodes' promotions claimed that this node
//! never heard of, then claims the one it takes, on every node (`logic::timelines`). Best
//! effort: the promotion goes on when it fails (a twin is still refused at rejoin).

use crate::agent::rejoin;
use crate::agent::statefile;
use crate::agent::Agent;
use crate::logic::divergence;
use crate::logic::timelines::{self, TIMELINE_CLAIM};
use crate::ocf::log;
use crate::ocf::log::brief;
use crate::ocf::OcfError;
use crate::pacemaker::Pacemaker;
use crate::postgres::sql::Db;

pub fn reserve_and_claim(a: &Agent, db: &Db) {
    if let Err(e) = try_reserve_and_claim(a, db) {
        log::warning!(
            "timeline of this promotion not claimed: {}; PostgreSQL picks it alone",
            e.message()
        );
    }
}

fn try_reserve_and_claim(a: &Agent, db: &Db) -> Result<(), OcfError> {
    let position = db.standby_position().map_err(OcfError::generic)?;
    let local_newest =
        divergence::newest_timeline(position.timeline, &rejoin::local_history_files(a)?);
    let pm = a.pacemaker();
    let claims = pm.private_all(TIMELINE_CLAIM)?;
    let plan = timelines::plan(local_newest, claims.values().map(String::as_str));
    if !plan.reserve.is_empty() {
        let parent = rejoin::history_text(a, position.timeline)?;
        let user = a.instance.user()?;
        for reserved in plan.reserve.clone() {
            let path = rejoin::history_path(a, reserved);
            let text = timelines::placeholder_history(&parent, position, reserved);
            user.as_effective(|| statefile::create_private(&path, &text))?
                .map_err(|e| {
                    OcfError::generic(format!("cannot create {}: {e}", brief(path.display())))
                })?;
        }
        let (first, last) = (plan.reserve.start(), plan.reserve.end());
        let claimed = if first == last {
            format!("timeline {first} was")
        } else {
            format!("timelines {first} to {last} were")
        };
        log::warning!(
            "{claimed} claimed by another node's promotion and not in this node's history: reserved with a placeholder history file, so this promotion takes timeline {}",
            plan.target
        );
    }
    claim(pm, a.node(), claims.keys(), plan.target)
}

/// Writes the claim to every node of the partition, every node that holds a claim, and
/// this one: each keeps its copy when the claimant is lost.
fn claim<'a>(
    pm: &dyn Pacemaker,
    local: &str,
    holders: impl Iterator<Item = &'a String>,
    target: u32,
) -> Result<(), OcfError> {
    let mut nodes = pm.partition()?;
    nodes.extend(holders.cloned());
    nodes.insert(local.to_string());
    let value = target.to_string();
    for node in &nodes {
        pm.change_for(node, TIMELINE_CLAIM, true, Some(&value))?;
    }
    log::info!("timeline {target} claimed for this promotion");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacemaker::FakePacemaker;

    #[test]
    fn the_claim_reaches_every_node_and_outlives_the_claimant() {
        let pm = FakePacemaker::new(&["n1", "n2"]).with_attribute(TIMELINE_CLAIM, "n3", "6");
        let holders = pm.private_all(TIMELINE_CLAIM).unwrap();
        claim(&pm, "n1", holders.keys(), 7).unwrap();
        for node in ["n1", "n2", "n3"] {
            assert_eq!(pm.attribute(TIMELINE_CLAIM, node).as_deref(), Some("7"));
        }
    }
}
