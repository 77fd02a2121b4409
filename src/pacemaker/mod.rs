//! Pacemaker's side: what the agent asks of the cluster (node names, promotion scores,
//! node attributes, where the resource runs), as one narrow port. `Attributes` answers it
//! with Pacemaker's command-line tools; unit tests use `FakePacemaker`, in memory.

pub mod attributes;
#[cfg(test)]
pub mod fake;

use crate::logic::headless::Located;
use crate::ocf::OcfResult;
use std::collections::{BTreeMap, BTreeSet};

pub use attributes::Attributes;
#[cfg(test)]
pub use fake::FakePacemaker;

/// The agent's port to Pacemaker. Attribute names are given without the resource suffix
/// the implementation adds (`lsn_location` is stored as `lsn_location-<resource>`).
pub trait Pacemaker {
    /// The local node's name, as Pacemaker knows it.
    fn local_node(&self) -> OcfResult<String>;
    /// Names of the nodes in this node's partition.
    fn partition(&self) -> OcfResult<BTreeSet<String>>;
    /// The promotion score of `node`, if it has one.
    fn score(&self, node: &str) -> OcfResult<Option<i64>>;
    fn set_score(&self, node: &str, score: i64) -> OcfResult<()>;
    /// One of the agent's private attributes on `node`; `None` when absent or empty.
    fn private(&self, attr: &str, node: &str) -> OcfResult<Option<String>>;
    /// Every node's value of one of the agent's private attributes.
    fn private_all(&self, attr: &str) -> OcfResult<BTreeMap<String, String>>;
    /// Sets one of the agent's private attributes for the local node.
    fn set_private(&self, attr: &str, value: &str) -> OcfResult<()>;
    /// Deletes several of the local node's private attributes.
    fn delete_private_all(&self, attrs: &[&str]) -> OcfResult<()>;
    /// Sets (or with `None` deletes) a transient attribute of `node`: private ones stay
    /// in attrd's memory, public ones reach the CIB's status section.
    fn change_for(
        &self,
        node: &str,
        attr: &str,
        private: bool,
        value: Option<&str>,
    ) -> OcfResult<()>;
    /// Where the clone's instances run, and which one is promoted.
    fn locate(&self) -> OcfResult<Vec<Located>>;
}
