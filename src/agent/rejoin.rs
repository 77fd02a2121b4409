//! The divergence check at start and, with `rejoin=rewind`, the rewind of a former primary
//! that diverged: the facts come from Pacemaker (is an instance promoted elsewhere?), the
//! primary (its timeline and history, over SQL with this node's primary_conninfo) and the
//! local WAL (pg_waldump); `divergence` decides. Everything written outside the agent's
//! runtime directory is written with the system user's rights.

use crate::agent::statefile::CrashRecord;
use crate::agent::validate;
use crate::agent::Agent;
use crate::logic::conninfo;
use crate::logic::controldata::ControlData;
use crate::logic::divergence::{self, Discarded, Divergence, Fork, HistoryEntry, RelFile};
use crate::logic::headless::Located;
use crate::logic::lsn::Lsn;
use crate::logic::state::REBUILD_CRASHED_PRIMARY;
use crate::logic::transitions::{Rejoiner, Verdict};
use crate::ocf::config::Rejoin;
use crate::ocf::log::{self, brief};
use crate::ocf::{remedy, OcfError, OcfResult};
use crate::pacemaker::Pacemaker;
use crate::postgres::remote::{RemoteError, RemoteSql};
use crate::system::command;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the record, in rejoin_dir, of a rewind that failed part-way.
const NEEDS_REBUILD: &str = "needs-rebuild";
/// Prefix of each saved rejoin's directory in rejoin_dir.
const SAVED_PREFIX: &str = "rejoin-";
/// The longest one SQL step against the primary may take.
const PRIMARY_LIMIT: Duration = Duration::from_secs(10);
/// The programs of bindir a rewind runs.
const REWIND_PROGRAMS: [&str; 2] = ["pg_rewind", "psql"];
/// The files that start PostgreSQL in recovery, which a single-user server refuses.
const SIGNAL_FILES: [&str; 2] = ["standby.signal", "recovery.signal"];
/// The functions pg_rewind calls on its source, which a non-superuser must be granted.
const REWIND_FUNCTIONS: [&str; 4] = [
    "pg_ls_dir(text, boolean, boolean)",
    "pg_stat_file(text, boolean)",
    "pg_read_binary_file(text)",
    "pg_read_binary_file(text, bigint, bigint, boolean)",
];

/// Refuses a start while a rewind that failed part-way is recorded for this very
/// pg_control; a record that no longer applies (the instance was rebuilt) is removed.
pub fn refuse_if_needs_rebuild(a: &Agent, control: &ControlData) -> OcfResult<()> {
    let path = a.params.rejoin_dir.join(NEEDS_REBUILD);
    let user = a.instance.user()?;
    if !user.as_effective(|| path.exists())? {
        return Ok(());
    }
    if user.as_effective(|| CrashRecord::of(control).is_recorded(&path))? {
        return Err(
            OcfError::generic("a pg_rewind failed part-way: the instance needs a rebuild")
                .with_remedy(remedy!(
                    "rebuild it (pg_basebackup), then crm_resource --cleanup"
                ))
                .with_detail(format!(
                    "{} records it; the saved WAL and reports stay in {}",
                    path.display(),
                    a.params.rejoin_dir.display()
                )),
        );
    }
    log::info!("the instance was rebuilt since the failed rewind: forgetting its record");
    user.as_effective(|| fs::remove_file(&path))?
        .map_err(|e| OcfError::generic(format!("cannot remove {}: {e}", path.display())))
}

