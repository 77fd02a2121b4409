//! The resource's settings (`OCF_RESKEY_*`) and Pacemaker's meta attributes, read from a
//! snapshot of the environment. Pure.

use crate::ocf::log::brief;
use crate::ocf::{remedy, OcfError, OcfResult};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub type Env = HashMap<String, String>;

/// The agent's parameters, with PAF's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub system_user: String,
    pub bindir: PathBuf,
    pub pgdata: PathBuf,
    pub datadir: PathBuf,
    pub pghost: String,
    pub pgport: u16,
    pub recovery_template: PathBuf,
    pub maxlag: u64,
    pub start_opts: Vec<String>,
    pub rejoin: Rejoin,
    /// Role and database pg_rewind (and the divergence check) use on the primary.
    pub rewind_user: String,
    pub rewind_database: String,
    /// Where WAL and reports of rejoins are kept, outside the data directory.
    pub rejoin_dir: PathBuf,
    /// How many rejoins `rejoin_dir` keeps.
    pub rejoin_keep: usize,
    pub sync_mode: SyncMode,
    /// How many standbys must acknowledge a commit (`ANY k`), at most the members there are.
    pub sync_count: u32,
}

/// What start does with a former primary that diverged from the current primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejoin {
    /// Refuse: an administrator rebuilds it (PAF's behaviour).
    Manual,
    /// Save what it holds past the fork, pg_rewind it, start it as a standby.
    Rewind,
}

/// Who manages `synchronous_standby_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// The administrator (PAF's behaviour): the agent never touches it.
    Off,
    /// The primary's monitor: `ANY k` of the caught-up standbys, empty when none is left.
    On,
    /// As `On`, but k never drops below `sync_count`: with too few standbys, writes wait.
    Strict,
}

impl SyncMode {
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Off => "off",
            SyncMode::On => "on",
            SyncMode::Strict => "strict",
        }
    }

    pub fn is_managed(self) -> bool {
        self != SyncMode::Off
    }
}

/// What Pacemaker tells about the running action and the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Resource name without the clone suffix (`pgsqld`, not `pgsqld:1`).
    pub resource: String,
    pub node_name: Option<String>,
    pub timeout: Option<Duration>,
    pub interval: Duration,
    pub notify: Option<String>,
    pub promoted_max: Option<String>,
    pub clone_node_max: Option<String>,
}

fn param<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    // PAF treats an empty value as unset; so do we.
    env.get(&format!("OCF_RESKEY_{name}"))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn meta<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(&format!("OCF_RESKEY_CRM_meta_{name}"))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// Parses a PostgreSQL-style number ("100000", "1e8", "1E8"): PAF accepted any numeric
/// literal for maxlag.
fn parse_bytes(v: &str) -> Option<u64> {
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let f: f64 = v.parse().ok()?;
    (f.is_finite() && f >= 0.0 && f <= u64::MAX as f64).then_some(f as u64)
}

fn parse_millis(v: &str) -> Option<Duration> {
    v.parse::<u64>().ok().map(Duration::from_millis)
}

/// A parameter with a few named values, the first the default when it is unset;
/// `refusal` says what is wrong with any other value.
fn choice<T: Copy>(
    env: &Env,
    name: &str,
    values: &[(&str, T)],
    refusal: impl FnOnce(&str) -> OcfError,
) -> OcfResult<T> {
    let Some(v) = param(env, name) else {
        return Ok(values[0].1);
    };
    values
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, value)| *value)
        .ok_or_else(|| refusal(v))
}

/// A count of at least 1, `default` when unset; `refusal` says what is wrong otherwise.
fn positive<T: std::str::FromStr + PartialOrd + From<u8>>(
    env: &Env,
    name: &str,
    default: T,
    refusal: impl FnOnce(&str) -> OcfError,
) -> OcfResult<T> {
    match param(env, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| *n >= T::from(1))
            .ok_or_else(|| refusal(v)),
    }
}

impl Params {
    /// `pgdata` and `datadir` (the data directory, `pgdata` unless set apart), which every
    /// environment names, however wrong its other settings.
    pub fn data_directories(env: &Env) -> (PathBuf, PathBuf) {
        let pgdata = PathBuf::from(param(env, "pgdata").unwrap_or("/var/lib/pgsql/data"));
        let datadir = param(env, "datadir").map_or_else(|| pgdata.clone(), PathBuf::from);
        (pgdata, datadir)
    }

