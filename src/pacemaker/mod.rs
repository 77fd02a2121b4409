//! Pacemaker's side: what the agent asks of the cluster (node names, promotion scores,
//! node attributes, where the resource runs), as one narrow port. `Attributes` answers it
//! with Pacemaker's command-line tools; unit tests use `FakePacemaker`, in memory.

pub mod attributes;
#[cfg(test)]
pub mod fake;

use crate::logic::headless::Located;
use crate::ocf::log::brief;
use crate::system::SystemError;
use std::collections::{BTreeMap, BTreeSet};

/// What went wrong asking Pacemaker. `agent::errors` says what each means for Pacemaker.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PacemakerError {
    #[error(transparent)]
    Tool(#[from] SystemError),
    #[error("could not {}: {}", brief(what), brief(message))]
    Failed { what: String, message: String },
    /// (`node` is in the log line that reports it)
    #[error("promotion score {:?} is not an integer", brief(value))]
    BadScore { node: String, value: String },
    /// A query that failed otherwise than by saying "no value" (the tool's own message
    /// is logged where it fails).
    #[error("{tool} {}: could not read {}", exit.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit {c}")), brief(what))]
    QueryFailed {
        tool: String,
        what: String,
        exit: Option<i32>,
    },
    #[error("attrd_updater printed no value for {}", brief(.0))]
    NoValue(String),
    #[error("attribute call panicked")]
    Panicked,
}

pub type PacemakerResult<T> = Result<T, PacemakerError>;

pub use attributes::Attributes;
#[cfg(test)]
pub use fake::FakePacemaker;

/// The agent's port to Pacemaker. Attribute names are given without the resource suffix
/// the implementation adds (`lsn_location` is stored as `lsn_location-<resource>`).
pub trait Pacemaker {
    /// The local node's name, as Pacemaker knows it.
    fn local_node(&self) -> PacemakerResult<String>;
    /// Names of the nodes in this node's partition.
    fn partition(&self) -> PacemakerResult<BTreeSet<String>>;
    /// The promotion score of `node`, if it has one.
    fn score(&self, node: &str) -> PacemakerResult<Option<i64>>;
    fn set_score(&self, node: &str, score: i64) -> PacemakerResult<()>;
    /// One of the agent's private attributes on `node`; `None` when absent or empty.
    fn private(&self, attr: &str, node: &str) -> PacemakerResult<Option<String>>;
    /// Every node's value of one of the agent's private attributes.
    fn private_all(&self, attr: &str) -> PacemakerResult<BTreeMap<String, String>>;
    /// Sets one of the agent's private attributes for the local node.
    fn set_private(&self, attr: &str, value: &str) -> PacemakerResult<()>;
    /// Deletes several of the local node's private attributes.
    fn delete_private_all(&self, attrs: &[&str]) -> PacemakerResult<()>;
    /// Sets (or with `None` deletes) a transient attribute of `node`: private ones stay
    /// in attrd's memory, public ones reach the CIB's status section.
    fn change_for(
        &self,
        node: &str,
        attr: &str,
        private: bool,
        value: Option<&str>,
    ) -> PacemakerResult<()>;
    /// Where the clone's instances run, and which one is promoted.
    fn locate(&self) -> PacemakerResult<Vec<Located>>;
    /// Whether this node's partition has quorum.
    fn has_quorum(&self) -> PacemakerResult<bool>;
    /// The synchronous replication record (`logic::sync::SyncRecord`), kept in the CIB's
    /// configuration as the cluster property `pgsqlms-sync-<resource>`: it survives the
    /// loss of any node, and changing it restarts nothing.
    fn sync_record(&self) -> PacemakerResult<Option<String>>;
    fn set_sync_record(&self, value: &str) -> PacemakerResult<()>;
}
