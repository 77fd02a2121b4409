//! What every action works with: the settings, Pacemaker's meta data, the action's
//! deadline, the local instance, and lazily the node name; and the procedures several
//! actions share (`validate`, `statefile`, `headless_recovery`, `timeline_claim`).

pub mod errors;
pub mod headless_recovery;
pub mod rejoin;
pub mod statefile;
pub mod sync_standbys;
pub mod timeline_claim;
pub mod validate;

use crate::ocf::config::{Env, Meta, Params};
use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::ocf::unusable::{self, Answer, Caller};
use crate::ocf::OcfResult;
use crate::ocf::{OcfCode, OcfError};
use crate::pacemaker::{Attributes, Pacemaker};
use crate::postgres::instance::Instance;
use crate::postgres::instance::{postmaster_despite, stop_despite};
use crate::postgres::PostgresError;
use std::cell::OnceCell;
use std::path::Path;
use std::path::PathBuf;

pub struct Agent {
    pub env: Env,
    pub params: Params,
    pub meta: Meta,
    pub deadline: Deadline,
    /// The local PostgreSQL instance, with the settings and deadline of this action.
    pub instance: Instance,
    pacemaker: Box<dyn Pacemaker>,
    node: OnceCell<String>,
}

impl Agent {
    pub fn new(env: Env) -> OcfResult<Self> {
        let params = Params::from_env(&env)?;
        let meta = Meta::from_env(&env);
        let deadline = Deadline::for_action(meta.timeout);
        Ok(Agent {
            env,
            instance: Instance::new(params.clone(), deadline),
            pacemaker: Box::new(Attributes::new(&meta.resource, deadline)),
            params,
            meta,
            deadline,
            node: OnceCell::new(),
        })
    }

    /// The port to Pacemaker (its tools, bounded by this action's deadline).
    pub fn pacemaker(&self) -> &dyn Pacemaker {
        self.pacemaker.as_ref()
    }

    /// This node's name: Pacemaker passes it to every action; outside a cluster
    /// (`crm_resource --validate`, manual runs) ask crm_node, then the kernel.
    pub fn node(&self) -> &str {
        self.node.get_or_init(|| {
            self.meta
                .node_name
                .clone()
                .or_else(|| self.pacemaker.local_node().ok())
                .unwrap_or_else(|| {
                    nix::sys::utsname::uname()
                        .map(|u| u.nodename().to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
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

    /// What the primary's monitor keeps of synchronous replication (`SyncMemory`).
    pub fn sync_memory_file(&self) -> PathBuf {
        self.runtime_file("sync")
    }

    /// What this standby's monitor last reported about a cluster without a primary.
    pub fn headless_report_file(&self) -> PathBuf {
        self.runtime_file("headless")
    }

    /// The replication view this primary's monitor last published (see `replication_view`).
    /// Present while this standby published that its replay is paused.
    pub fn replay_paused_file(&self) -> PathBuf {
        self.runtime_file("replay-paused")
    }

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

/// Carries out `ocf::unusable`'s answer for an action that cannot use its settings or this
/// node (`why`), with the data directory they name.
pub fn answer_unusable(
    caller: Caller,
    datadir: &Path,
    deadline: Deadline,
    why: OcfError,
) -> OcfResult<OcfCode> {
    // The problem stays the one the action met; the data directory's only adds to it.
    let unknown = |e: &dyn std::fmt::Display| OcfError {
        detail: Some(format!(
            "and no telling whether a postmaster runs in datadir: {e}"
        )),
        ..why.clone()
    };
    let postmaster = match caller {
        Caller::Probe => postmaster_despite(datadir).map_err(|e| unknown(&e))?,
        Caller::Stop | Caller::Other => None,
    };
    match unusable::answer(caller, why.clone(), postmaster) {
        Answer::NotRunning(e) | Answer::Fail(e) => Err(e),
        Answer::StopDespite => {
            stop_despite(datadir, deadline, &why.message()).map_err(|e| match e {
                PostgresError::DataDir(e) => unknown(&e),
                e => e.into(),
            })?;
            log::info!(
                "{}; no process of the instance left: stopped",
                why.message()
            );
            Ok(OcfCode::Success)
        }
    }
}
