//! Pacemaker's notification environment, parsed into plain data, and the decisions drawn
//! from it. Accepts both vocabularies: `master_*`/`slave_*` and Pacemaker 2.1's
//! `promoted_*`/`unpromoted_*`.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Pre,
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Start,
    Stop,
    Promote,
    Demote,
}

/// Node lists of one notification; each set holds node names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeLists {
    pub active: BTreeSet<String>,
    pub inactive: BTreeSet<String>,
    pub start: BTreeSet<String>,
    pub stop: BTreeSet<String>,
    pub promote: BTreeSet<String>,
    pub demote: BTreeSet<String>,
    pub promoted: BTreeSet<String>,
    pub unpromoted: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub when: When,
    pub operation: Operation,
    pub nodes: NodeLists,
}

const PREFIX: &str = "OCF_RESKEY_CRM_meta_notify_";

fn list(env: &HashMap<String, String>, names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .filter_map(|n| env.get(&format!("{PREFIX}{n}_uname")))
        .flat_map(|v| v.split_whitespace().map(str::to_string))
        .collect()
}

impl Notification {
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, String> {
        let get = |k: &str| env.get(&format!("{PREFIX}{k}")).map(|v| v.trim());
        let when = match get("type") {
            Some("pre") => When::Pre,
            Some("post") => When::Post,
            other => return Err(format!("unknown notification type {other:?}")),
        };
        let operation = match get("operation") {
            Some("start") => Operation::Start,
            Some("stop") => Operation::Stop,
            Some("promote") => Operation::Promote,
            Some("demote") => Operation::Demote,
            other => return Err(format!("unknown notification operation {other:?}")),
        };
        let nodes = NodeLists {
            active: list(env, &["active"]),
            inactive: list(env, &["inactive"]),
            start: list(env, &["start"]),
            stop: list(env, &["stop"]),
            promote: list(env, &["promote"]),
            demote: list(env, &["demote"]),
            promoted: list(env, &["promoted", "master"]),
            unpromoted: list(env, &["unpromoted", "slave"]),
        };
        Ok(Notification {
            when,
            operation,
            nodes,
        })
    }

    /// The node being promoted, when exactly one is.
    pub fn promotee(&self) -> Option<&str> {
        single(&self.nodes.promote)
    }

    /// The nodes whose instance will run after this transition, so that may hold more WAL
    /// than the promotee: active plus started minus stopped.
    pub fn candidates(&self) -> BTreeSet<String> {
        let n = &self.nodes;
        n.active
            .union(&n.start)
            .filter(|node| !n.stop.contains(*node))
            .cloned()
            .collect()
    }

    /// A planned switchover to `local`: the only primary is demoted (not stopped) and
    /// `local`, a standby, is promoted in the same transition. Returns the old primary.
    pub fn switchover_from(&self, local: &str) -> Option<&str> {
        let n = &self.nodes;
        let old = single(&n.promoted)?;
        let ok = single(&n.demote) == Some(old)
            && self.promotee() == Some(local)
            && n.unpromoted.contains(local)
            && !n.stop.contains(old)
            && old != local;
        ok.then_some(old)
    }

    /// Pacemaker recovers the primary in place: `node` is both promoted and being promoted.
    pub fn is_primary_recovery(&self, node: &str) -> bool {
        self.nodes.promoted.contains(node) && self.nodes.promote.contains(node)
    }
}