    /// Reads the parameters. A malformed value is a configuration error on every node.
    pub fn from_env(env: &Env) -> OcfResult<Self> {
        let (pgdata, datadir) = Self::data_directories(env);
        let recovery_template = param(env, "recovery_template")
            .map_or_else(|| pgdata.join("recovery.conf.pcmk"), PathBuf::from);
        let pgport = match param(env, "pgport") {
            None => 5432,
            Some(v) => v.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                OcfError::configured(format!(
                    "parameter pgport={:?} is not a TCP port number",
                    brief(v)
                ))
                .with_remedy(remedy!("set it to the instance's port (1-65535)"))
            })?,
        };
        let maxlag = match param(env, "maxlag") {
            None => 0,
            Some(v) => parse_bytes(v).ok_or_else(|| {
                OcfError::configured(format!(
                    "parameter maxlag={:?} is not a number of bytes",
                    brief(v)
                ))
                .with_remedy(remedy!("set it to a number of bytes, or 0 to disable"))
            })?,
        };
        let rejoin = choice(
            env,
            "rejoin",
            &[("manual", Rejoin::Manual), ("rewind", Rejoin::Rewind)],
            |v| {
                OcfError::configured(format!(
                    "parameter rejoin={:?} is neither manual nor rewind",
                    brief(v)
                ))
                .with_remedy(remedy!("set rejoin to manual or rewind"))
            },
        )?;
        let rejoin_keep = positive(env, "rejoin_keep", 3, |v| {
            OcfError::configured(format!(
                "rejoin_keep={:?} is not a positive number",
                brief(v)
            ))
            .with_remedy(remedy!("set it to 1 or more"))
        })?;
        let rejoin_dir = param(env, "rejoin_dir").map_or_else(
            || {
                let mut d = datadir.clone().into_os_string();
                d.push("-rejoin");
                PathBuf::from(d)
            },
            PathBuf::from,
        );
        let sync_mode = choice(
            env,
            "sync_mode",
            &[
                ("off", SyncMode::Off),
                ("on", SyncMode::On),
                ("strict", SyncMode::Strict),
            ],
            |v| {
                OcfError::configured(format!(
                    "parameter sync_mode={:?} is not off, on or strict",
                    brief(v)
                ))
                .with_remedy(remedy!("set sync_mode to off, on or strict"))
            },
        )?;
        let sync_count = positive(env, "sync_count", 1, |v| {
            OcfError::configured(format!(
                "sync_count={:?} is not a positive integer",
                brief(v)
            ))
            .with_remedy(remedy!("set it to the standbys a commit waits for"))
        })?;
        Ok(Params {
            rejoin,
            rewind_user: param(env, "rewind_user").unwrap_or("postgres").to_string(),
            rewind_database: param(env, "rewind_database")
                .unwrap_or("postgres")
                .to_string(),
            rejoin_dir,
            rejoin_keep,
            system_user: param(env, "system_user").unwrap_or("postgres").to_string(),
            bindir: PathBuf::from(param(env, "bindir").unwrap_or("/usr/bin")),
            pgdata,
            datadir,
            pghost: param(env, "pghost")
                .unwrap_or("/var/run/postgresql")
                .to_string(),
            pgport,
            recovery_template,
            maxlag,
            start_opts: param(env, "start_opts")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            sync_mode,
            sync_count,
        })
    }
}