/// The divergence check of a former primary or a standby (`control` is its pg_control)
/// against the promoted instance, and with `rejoin=rewind` the rewind of a diverged one.
/// An error means the check could not be made (and nothing was changed), or the rewind
/// failed.
pub fn check(a: &Agent, control: &ControlData, rejoiner: Rejoiner) -> OcfResult<Verdict> {
    let Some(primary_node) = promoted_elsewhere(a.pacemaker(), a.node()) else {
        return Ok(Verdict::NoPrimary);
    };
    let source = Source::of(a)?;
    let primary = source.connect(a, &a.params.rewind_database)?;
    let facts = primary_facts(&primary).map_err(|e| {
        OcfError::generic(format!("cannot read the primary's timeline: {}", brief(&e)))
            .with_remedy(remedy!("grant rewind_user the rights the README lists"))
            .with_detail(format!(
                "asked {} as {} on {}",
                primary_node.node, a.params.rewind_user, a.params.rewind_database
            ))
    })?;
    // A former primary's WAL ends on the newest timeline it promoted itself to (a history
    // file); a standby's on the newest it received WAL of (a segment): it may hold the
    // history of a timeline it could not follow.
    let names = pg_wal_names(a)?;
    let standby = rejoiner == Rejoiner::Standby;
    let timelines = if standby {
        divergence::segment_timelines(&names)
    } else {
        divergence::history_timelines(&names)
    };
    let local_timeline = divergence::newest_timeline(control.timeline, &timelines);
    let local_history = local_history(a, local_timeline)?;
    let fork = divergence::fork(
        local_timeline,
        &local_history,
        facts.timeline,
        &facts.history,
    );
    if standby && matches!(fork, Fork::Twin { .. }) {
        // on the primary's timeline, entered where the primary entered it: streamed from
        // it (timeline claims keep two promotions from sharing a number)
        log::debug!(
            "the standby is on the primary's timeline {}",
            facts.timeline
        );
        return Ok(Verdict::CanFollow);
    }
    let (read_from, records) = if local_timeline > control.timeline {
        // its WAL goes on past the checkpoint on a newer timeline (one it promoted itself
        // to, or a standby followed)
        let begin = local_history.last().map_or(control.redo, |e| e.end);
        (begin, waldump(a, control, local_timeline, begin)?)
    } else {
        local_wal(a, control, fork)?
    };
    let (last_record, _) = divergence::wal_end(&records).ok_or_else(|| {
        OcfError::generic("pg_waldump found no valid record in the local WAL")
            .with_remedy(REBUILD_CRASHED_PRIMARY)
    })?;
    match divergence::decide(fork, last_record) {
        Divergence::None => {
            log::info!(
                "the local WAL (timeline {}, last record at {last_record}) is part of the primary's history (timeline {}): no rewind needed",
                control.timeline,
                facts.timeline
            );
            Ok(Verdict::CanFollow)
        }
        Divergence::Twin { timeline, begin } => {
            let discarded = Discarded::from_records(timeline, begin, &records).read_from(read_from);
            if a.params.rejoin == Rejoin::Rewind {
                let saved = save_discarded(a, &primary, &source, &discarded)?;
                log::warning!("{}", discarded.summary(&saved.display().to_string()));
            }
            Ok(Verdict::CannotFollow(
                OcfError::generic("it promoted itself to the primary's timeline too")
                    .with_remedy(REBUILD_CRASHED_PRIMARY)
                    .with_detail(format!(
                        "this node and the primary both promoted to timeline {timeline} at {begin}: the same history, different WAL after it ({} committed transactions here), which pg_rewind cannot tell apart",
                        discarded.commits.len()
                    )),
            ))
        }
        Divergence::Unrelated => Ok(Verdict::CannotFollow(
            OcfError::generic("the local WAL shares no timeline with the primary's")
                .with_remedy(REBUILD_CRASHED_PRIMARY)
                .with_detail(format!(
                    "local timeline {}, primary's timeline {}",
                    control.timeline, facts.timeline
                )),
        )),
        Divergence::Diverged { timeline, fork } => {
            let discarded = Discarded::from_records(timeline, fork, &records).read_from(read_from);
            match a.params.rejoin {
                Rejoin::Manual => Ok(Verdict::CannotFollow(OcfError::generic(format!(
                    "diverged from the primary at {fork}"
                ))
                .with_remedy(remedy!("rebuild it or set rejoin=rewind, then crm_resource --cleanup"))
                .with_detail(format!(
                    "it holds WAL the promoted instance never got ({} bytes, {} committed transactions), so it cannot stream from it as it is",
                    discarded.bytes(),
                    discarded.commits.len()
                )))),
                Rejoin::Rewind => {
                    rewind(a, control, &source, &primary, &facts, &discarded)?;
                    Ok(Verdict::Rewound)
                }
            }
        }
    }
}

/// The instance Pacemaker says is promoted on another node than `local`. Without
/// Pacemaker's answer, today's rules decide, as on a cold start.
fn promoted_elsewhere(pm: &dyn Pacemaker, local: &str) -> Option<Located> {
    let located = pm.locate().unwrap_or_else(|e| {
        log::warning!("cannot tell whether another instance is promoted: {e}");
        Vec::new()
    });
    located.into_iter().find(|i| i.promoted && i.node != local)
}