fn single(set: &BTreeSet<String>) -> Option<&str> {
    (set.len() == 1).then(|| set.iter().next().map(String::as_str))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_type_operation_and_lists_with_stray_spaces() {
        let n = Notification::from_env(&env(&[
            ("type", "pre"),
            ("operation", "promote"),
            ("active_uname", "node1 node2  node3 "),
            ("promote_uname", "node2 "),
            ("master_uname", " "),
            ("slave_uname", "node1 node2 node3"),
        ]))
        .unwrap();
        assert_eq!(n.when, When::Pre);
        assert_eq!(n.operation, Operation::Promote);
        assert_eq!(n.nodes.active, set(&["node1", "node2", "node3"]));
        assert_eq!(n.promotee(), Some("node2"));
        assert!(n.nodes.promoted.is_empty());
        assert_eq!(n.nodes.unpromoted, set(&["node1", "node2", "node3"]));
    }

    #[test]
    fn accepts_both_vocabularies() {
        let old = Notification::from_env(&env(&[
            ("type", "post"),
            ("operation", "demote"),
            ("master_uname", "a"),
            ("slave_uname", "b c"),
        ]))
        .unwrap();
        let new = Notification::from_env(&env(&[
            ("type", "post"),
            ("operation", "demote"),
            ("promoted_uname", "a"),
            ("unpromoted_uname", "b c"),
        ]))
        .unwrap();
        assert_eq!(old, new);
        // Pacemaker 2.1 sets both families to the same lists: no duplicates.
        let both = Notification::from_env(&env(&[
            ("type", "post"),
            ("operation", "demote"),
            ("master_uname", "a"),
            ("promoted_uname", "a"),
            ("slave_uname", "b c"),
            ("unpromoted_uname", "b c"),
        ]))
        .unwrap();
        assert_eq!(both, new);
    }

    #[test]
    fn refuses_unknown_type_or_operation() {
        assert!(
            Notification::from_env(&env(&[("type", "during"), ("operation", "start")])).is_err()
        );
        assert!(
            Notification::from_env(&env(&[("type", "pre"), ("operation", "migrate")])).is_err()
        );
        assert!(Notification::from_env(&env(&[("operation", "start")])).is_err());
    }

    #[test]
    fn operations_all_parse() {
        for (s, op) in [
            ("start", Operation::Start),
            ("stop", Operation::Stop),
            ("promote", Operation::Promote),
            ("demote", Operation::Demote),
        ] {
            let n = Notification::from_env(&env(&[("type", "post"), ("operation", s)])).unwrap();
            assert_eq!(n.operation, op);
        }
    }

    #[test]
    fn candidates_are_active_plus_started_minus_stopped() {
        let n = Notification::from_env(&env(&[
            ("type", "pre"),
            ("operation", "promote"),
            ("active_uname", "a b c"),
            ("start_uname", "d"),
            ("stop_uname", "c"),
        ]))
        .unwrap();
        assert_eq!(n.candidates(), set(&["a", "b", "d"]));
    }

    fn switchover_env(extra: &[(&str, &str)]) -> Notification {
        let mut pairs = vec![
            ("type", "pre"),
            ("operation", "promote"),
            ("active_uname", "a b c"),
            ("promoted_uname", "a"),
            ("unpromoted_uname", "b c"),
            ("demote_uname", "a"),
            ("promote_uname", "b"),
        ];
        pairs.extend_from_slice(extra);
        Notification::from_env(&env(&pairs)).unwrap()
    }

    #[test]
    fn detects_switchover_on_the_promotee_only() {
        let n = switchover_env(&[]);
        assert_eq!(n.switchover_from("b"), Some("a"));
        assert_eq!(n.switchover_from("c"), None);
        assert_eq!(n.switchover_from("a"), None);
    }

    #[test]
    fn stopping_the_old_primary_is_a_failover_not_a_switchover() {
        let n = switchover_env(&[("stop_uname", "a")]);
        assert_eq!(n.switchover_from("b"), None);
    }

    #[test]
    fn no_switchover_without_a_demote_or_with_several_primaries() {
        let n = switchover_env(&[("demote_uname", "")]);
        assert_eq!(n.switchover_from("b"), None);
        let n = switchover_env(&[("promoted_uname", "a c")]);
        assert_eq!(n.switchover_from("b"), None);
        let n = switchover_env(&[("promote_uname", "b c")]);
        assert_eq!(n.switchover_from("b"), None);
    }

    #[test]
    fn recovery_predicates() {
        let n = Notification::from_env(&env(&[
            ("type", "pre"),
            ("operation", "promote"),
            ("promoted_uname", "a"),
            ("promote_uname", "a"),
        ]))
        .unwrap();
        assert!(n.is_primary_recovery("a"));
        assert!(!n.is_primary_recovery("b"));
    }
}
