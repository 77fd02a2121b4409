//! The checks behind validate-all and start. Codes follow the OCF semantics: a setting
//! wrong on every node is OCF_ERR_CONFIGURED (Pacemaker stops the resource everywhere);
//! something missing on this node only is OCF_ERR_INSTALLED, and this node's own
//! PostgreSQL configuration being wrong is OCF_ERR_ARGS (Pacemaker bans the node).

use crate::agent::Agent;
use crate::logic::{conninfo, sync};
use crate::ocf::config::SyncMode;
use crate::ocf::log::brief;
use crate::ocf::{remedy, OcfError, OcfResult};
use crate::postgres::PostgresError;
use crate::system::command;

pub const MIN_MAJOR: u32 = 12;

/// Everything the agent needs on this node: data directories, PostgreSQL 12 or later,
/// its programs and the system user.
pub fn installation(a: &Agent) -> OcfResult<()> {
    let p = &a.params;
    let user = a.instance.user()?;
    // The configuration directory is only read by `postgres` itself: look at it with the
    // system user's rights, so a path the CIB names tells nothing about root's files.
    if !user.as_effective(|| p.pgdata.is_dir())? {
        return Err(OcfError::installed(format!(
            "pgdata {} does not exist",
            brief(p.pgdata.display())
        ))
        .with_remedy(remedy!(
            "create the instance (initdb or pg_basebackup), or fix pgdata"
        ))
        .with_detail("it does not exist on this node, or the system user cannot enter it"));
    }
    let major = major_version(a)?;
    if major < MIN_MAJOR {
        return Err(OcfError::installed(format!(
            "the instance is PostgreSQL {major}, older than {MIN_MAJOR}"
        ))
        .with_remedy(remedy!("use PAF for older versions, or upgrade")));
    }
    Ok(a.instance.check_identity_and_programs()?)
}

/// The instance's major version, from the data directory's PG_VERSION.
pub fn major_version(a: &Agent) -> OcfResult<u32> {
    let version = a
        .instance
        .datadir()?
        .read("PG_VERSION", 64)
        .map_err(PostgresError::UnsafeVersionFile)?
        .ok_or_else(|| {
            OcfError::installed(format!(
                "{} holds no PG_VERSION",
                brief(a.params.datadir.display())
            ))
            .with_remedy(remedy!("point datadir at a PostgreSQL data directory"))
        })?;
    version
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| {
            OcfError::installed("datadir's PG_VERSION does not hold a PostgreSQL version")
                .with_remedy(remedy!("point datadir at a PostgreSQL data directory"))
        })
}

/// A server setting as this node's configuration files give it (`postgres -C`).
pub fn setting(a: &Agent, name: &str) -> OcfResult<String> {
    let mut cmd = a.instance.user()?.command(&a.instance.program("postgres")?);
    cmd.arg("-C")
        .arg(name)
        .arg("-D")
        .arg(&a.params.pgdata)
        .args(&a.params.start_opts);
    let out = command::run(cmd, a.deadline)?;
    if !out.success {
        return Err(OcfError::args(format!(
            "postgres -C {name} failed: {}",
            brief(out.last_error_line())
        ))
        .with_remedy(remedy!("check postgresql.conf and start_opts")));
    }
    Ok(out.stdout.trim().to_string())
}

/// This node's PostgreSQL configuration fits the agent: no recovery.conf template, a
/// standby follows the latest timeline, names itself after its Pacemaker node, and WAL
/// carries enough for hot standbys.
pub fn local_configuration(a: &Agent) -> OcfResult<()> {
    let p = &a.params;
    // Whether the name exists (a link counts), as the system user sees it.
    let user = a.instance.user()?;
    if user.as_effective(|| p.recovery_template.symlink_metadata().is_ok())? {
        return Err(OcfError::args(format!(
            "recovery_template {} exists",
            brief(p.recovery_template.display())
        ))
        .with_remedy(remedy!("move its settings to postgresql.conf, then remove it"))
        .with_detail("PostgreSQL 12 and later refuse recovery.conf: move its settings to postgresql.conf and remove the file"));
    }
    let timeline = setting(a, "recovery_target_timeline")?;
    if timeline != "latest" {
        return Err(OcfError::args(format!(
            "recovery_target_timeline is {:?}",
            brief(&timeline)
        ))
        .with_remedy(remedy!(
            "set recovery_target_timeline = 'latest' in postgresql.conf"
        ))
        .with_detail("standbys must follow the timeline of a promoted primary"));
    }
    let hot = setting(a, "hot_standby")?;
    if hot != "on" {
        return Err(
            OcfError::args("hot_standby is off: the agent needs standbys it can query")
                .with_remedy(remedy!("set hot_standby = on")),
        );
    }
    let node = a.node();
    let conninfo = setting(a, "primary_conninfo")?;
    if conninfo::value_of(&conninfo, "application_name").as_deref() != Some(node) {
        return Err(OcfError::args(format!(
            "primary_conninfo must contain application_name={}",
            brief(node)
        ))
        .with_remedy(remedy!(
            "add it in postgresql.conf: the primary ranks standbys by it"
        ))
        .with_detail(format!(
            "application_name must be this node's Pacemaker name, {node}"
        )));
    }
    if p.sync_mode.is_managed() {
        let commit = setting(a, "synchronous_commit")?;
        if !sync::commits_wait_for_standbys(&commit) {
            return Err(refuse_sync_commit(p.sync_mode, &commit));
        }
    }
    let cd = a.instance.controldata()?;
    if !matches!(cd.wal_level.as_str(), "replica" | "logical") {
        return Err(OcfError::args(format!(
            "wal_level is {:?} in pg_control",
            brief(&cd.wal_level)
        ))
        .with_remedy(remedy!("set wal_level = replica (or logical) and restart")));
    }
    Ok(())
}

/// sync_mode on or strict with commits that never wait for a standby: this node's
/// configuration promises nothing the agent could keep.
pub fn refuse_sync_commit(mode: SyncMode, synchronous_commit: &str) -> OcfError {
    OcfError::args(format!(
        "sync_mode needs commits that wait, not synchronous_commit={}",
        brief(synchronous_commit)
    ))
    .with_remedy(remedy!("set synchronous_commit = on, or sync_mode=off"))
    .with_detail(format!(
        "with synchronous_commit off or local no commit waits for a standby, so sync_mode={} protects nothing",
        mode.name()
    ))
}
