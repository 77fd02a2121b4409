//! The primary's side of managed synchronous replication (`sync_mode` on or strict):
//! carries out `logic::sync`'s steps against PostgreSQL and the CIB record, in their order
//! (widen the record, then PostgreSQL; narrow PostgreSQL, then the record once flushed).

use crate::agent::statefile::{self, PrimaryMemory};
use crate::agent::Agent;
use crate::logic::lsn::{Lsn, WalPosition};
use crate::logic::scores::{self, ReplicationRow};
use crate::logic::sync::{self, Step, SyncRecord, SyncSet};
use crate::ocf::config::SyncMode;
use crate::ocf::log;
use crate::pacemaker::Pacemaker;
use crate::postgres::sql::{Db, PrimarySyncState};
use std::collections::BTreeSet;
use std::path::Path;

/// What the primary's monitor keeps between rounds: the record as last read or written,
/// the WAL position at which PostgreSQL took a value not recorded yet, and the last
/// warning logged (so each is logged once per change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncMemory {
    pub record: Option<SyncRecord>,
    pub pending: Option<(SyncSet, Lsn)>,
    pub warning: String,
}

impl SyncMemory {
    fn render(&self) -> String {
        let record = self.record.as_ref().map(SyncRecord::render);
        let pending = self.pending.as_ref().map(|(set, lsn)| {
            format!(
                "{lsn} {}",
                SyncRecord {
                    timeline: 0,
                    set: set.clone(),
                    primary: String::new(),
                    since: None,
                }
                .render()
            )
        });
        format!(
            "record={}\npending={}\nwarning={}\n",
            record.unwrap_or_default(),
            pending.unwrap_or_default(),
            self.warning
        )
    }

    fn parse(text: &str) -> Self {
        let mut m = SyncMemory::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("record", v)) => m.record = SyncRecord::parse(v),
                Some(("pending", v)) => {
                    m.pending = v.split_once(' ').and_then(|(lsn, set)| {
                        Some((SyncRecord::parse(set)?.set, lsn.parse().ok()?))
                    })
                }
                Some(("warning", v)) => m.warning = v.to_string(),
                _ => {}
            }
        }
        m
    }

    pub fn load(path: &Path) -> Self {
        statefile::load_text(path)
            .map(|t| Self::parse(&t))
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        statefile::save_text(path, &self.render())
            .map_err(|e| format!("cannot save {}: {e}", path.display()))
    }
}

/// Reads the CIB record; `None` when the agent never wrote one.
pub fn read_record(pm: &dyn Pacemaker) -> Result<Option<SyncRecord>, String> {
    match pm.sync_record().map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(v) => SyncRecord::parse(&v)
            .map(Some)
            .ok_or_else(|| format!("the synchronous replication record {v:?} is malformed")),
    }
}

