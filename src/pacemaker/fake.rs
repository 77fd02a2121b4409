//! An in-memory Pacemaker for unit tests of what the actions ask of the cluster: scores and
//! attributes are plain maps, and every call can be made to fail, as attrd or the CIB do
//! when Pacemaker restarts.

use crate::logic::headless::Located;
use crate::pacemaker::{Pacemaker, PacemakerError, PacemakerResult};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub struct FakePacemaker {
    pub local: String,
    pub partition: BTreeSet<String>,
    pub scores: RefCell<BTreeMap<String, i64>>,
    /// (attribute, node) -> value, private and public alike.
    pub attributes: RefCell<BTreeMap<(String, String), String>>,
    pub located: Vec<Located>,
    /// When set, every call fails, as while attrd restarts.
    pub down: Cell<bool>,
    /// Every score write, in order.
    pub score_writes: RefCell<Vec<(String, i64)>>,
    pub quorate: Cell<bool>,
    pub sync_record: RefCell<Option<String>>,
}

impl FakePacemaker {
    /// A partition of `nodes`, the first being the local one.
    pub fn new(nodes: &[&str]) -> Self {
        FakePacemaker {
            local: nodes[0].to_string(),
            partition: nodes.iter().map(|n| n.to_string()).collect(),
            quorate: Cell::new(true),
            ..Default::default()
        }
    }

    pub fn with_score(self, node: &str, score: i64) -> Self {
        self.scores.borrow_mut().insert(node.to_string(), score);
        self
    }

    pub fn with_attribute(self, attr: &str, node: &str, value: &str) -> Self {
        self.attributes
            .borrow_mut()
            .insert((attr.to_string(), node.to_string()), value.to_string());
        self
    }

    pub fn attribute(&self, attr: &str, node: &str) -> Option<String> {
        self.attributes
            .borrow()
            .get(&(attr.to_string(), node.to_string()))
            .cloned()
    }

    fn up(&self) -> PacemakerResult<()> {
        if self.down.get() {
            Err(PacemakerError::Failed {
                what: "reach attrd".into(),
                message: "Pacemaker is down".into(),
            })
        } else {
            Ok(())
        }
    }
}

impl Pacemaker for FakePacemaker {
    fn local_node(&self) -> PacemakerResult<String> {
        self.up().map(|()| self.local.clone())
    }

    fn partition(&self) -> PacemakerResult<BTreeSet<String>> {
        self.up().map(|()| self.partition.clone())
    }

    fn score(&self, node: &str) -> PacemakerResult<Option<i64>> {
        self.up().map(|()| self.scores.borrow().get(node).copied())
    }

    fn set_score(&self, node: &str, score: i64) -> PacemakerResult<()> {
        self.up()?;
        self.scores.borrow_mut().insert(node.to_string(), score);
        self.score_writes
            .borrow_mut()
            .push((node.to_string(), score));
        Ok(())
    }

    fn private(&self, attr: &str, node: &str) -> PacemakerResult<Option<String>> {
        self.up()?;
        Ok(self.attribute(attr, node).filter(|v| !v.is_empty()))
    }

    fn private_all(&self, attr: &str) -> PacemakerResult<BTreeMap<String, String>> {
        self.up()?;
        Ok(self
            .attributes
            .borrow()
            .iter()
            .filter(|((a, _), v)| a == attr && !v.is_empty())
            .map(|((_, node), v)| (node.clone(), v.clone()))
            .collect())
    }

    fn set_private(&self, attr: &str, value: &str) -> PacemakerResult<()> {
        self.change_for(&self.local.clone(), attr, true, Some(value))
    }

    fn delete_private_all(&self, attrs: &[&str]) -> PacemakerResult<()> {
        let local = self.local.clone();
        attrs
            .iter()
            .try_for_each(|attr| self.change_for(&local, attr, true, None))
    }

    fn change_for(
        &self,
        node: &str,
        attr: &str,
        _private: bool,
        value: Option<&str>,
    ) -> PacemakerResult<()> {
        self.up()?;
        let key = (attr.to_string(), node.to_string());
        let mut attributes = self.attributes.borrow_mut();
        match value {
            Some(v) => attributes.insert(key, v.to_string()),
            None => attributes.remove(&key),
        };
        Ok(())
    }

    fn locate(&self) -> PacemakerResult<Vec<Located>> {
        self.up().map(|()| self.located.clone())
    }

    fn has_quorum(&self) -> PacemakerResult<bool> {
        self.up().map(|()| self.quorate.get())
    }

    fn sync_record(&self) -> PacemakerResult<Option<String>> {
        self.up().map(|()| self.sync_record.borrow().clone())
    }

    fn set_sync_record(&self, value: &str) -> PacemakerResult<()> {
        self.up()?;
        *self.sync_record.borrow_mut() = Some(value.to_string());
        Ok(())
    }
}