impl Meta {
    pub fn from_env(env: &Env) -> Self {
        let resource = env
            .get("OCF_RESOURCE_INSTANCE")
            .map(|r| r.split(':').next().unwrap_or(r).to_string())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "default".to_string());
        Meta {
            resource,
            node_name: meta(env, "on_node").map(str::to_string),
            timeout: meta(env, "timeout").and_then(parse_millis),
            interval: meta(env, "interval")
                .and_then(parse_millis)
                .unwrap_or_default(),
            notify: meta(env, "notify").map(str::to_string),
            promoted_max: meta(env, "promoted_max")
                .or_else(|| meta(env, "master_max"))
                .map(str::to_string),
            clone_node_max: meta(env, "clone_node_max").map(str::to_string),
        }
    }

    /// Checks the clone's meta attributes, when Pacemaker gave them. `pcs resource create`
    /// and `crm_resource --validate` run validate-all without them, and a probe or a stop
    /// must never fail for them, so an absent attribute is not an error.
    pub fn check_clone_settings(&self) -> OcfResult<()> {
        if let Some(n) = &self.notify {
            if !is_true(n) {
                return Err(OcfError::configured(format!(
                    "meta attribute notify={}: must be true",
                    brief(n)
                ))
                .with_remedy(remedy!("pcs resource meta <clone> notify=true")));
            }
        }
        if let Some(m) = &self.promoted_max {
            if m != "1" {
                return Err(OcfError::configured(format!(
                    "meta attribute promoted-max={}: there is one primary",
                    brief(m)
                ))
                .with_remedy(remedy!("set promoted-max=1")));
            }
        }
        if let Some(m) = &self.clone_node_max {
            if m != "1" {
                return Err(OcfError::configured(format!(
                    "meta attribute clone-node-max={}: one instance per node",
                    brief(m)
                ))
                .with_remedy(remedy!("set clone-node-max=1")));
            }
        }
        Ok(())
    }

    pub fn is_probe(&self) -> bool {
        self.interval.is_zero()
    }
}