/// Writes the CIB record, only with quorum: a partition without it could be the one whose
/// record the cluster forgets.
pub fn write_record(pm: &dyn Pacemaker, record: &SyncRecord) -> Result<(), String> {
    if !pm.has_quorum().map_err(|e| e.to_string())? {
        return Err(
            "this partition has no quorum: the synchronous replication record is left as it is"
                .into(),
        );
    }
    pm.set_sync_record(&record.render())
        .map_err(|e| e.to_string())?;
    log::info!(
        "synchronous replication record: timeline {}, ANY {} of [{}]",
        record.timeline,
        record.set.k,
        record
            .set
            .members
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Sets `synchronous_standby_names` and remembers the WAL position at which it took
/// effect; says so in the log.
fn apply(a: &Agent, db: &Db, memory: &mut SyncMemory, set: &SyncSet) -> Result<(), String> {
    db.set_synchronous_standby_names(&set.setting(), a.deadline)?;
    let lsn = db.current_wal_lsn()?;
    memory.pending = Some((set.clone(), lsn));
    log::info!(
        "synchronous_standby_names set to '{}' (sync_mode={})",
        set.setting(),
        a.params.sync_mode.name()
    );
    Ok(())
}

/// What the administrator must know about the protection of writes now, if anything.
fn warning(mode: SyncMode, sync_count: usize, eligible: usize, pg: &SyncSet) -> String {
    match mode {
        SyncMode::On if pg.setting().is_empty() => "no standby streams: synchronous_standby_names is empty, commits are acknowledged without any standby and no standby can be promoted automatically until one has caught up".into(),
        SyncMode::Strict if eligible < sync_count => format!(
            "{eligible} of sync_count={sync_count} standbys stream: synchronous_standby_names stays '{}', writes wait for the missing ones",
            pg.setting()
        ),
        _ => String::new(),
    }
}

/// The primary monitor's round: moves PostgreSQL and the record towards what the
/// streaming standbys allow, as far as it can now.
pub fn manage(
    a: &Agent,
    db: &Db,
    partition: &BTreeSet<String>,
    rows: &[ReplicationRow],
) -> Result<(), String> {
    let mode = a.params.sync_mode;
    let sync_count = a.params.sync_count as usize;
    let PrimarySyncState {
        standby_names: names,
        commit,
        timeline,
    } = db.primary_sync_state()?;
    if !sync::commits_wait_for_standbys(&commit) {
        return Err(format!(
            "synchronous_standby_names not managed: synchronous_commit is {commit}, so commits never wait for a standby; set it to on (sync_mode={})",
            mode.name()
        ));
    }
    let eligible = sync::eligible(a.node(), partition, rows, a.params.maxlag);
    let grace = scores::Grace {
        now: statefile::boot_seconds(),
        promoted_at: PrimaryMemory::load(&a.primary_memory_file()).promoted_at,
        lost: Default::default(),
    };
    let just_promoted = grace
        .promoted_at
        .is_some_and(|at| grace.within(at, scores::CONNECT_GRACE));
    let members_for = |recorded: &SyncSet| {
        sync::with_reconnecting(&eligible, recorded, partition, a.node(), just_promoted)
    };
    let path = a.sync_memory_file();
    let mut memory = SyncMemory::load(&path);
    let mut pg = SyncSet::parse_setting(&names);
    let before = memory.clone();
    // the steady state asks Pacemaker nothing
    let settled = memory.record.as_ref().is_some_and(|r| {
        r.timeline == timeline
            && pg.as_ref() == Some(&r.set)
            && sync::target(mode, sync_count, &members_for(&r.set), &r.set) == r.set
    });
    let result = if settled {
        Ok(())
    } else {
        steps(a, db, timeline, &members_for, &mut memory, &mut pg)
    };
    let now = pg.as_ref().map_or_else(String::new, |pg| {
        warning(mode, sync_count, eligible.len(), pg)
    });
    if now != memory.warning {
        if now.is_empty() {
            log::info!("synchronous replication protects writes again");
        } else {
            log::warning!("{now}");
        }
        memory.warning = now;
    }
    if memory != before {
        memory.save(&path)?;
    }
    result
}

/// Reads the record and takes the steps towards the target, each confirmed before the
/// next: at most widen the record, apply, record the target.
fn steps(
    a: &Agent,
    db: &Db,
    timeline: u32,
    members_for: &dyn Fn(&SyncSet) -> BTreeSet<String>,
    memory: &mut SyncMemory,
    pg: &mut Option<SyncSet>,
) -> Result<(), String> {
    let (mode, sync_count) = (a.params.sync_mode, a.params.sync_count as usize);
    let (mut record, since) = match read_record(a.pacemaker())? {
        Some(r) if r.timeline > timeline => {
            return Err(format!(
                "the synchronous replication record is for timeline {}, later than this primary's {timeline}: left alone",
                r.timeline
            ))
        }
        // this primary's own promotion point goes on holding on its timeline
        Some(r) if r.timeline == timeline => (r.set, r.since),
        Some(r) => (r.set, None),
        None => (SyncSet::default(), None),
    };
    let recorded = |set: &SyncSet| SyncRecord {
        timeline,
        set: set.clone(),
        primary: a.node().to_string(),
        since,
    };
    memory.record = Some(recorded(&record));
    let eligible = members_for(&record);
    for _ in 0..3 {
        let target = sync::target(mode, sync_count, &eligible, &record);
        match sync::next_step(&record, pg.as_ref(), &target) {
            Step::Settled => break,
            Step::Record(set) => {
                write_record(a.pacemaker(), &recorded(&set))?;
                record = set;
            }
            Step::Apply(set) => {
                apply(a, db, memory, &set)?;
                *pg = Some(set);
            }
            Step::RecordWhenFlushed(set) => {
                let since = match &memory.pending {
                    Some((s, lsn)) if *s == set => *lsn,
                    // applied by a monitor whose memory is lost: the position now is
                    // later, so waiting for it is safe
                    _ => {
                        let lsn = db.current_wal_lsn()?;
                        memory.pending = Some((set.clone(), lsn));
                        lsn
                    }
                };
                if !sync::all_flushed(&set.members, &db.flushed()?, since) {
                    log::debug!(
                        "the synchronous replication record waits for every member to flush past {since}"
                    );
                    break;
                }
                write_record(a.pacemaker(), &recorded(&set))?;
                memory.pending = None;
                record = set;
            }
        }
        memory.record = Some(recorded(&record));
    }
    Ok(())
}

fn promoted_start(a: &Agent, former: &SyncSet) -> SyncSet {
    sync::promoted_start(
        a.params.sync_mode,
        a.params.sync_count as usize,
        former,
        a.node(),
    )
}

/// Before pg_promote: the standby takes the value it must run with as a primary (a
/// standby ignores it; an old value in its postgresql.auto.conf would take effect at the
/// promotion otherwise).
pub fn before_promotion(a: &Agent, db: &Db, former: &SyncSet) -> Result<(), String> {
    db.set_synchronous_standby_names(&promoted_start(a, former).setting(), a.deadline)
}

/// After pg_promote, before the promotion is reported done: the record for the new
/// timeline (see `sync::promoted_start`; `caught_up`: every other member had flushed as
/// far as this node at the election), and the memory the next monitor goes on from.
pub fn after_promotion(
    a: &Agent,
    db: &Db,
    former: &SyncSet,
    caught_up: bool,
) -> Result<(), String> {
    let timeline = db.primary_sync_state()?.timeline;
    let since = if caught_up {
        None
    } else {
        Some(WalPosition {
            timeline,
            lsn: db.current_wal_lsn()?,
        })
    };
    let record = SyncRecord {
        timeline,
        set: promoted_start(a, former),
        primary: a.node().to_string(),
        since,
    };
    write_record(a.pacemaker(), &record)?;
    SyncMemory {
        record: Some(record),
        pending: None,
        warning: String::new(),
    }
    .save(&a.sync_memory_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips() {
        let m = SyncMemory {
            record: Some(SyncRecord {
                timeline: 3,
                set: SyncSet::new(1, &["a", "b"]),
                primary: "p".into(),
                since: Some(WalPosition {
                    timeline: 3,
                    lsn: Lsn(0x3000000),
                }),
            }),
            pending: Some((SyncSet::new(1, &["a"]), Lsn(0x3000060))),
            warning: "writes wait".into(),
        };
        assert_eq!(SyncMemory::parse(&m.render()), m);
        assert_eq!(SyncMemory::parse(""), SyncMemory::default());
    }

    #[test]
    fn the_record_is_written_only_with_quorum() {
        let pm = crate::pacemaker::FakePacemaker::new(&["n1", "n2"]);
        let r = SyncRecord {
            timeline: 2,
            set: SyncSet::new(1, &["n2"]),
            primary: "n1".into(),
            since: None,
        };
        pm.quorate.set(false);
        assert!(write_record(&pm, &r).is_err());
        assert_eq!(*pm.sync_record.borrow(), None);
        pm.quorate.set(true);
        write_record(&pm, &r).unwrap();
        assert_eq!(read_record(&pm), Ok(Some(r)));
    }
}
