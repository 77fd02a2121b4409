//! What every action works with: the settings, Pacemaker's meta data, the action's
//! deadline, and lazily the node name and the system user.

use crate::attributes::Attributes;
use crate::command::{self, SystemUser};
use crate::config::{Env, Meta, Params};
use crate::datadir::{DataDir, DataDirError};
use crate::deadline::Deadline;
use crate::ocf::{OcfCode, OcfResult};
use std::cell::OnceCell;
use std::path::PathBuf;

/// Programs the agent runs from bindir.
pub const PROGRAMS: [&str; 3] = ["postgres", "pg_controldata", "pg_waldump"];

pub struct Agent {
    pub env: Env,
    pub params: Params,
    pub meta: Meta,
    pub deadline: Deadline,
    node: OnceCell<String>,
    user: OnceCell<SystemUser>,
    datadir: OnceCell<DataDir>,
}

impl Agent {
    pub fn new(env: Env) -> OcfResult<Self> {
        let params = Params::from_env(&env)?;
        let meta = Meta::from_env(&env);
        let deadline = Deadline::for_action(meta.timeout);
        Ok(Agent {
            env,
            params,
            meta,
            deadline,
            node: OnceCell::new(),
            user: OnceCell::new(),
            datadir: OnceCell::new(),
        })
    }

    pub fn attributes(&self) -> Attributes {
        Attributes::new(&self.meta.resource, self.deadline)
    }

    /// This node's name: Pacemaker passes it to every action; outside a cluster
    /// (`crm_resource --validate`, manual runs) ask crm_node, then the kernel.
    pub fn node(&self) -> &str {
        self.node.get_or_init(|| {
            self.meta
                .node_name
                .clone()
                .or_else(|| self.attributes().local_node().ok())
                .unwrap_or_else(|| {
                    nix::sys::utsname::uname()
                        .map(|u| u.nodename().to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
        })
    }

    pub fn user(&self) -> OcfResult<&SystemUser> {
        if let Some(u) = self.user.get() {
            return Ok(u);
        }
        let u = SystemUser::lookup(&self.params.system_user)?;
        Ok(self.user.get_or_init(|| u))
    }

    /// `bindir/name`, when it is safe to run (see `command::trusted_program`).
    pub fn program(&self, name: &str) -> OcfResult<PathBuf> {
        command::trusted_program(&self.params.bindir, name)
    }

    /// What every action that runs the instance needs of its settings on this node: a
    /// system user that is not root, and programs only root can change.
    pub fn check_identity_and_programs(&self) -> OcfResult<()> {
        self.user()?;
        PROGRAMS.iter().try_for_each(|p| self.program(p).map(drop))
    }

    /// The data directory, opened once for the action (see `datadir.rs`); `None` when it
    /// does not exist on this node.
    pub fn existing_datadir(&self) -> OcfResult<Option<&DataDir>> {
        if let Some(d) = self.datadir.get() {
            return Ok(Some(d));
        }
        let owner = self.user()?.uid;
        match DataDir::open(&self.params.datadir, Some(owner)) {
            Ok(d) => Ok(Some(self.datadir.get_or_init(|| d))),
            Err(DataDirError::Missing(_)) => Ok(None),
            Err(e) => Err(e.to_ocf_error(OcfCode::ErrInstalled)),
        }
    }

    /// The data directory, which must exist.
    pub fn datadir(&self) -> OcfResult<&DataDir> {
        self.existing_datadir()?.ok_or_else(|| {
            DataDirError::Missing(self.params.datadir.clone()).to_ocf_error(OcfCode::ErrInstalled)
        })
    }

    /// Where the primary's monitor keeps what it last wrote.
    pub fn state_file(&self) -> PathBuf {
        self.runtime_file("state")
    }

    /// When this node was promoted and which standbys its monitor lost (see
    /// `PrimaryMemory`): unlike the state file, transitions keep it.
    pub fn primary_memory_file(&self) -> PathBuf {
        self.runtime_file("primary")
    }

    /// What this standby's monitor last reported about a cluster without a primary.
    pub fn headless_report_file(&self) -> PathBuf {
        self.runtime_file("headless")
    }

    /// The replication view this primary's monitor last published (see `replication_view`).
    pub fn published_view_file(&self) -> PathBuf {
        self.runtime_file("published")
    }

    /// Where stop records a crashed instance it stopped (see `crash_record`).
    pub fn crash_record_file(&self) -> PathBuf {
        self.runtime_file("crash-stopped")
    }

    /// Where the pre-demote notification approves the in-place recovery of a crashed
    /// primary, for start to carry out (see `CrashRecord`).
    pub fn in_place_recovery_file(&self) -> PathBuf {
        self.runtime_file("recover-in-place")
    }

    /// A file of this resource in Pacemaker's runtime directory for agents, which a reboot
    /// empties.
    fn runtime_file(&self, kind: &str) -> PathBuf {
        let dir = self
            .env
            .get("HA_RSCTMP")
            .filter(|d| !d.is_empty())
            .map_or("/run/resource-agents", String::as_str);
        PathBuf::from(dir).join(format!("pgsqlms-{}.{kind}", self.meta.resource))
    }
}