fn is_true(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "y" | "1"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_pafs() {
        let p = Params::from_env(&env(&[])).unwrap();
        assert_eq!(p.system_user, "postgres");
        assert_eq!(p.bindir, PathBuf::from("/usr/bin"));
        assert_eq!(p.pgdata, PathBuf::from("/var/lib/pgsql/data"));
        assert_eq!(p.datadir, p.pgdata);
        assert_eq!(p.pghost, "/var/run/postgresql");
        assert_eq!(p.pgport, 5432);
        assert_eq!(
            p.recovery_template,
            PathBuf::from("/var/lib/pgsql/data/recovery.conf.pcmk")
        );
        assert_eq!(p.maxlag, 0);
        assert!(p.start_opts.is_empty());
        assert_eq!(p.rejoin, Rejoin::Manual);
        assert_eq!(p.rewind_user, "postgres");
        assert_eq!(p.rewind_database, "postgres");
        assert_eq!(p.rejoin_dir, PathBuf::from("/var/lib/pgsql/data-rejoin"));
        assert_eq!(p.rejoin_keep, 3);
        assert_eq!(p.sync_mode, SyncMode::Off);
        assert_eq!(p.sync_count, 1);
    }

    #[test]
    fn rejoin_settings() {
        let p = Params::from_env(&env(&[
            ("OCF_RESKEY_rejoin", "rewind"),
            ("OCF_RESKEY_datadir", "/srv/pg/main"),
            ("OCF_RESKEY_rejoin_keep", "5"),
        ]))
        .unwrap();
        assert_eq!(p.rejoin, Rejoin::Rewind);
        assert_eq!(p.rejoin_dir, PathBuf::from("/srv/pg/main-rejoin"));
        assert_eq!(p.rejoin_keep, 5);
    }

    #[test]
    fn sync_settings_are_read() {
        for (v, m) in [
            ("off", SyncMode::Off),
            ("on", SyncMode::On),
            ("strict", SyncMode::Strict),
        ] {
            let p = Params::from_env(&env(&[
                ("OCF_RESKEY_sync_mode", v),
                ("OCF_RESKEY_sync_count", "2"),
            ]))
            .unwrap();
            assert_eq!((p.sync_mode, p.sync_count), (m, 2), "{v}");
        }
    }

    #[test]
    fn empty_values_fall_back_to_defaults() {
        let p = Params::from_env(&env(&[
            ("OCF_RESKEY_pgport", ""),
            ("OCF_RESKEY_pgdata", ""),
        ]))
        .unwrap();
        assert_eq!(p.pgport, 5432);
        assert_eq!(p.pgdata, PathBuf::from("/var/lib/pgsql/data"));
    }

    #[test]
    fn datadir_and_template_follow_pgdata() {
        let p =
            Params::from_env(&env(&[("OCF_RESKEY_pgdata", "/etc/postgresql/15/main")])).unwrap();
        assert_eq!(p.datadir, PathBuf::from("/etc/postgresql/15/main"));
        assert_eq!(
            p.recovery_template,
            PathBuf::from("/etc/postgresql/15/main/recovery.conf.pcmk")
        );
        let p = Params::from_env(&env(&[
            ("OCF_RESKEY_pgdata", "/etc/postgresql/15/main"),
            ("OCF_RESKEY_datadir", "/var/lib/postgresql/15/main"),
        ]))
        .unwrap();
        assert_eq!(p.datadir, PathBuf::from("/var/lib/postgresql/15/main"));
    }

    #[test]
    fn start_opts_split_on_white_space_without_a_shell() {
        let p = Params::from_env(&env(&[(
            "OCF_RESKEY_start_opts",
            "-c config_file=/etc/pg.conf  -c 'x=1';rm",
        )]))
        .unwrap();
        assert_eq!(
            p.start_opts,
            vec!["-c", "config_file=/etc/pg.conf", "-c", "'x=1';rm"]
        );
    }

    #[test]
    fn maxlag_accepts_numeric_literals() {
        for (v, n) in [
            ("0", 0),
            ("1048576", 1_048_576),
            ("1E8", 100_000_000),
            ("1e3", 1000),
        ] {
            let p = Params::from_env(&env(&[("OCF_RESKEY_maxlag", v)])).unwrap();
            assert_eq!(p.maxlag, n, "{v}");
        }
    }

    #[test]
    fn malformed_numbers_are_configuration_errors() {
        for (k, v) in [
            ("OCF_RESKEY_maxlag", "abc"),
            ("OCF_RESKEY_maxlag", "-5"),
            ("OCF_RESKEY_pgport", "70000"),
            ("OCF_RESKEY_pgport", "0"),
            ("OCF_RESKEY_pgport", "x"),
            ("OCF_RESKEY_rejoin", "auto"),
            ("OCF_RESKEY_rejoin_keep", "0"),
            ("OCF_RESKEY_sync_count", "0"),
            ("OCF_RESKEY_sync_count", "-1"),
            ("OCF_RESKEY_sync_count", "1.5"),
            ("OCF_RESKEY_sync_count", "two"),
            ("OCF_RESKEY_sync_mode", "yes"),
        ] {
            let e = Params::from_env(&env(&[(k, v)])).unwrap_err();
            assert_eq!(e.code, crate::ocf::OcfCode::ErrConfigured, "{k}={v}");
            assert!(e.message().contains(&k["OCF_RESKEY_".len()..]), "{e}");
        }
    }

    #[test]
    fn meta_reads_resource_node_and_times() {
        let m = Meta::from_env(&env(&[
            ("OCF_RESOURCE_INSTANCE", "pgsqld:2"),
            ("OCF_RESKEY_CRM_meta_on_node", "node1"),
            ("OCF_RESKEY_CRM_meta_timeout", "30000"),
            ("OCF_RESKEY_CRM_meta_interval", "15000"),
        ]));
        assert_eq!(m.resource, "pgsqld");
        assert_eq!(m.node_name.as_deref(), Some("node1"));
        assert_eq!(m.timeout, Some(Duration::from_secs(30)));
        assert_eq!(m.interval, Duration::from_secs(15));
        assert!(!m.is_probe());
        let m = Meta::from_env(&env(&[]));
        assert_eq!(m.resource, "default");
        assert!(m.is_probe());
        assert_eq!(m.timeout, None);
    }

    #[test]
    fn clone_settings_checked_only_when_given() {
        assert!(Meta::from_env(&env(&[])).check_clone_settings().is_ok());
        let ok = Meta::from_env(&env(&[
            ("OCF_RESKEY_CRM_meta_notify", "True"),
            ("OCF_RESKEY_CRM_meta_promoted_max", "1"),
            ("OCF_RESKEY_CRM_meta_clone_node_max", "1"),
        ]));
        assert!(ok.check_clone_settings().is_ok());
        for (k, v, word) in [
            ("OCF_RESKEY_CRM_meta_notify", "false", "notify"),
            ("OCF_RESKEY_CRM_meta_promoted_max", "2", "promoted-max"),
            ("OCF_RESKEY_CRM_meta_master_max", "2", "promoted-max"),
            ("OCF_RESKEY_CRM_meta_clone_node_max", "2", "clone-node-max"),
        ] {
            let e = Meta::from_env(&env(&[(k, v)]))
                .check_clone_settings()
                .unwrap_err();
            assert_eq!(e.code, crate::ocf::OcfCode::ErrConfigured);
            assert!(e.message().contains(word), "{e}");
        }
    }
}