/// The primary as pg_rewind and the checks reach it: this node's primary_conninfo with
/// rewind_user and rewind_database in place of its role and database.
struct Source {
    pairs: Vec<(String, String)>,
    password: Option<String>,
}

impl Source {
    fn of(a: &Agent) -> OcfResult<Self> {
        let conninfo = validate::setting(a, "primary_conninfo")?;
        let pairs = conninfo::keyword_pairs(&conninfo).ok_or_else(|| {
            OcfError::args("primary_conninfo is not in keyword=value form")
                .with_remedy(remedy!("write primary_conninfo as keyword=value pairs"))
        })?;
        let password = pairs
            .iter()
            .rev()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone());
        // the walreceiver's own role, database, mode and name are not the rewind's
        let pairs = pairs
            .into_iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "user" | "dbname" | "replication" | "password" | "application_name"
                )
            })
            .collect();
        Ok(Source { pairs, password })
    }

    /// The connection string for `database` (without the password, which goes through
    /// the environment: see `RemoteSql`).
    fn conninfo(&self, a: &Agent, database: &str) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([
                ("user", a.params.rewind_user.as_str()),
                ("dbname", database),
            ])
            .map(|(k, v)| format!("{k}={}", conninfo::quoted(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A SQL session on the primary, in `database`, checked to answer.
    fn connect(&self, a: &Agent, database: &str) -> OcfResult<RemoteSql> {
        let session = RemoteSql::new(
            a.instance.program("psql")?,
            a.instance.user()?.clone(),
            self.conninfo(a, database),
            self.password.clone(),
            PRIMARY_LIMIT,
            a.deadline,
        );
        match session.value("SELECT 1") {
            Ok(_) => Ok(session),
            Err(RemoteError::Local(e)) => Err(e.into()),
            Err(e) => Err(
                OcfError::generic(format!("cannot reach the primary: {}", brief(e)))
                    .with_detail(format!(
                        "connecting as rewind_user {} to {} with primary_conninfo's other settings",
                        a.params.rewind_user, database
                    ))
                    .with_remedy(remedy!(
                        "check primary_conninfo, rewind_user and the primary's pg_hba"
                    )),
            ),
        }
    }
}

/// The primary's timeline and its history.
struct PrimaryFacts {
    timeline: u32,
    history: Vec<HistoryEntry>,
    /// The timeline of its last checkpoint: pg_rewind reads the source's timeline there.
    checkpoint_timeline: Option<u32>,
}

fn primary_facts(db: &RemoteSql) -> Result<PrimaryFacts, RemoteError> {
    let unexpected = |what: String| RemoteError::Statement(what);
    if db.value("SELECT pg_is_in_recovery()")?.as_deref() != Some("f") {
        return Err(unexpected(
            "the instance primary_conninfo reaches is not a primary".into(),
        ));
    }
    let walfile = db
        .value("SELECT pg_walfile_name(pg_current_wal_lsn())")?
        .unwrap_or_default();
    let timeline = walfile
        .get(0..8)
        .and_then(|t| u32::from_str_radix(t, 16).ok())
        .ok_or_else(|| unexpected(format!("unexpected WAL file name {walfile:?}")))?;
    let history = if timeline > 1 {
        let text = db
            .value(&format!(
                "SELECT convert_from(pg_read_binary_file('pg_wal/{timeline:08X}.history'), 'UTF8')"
            ))?
            .unwrap_or_default();
        divergence::parse_history(&text).map_err(unexpected)?
    } else {
        Vec::new()
    };
    let checkpoint_timeline = db
        .value("SELECT timeline_id FROM pg_control_checkpoint()")
        .ok()
        .flatten()
        .and_then(|t| t.parse().ok());
    Ok(PrimaryFacts {
        timeline,
        history,
        checkpoint_timeline,
    })
}

/// The names in pg_wal, read as the system user.
fn pg_wal_names(a: &Agent) -> OcfResult<Vec<String>> {
    let pg_wal = a.params.datadir.join("pg_wal");
    let list = || -> std::io::Result<Vec<String>> {
        Ok(fs::read_dir(&pg_wal)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect())
    };
    a.instance.user()?.as_effective(list)?.map_err(|e| {
        OcfError::generic(format!("cannot read {}: {e}", brief(pg_wal.display())))
            .with_remedy(REBUILD_CRASHED_PRIMARY)
    })
}

/// The timelines pg_wal holds a history file of.
pub(crate) fn local_history_files(a: &Agent) -> OcfResult<Vec<u32>> {
    Ok(divergence::history_timelines(&pg_wal_names(a)?))
}

/// The text of a timeline's history file (empty for timeline 1, which has none), read as
/// the system user.
pub(crate) fn history_text(a: &Agent, timeline: u32) -> OcfResult<String> {
    if timeline <= 1 {
        return Ok(String::new());
    }
    let path = history_path(a, timeline);
    a.instance
        .user()?
        .as_effective(|| fs::read_to_string(&path))?
        .map_err(|e| {
            OcfError::generic(format!("cannot read {}: {e}", brief(path.display())))
                .with_remedy(REBUILD_CRASHED_PRIMARY)
        })
}

/// Where pg_wal keeps a timeline's history file.
pub(crate) fn history_path(a: &Agent, timeline: u32) -> std::path::PathBuf {
    a.params
        .datadir
        .join(format!("pg_wal/{timeline:08X}.history"))
}

/// The local timeline's history (none for timeline 1), read as the system user.
fn local_history(a: &Agent, timeline: u32) -> OcfResult<Vec<HistoryEntry>> {
    divergence::parse_history(&history_text(a, timeline)?).map_err(|e| {
        OcfError::generic(format!("{timeline:08X}.history: {}", brief(&e)))
            .with_remedy(REBUILD_CRASHED_PRIMARY)
    })
}

/// The local WAL's records from the fork (or the last checkpoint's redo point, whichever
/// comes first and is on the local timeline) to its last valid record, and where they
/// were read from.
fn local_wal(
    a: &Agent,
    control: &ControlData,
    fork: Fork,
) -> OcfResult<(Lsn, Vec<divergence::WalRecord>)> {
    let from_fork = match fork {
        Fork::At { timeline, lsn }
        | Fork::Twin {
            timeline,
            begin: lsn,
        } if timeline == control.timeline && lsn < control.redo => Some(lsn),
        _ => None,
    };
    if let Some(start) = from_fork {
        let records = waldump(a, control, control.timeline, start)?;
        if !records.is_empty() {
            return Ok((start, records));
        }
        log::warning!("the local WAL from the fork point {start} is gone: reading it from the last checkpoint");
    }
    Ok((
        control.redo,
        waldump(a, control, control.timeline, control.redo)?,
    ))
}

fn waldump(
    a: &Agent,
    control: &ControlData,
    timeline: u32,
    start: Lsn,
) -> OcfResult<Vec<divergence::WalRecord>> {
    let segments = divergence::waldump_segments(
        &pg_wal_names(a)?,
        timeline,
        start,
        None,
        control.wal_segment_size,
    );
    let cmd = a.instance.waldump(segments, start, None)?;
    // pg_waldump ends with an error at the end of the WAL: the records before it count.
    let out = command::run(cmd, a.deadline)?;
    let records = divergence::parse_waldump(&out.stdout);
    if records.is_empty() {
        // its error is then the one clue to why the WAL cannot be read from there
        log::warning!(
            "pg_waldump found no record on timeline {timeline} from {start}: {}",
            brief(out.last_error_line())
        );
    }
    Ok(records)
}

/// Saves what the instance holds past the fork, then rewinds it from the primary.
fn rewind(
    a: &Agent,
    control: &ControlData,
    source: &Source,
    primary: &RemoteSql,
    facts: &PrimaryFacts,
    discarded: &Discarded,
) -> OcfResult<()> {
    check_rewind_possible(a)?;
    check_rights(primary)?;
    wait_for_checkpoint(a, primary, facts)?;
    let user = a.instance.user()?;
    let saved = save_discarded(a, primary, source, discarded)?;
    log::warning!("{}", discarded.summary(&saved.display().to_string()));
    let config = user
        .as_effective(|| own_config(&a.params.datadir))?
        .map_err(|e| {
            OcfError::generic(format!(
                "cannot read the configuration files in datadir: {e}"
            ))
            .with_remedy(remedy!("check the data directory's permissions"))
        })?;
    if !control.state.is_clean_shutdown() {
        // pg_rewind first completes crash recovery in single-user mode, which refuses
        // standby mode: a signal file left by a start cut short must go (the start after
        // the rewind writes standby.signal again)
        let removed = user
            .as_effective(|| remove_signal_files(&a.params.datadir))?
            .map_err(|e| {
                OcfError::generic(format!("cannot remove a signal file from datadir: {e}"))
                    .with_remedy(remedy!("check the data directory's permissions"))
            })?;
        for name in removed {
            log::info!("removed {name} for pg_rewind's crash recovery in single-user mode");
        }
    }
    let mut cmd = a.instance.command("pg_rewind")?;
    cmd.arg("--target-pgdata")
        .arg(&a.params.datadir)
        .arg(format!("--source-server={}", primary.conninfo()));
    primary.connection_environment(&mut cmd);
    // WAL the rewind needs may be archived only: pg_rewind then fetches it with this
    // node's own restore_command (PostgreSQL 13 and later).
    if !validate::setting(a, "restore_command")?.is_empty() {
        if validate::major_version(a)? >= 13 {
            cmd.arg("--restore-target-wal");
        } else {
            log::warning!("restore_command is set but PostgreSQL 12's pg_rewind cannot use it: only the WAL in pg_wal counts");
        }
    }
    if a.params.pgdata != a.params.datadir {
        cmd.arg(format!(
            "--config-file={}",
            a.params.pgdata.join("postgresql.conf").display()
        ));
    }
    log::info!("running pg_rewind against the primary");
    let result = command::run(cmd, a.deadline);
    let failure = match &result {
        Ok(out) if out.success => None,
        Ok(out) => {
            // the exit reason has room for its last line only; the cause (the single-user
            // recovery's own error, say) is often a line above
            for line in out.stderr.lines().filter(|l| !l.trim().is_empty()) {
                log::warning!("pg_rewind said: {}", line.trim());
            }
            Some(format!(
                "pg_rewind failed: {}",
                brief(out.last_error_line())
            ))
        }
        Err(e) => Some(OcfError::from(e.clone()).message()),
    };
    if let Some(failure) = failure {
        record_needs_rebuild(a);
        return Err(OcfError::generic(failure)
            .with_remedy(remedy!("rebuild it (pg_basebackup), then crm_resource --cleanup"))
            .with_detail(format!(
                "a failed pg_rewind can leave the data directory unusable: start refuses it until it is rebuilt; the saved WAL and report stay in {}",
                saved.display()
            )));
    }
    user.as_effective(|| restore_config(&a.params.datadir, &config))?
        .map_err(|e| {
            record_needs_rebuild(a);
            OcfError::generic(format!(
                "cannot restore this node's configuration after pg_rewind: {e}"
            ))
            .with_remedy(remedy!(
                "restore the .conf files from rejoin_dir, then cleanup"
            ))
        })?;
    log::info!("pg_rewind done; this node's configuration files restored");
    prune(a);
    Ok(())
}

/// pg_rewind and psql must be there, and pg_rewind needs wal_log_hints or data
/// checksums, from before the divergence.
pub fn check_rewind_possible(a: &Agent) -> OcfResult<()> {
    for program in REWIND_PROGRAMS {
        a.instance.program(program)?;
    }
    if validate::setting(a, "wal_log_hints")? == "on" || a.instance.controldata()?.checksums {
        return Ok(());
    }
    Err(
        OcfError::args("rejoin=rewind needs wal_log_hints=on or data checksums").with_remedy(
            remedy!("set wal_log_hints = on and restart, or rejoin=manual"),
        ),
    )
}

fn check_rights(primary: &RemoteSql) -> OcfResult<()> {
    let sql = format!(
        "SELECT rolsuper OR ({}) FROM pg_roles WHERE rolname = current_user",
        REWIND_FUNCTIONS
            .iter()
            .map(|f| format!("has_function_privilege('{f}', 'EXECUTE')"))
            .collect::<Vec<_>>()
            .join(" AND ")
    );
    match primary.value(&sql) {
        Ok(Some(v)) if v == "t" => Ok(()),
        Ok(_) => Err(
            OcfError::generic("rewind_user lacks the rights pg_rewind needs")
                .with_remedy(remedy!("GRANT EXECUTE on the functions the README lists")),
        ),
        Err(e) => Err(OcfError::generic(format!(
            "cannot check rewind_user's rights: {}",
            brief(&e)
        ))
        .with_remedy(remedy!("check rewind_user and rewind_database"))),
    }
}

/// pg_rewind reads the source's timeline from its last checkpoint: right after a
/// promotion that is still the old timeline, and it would see nothing to rewind.
fn wait_for_checkpoint(a: &Agent, primary: &RemoteSql, facts: &PrimaryFacts) -> OcfResult<()> {
    if facts.checkpoint_timeline == Some(facts.timeline) {
        return Ok(());
    }
    if primary.text_rows("CHECKPOINT").is_ok() {
        return Ok(());
    }
    loop {
        let tl = primary
            .value("SELECT timeline_id FROM pg_control_checkpoint()")
            .ok()
            .flatten()
            .and_then(|t| t.parse::<u32>().ok());
        if tl == Some(facts.timeline) {
            return Ok(());
        }
        if !a.deadline.sleep(Duration::from_millis(500)) {
            return Err(OcfError::generic(
                "the primary has not written a checkpoint since its promotion",
            )
            .with_remedy(remedy!(
                "run CHECKPOINT on the primary, then crm_resource --cleanup"
            )));
        }
    }
}

/// Copies the local WAL past the fork and writes the report, into a new directory of
/// rejoin_dir; returns that directory.
fn save_discarded(
    a: &Agent,
    primary: &RemoteSql,
    source: &Source,
    d: &Discarded,
) -> OcfResult<PathBuf> {
    let names = relation_names(a, primary, source, d);
    let report = d.render(&names);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let dir = a
        .params
        .rejoin_dir
        .join(format!("{SAVED_PREFIX}{now:012}-tl{}", d.timeline));
    let pg_wal = a.params.datadir.join("pg_wal");
    let deadline = a.deadline;
    let copy = || -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder.create(dir.join("wal"))?;
        let names: Vec<String> = fs::read_dir(&pg_wal)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let segment_size = names
            .iter()
            .find(|n| divergence::parse_segment_name(n, 1 << 24).is_some())
            .map(|n| fs::metadata(pg_wal.join(n)).map(|m| m.len()))
            .transpose()?
            .unwrap_or(1 << 24);
        for name in divergence::segments_to_save(&names, d.timeline, d.fork, segment_size)
            .into_iter()
            .chain(names.iter().filter(|n| n.ends_with(".history")).cloned())
        {
            if deadline.remaining().is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the start timeout passed while copying WAL",
                ));
            }
            let src = pg_wal.join(&name);
            if fs::symlink_metadata(&src)?.is_file() {
                fs::copy(&src, dir.join("wal").join(&name))?;
            }
        }
        write_file(&dir.join("report.txt"), &report)
    };
    a.instance.user()?.as_effective(copy)?.map_err(|e| {
        OcfError::generic(format!("cannot save the diverged WAL: {e}"))
            .with_remedy(remedy!(
                "check rejoin_dir: it must be writable by system_user"
            ))
            .with_detail(format!(
                "nothing was rewound; saving into {}",
                dir.display()
            ))
    })?;
    for line in report.lines() {
        log::info!("rejoin report: {line}");
    }
    Ok(dir)
}

/// Names of the relations the discarded transactions touched, as the primary resolves
/// them (`database.schema.table`); those it cannot resolve are left out.
fn relation_names(
    a: &Agent,
    primary: &RemoteSql,
    source: &Source,
    d: &Discarded,
) -> BTreeMap<RelFile, String> {
    let mut names = BTreeMap::new();
    let mut databases: Vec<u32> = d.relations.iter().map(|r| r.database).collect();
    databases.dedup();
    for oid in databases {
        let Ok(Some(datname)) = primary.value(&format!(
            "SELECT datname FROM pg_database WHERE oid = {oid}"
        )) else {
            continue;
        };
        let Ok(db) = source.connect(a, &datname) else {
            continue;
        };
        for r in d.relations.iter().filter(|r| r.database == oid) {
            let sql = format!(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = pg_filenode_relation(CASE WHEN {t} = (SELECT dattablespace FROM pg_database WHERE datname = current_database()) THEN 0 ELSE {t} END, {n})",
                t = r.tablespace,
                n = r.relfilenode
            );
            if let Ok(Some(name)) = db.value(&sql) {
                names.insert(*r, format!("{datname}.{name}"));
            }
        }
    }
    names
}

/// The configuration files at the top of the data directory (`*.conf`): pg_rewind copies
/// the primary's over them.
fn own_config(datadir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(datadir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.ends_with(".conf") && entry.file_type()?.is_file() {
            out.insert(name, fs::read(entry.path())?);
        }
    }
    Ok(out)
}

/// Removes the recovery signal files of the data directory; returns those it removed.
fn remove_signal_files(datadir: &Path) -> std::io::Result<Vec<&'static str>> {
    let mut removed = Vec::new();
    for name in SIGNAL_FILES {
        match fs::remove_file(datadir.join(name)) {
            Ok(()) => removed.push(name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Puts this node's configuration files back as they were before pg_rewind, and removes
/// those it brought that this node did not have.
fn restore_config(datadir: &Path, config: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    for name in own_config(datadir)?.keys() {
        if !config.contains_key(name) {
            fs::remove_file(datadir.join(name))?;
        }
    }
    for (name, content) in config {
        write_bytes(&datadir.join(name), content)?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    write_bytes(path, text.as_bytes())
}

/// Replaces the file atomically, mode 0600 (called with the system user's rights).
fn write_bytes(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut tmp = tempfile::Builder::new()
        .prefix(".pgsqlms-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Records, against the pg_control pg_rewind left, that the instance needs a rebuild.
fn record_needs_rebuild(a: &Agent) {
    if let Err(e) = save_needs_rebuild(a) {
        log::warning!("the needs-rebuild record was not written: {}", e.message());
    }
}

fn save_needs_rebuild(a: &Agent) -> OcfResult<()> {
    let path = a.params.rejoin_dir.join(NEEDS_REBUILD);
    let control = a.instance.controldata()?;
    a.instance
        .user()?
        .as_effective(|| CrashRecord::of(&control).save(&path))?
        .map_err(|e| OcfError::generic(format!("cannot write {}: {e}", path.display())))
}

/// Removes the oldest saved rejoins beyond rejoin_keep.
fn prune(a: &Agent) {
    let dir = &a.params.rejoin_dir;
    let result = a.instance.user().and_then(|user| {
        user.as_effective(|| -> std::io::Result<()> {
            let saved: Vec<String> = fs::read_dir(dir)?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(SAVED_PREFIX))
                .collect();
            for old in divergence::to_prune(&saved, a.params.rejoin_keep) {
                log::info!("removing the oldest saved rejoin {old}");
                fs::remove_dir_all(dir.join(old))?;
            }
            Ok(())
        })
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warning!("saved rejoins not pruned: {e}"),
        Err(e) => log::warning!("saved rejoins not pruned: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacemaker::FakePacemaker;

    fn at(node: &str, promoted: bool) -> Located {
        Located {
            node: node.into(),
            promoted,
        }
    }

    #[test]
    fn only_an_instance_promoted_on_another_node_is_the_primary_to_follow() {
        let cases = [
            (vec![], None),
            (vec![at("n1", false), at("n2", false)], None),
            // this node's own instance still promoted in Pacemaker's eyes
            (vec![at("n1", true), at("n2", false)], None),
            (vec![at("n1", false), at("n2", true)], Some("n2")),
            (vec![at("n3", false), at("n2", true)], Some("n2")),
        ];
        for (located, expected) in cases {
            let pm = FakePacemaker {
                located: located.clone(),
                ..FakePacemaker::new(&["n1", "n2", "n3"])
            };
            assert_eq!(
                promoted_elsewhere(&pm, "n1").map(|l| l.node).as_deref(),
                expected,
                "{located:?}"
            );
        }
    }

    #[test]
    fn without_pacemakers_answer_no_primary_is_assumed() {
        let pm = FakePacemaker {
            located: vec![at("n2", true)],
            ..FakePacemaker::new(&["n1", "n2"])
        };
        pm.down.set(true);
        assert_eq!(promoted_elsewhere(&pm, "n1"), None);
    }
}
