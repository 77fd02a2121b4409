//! The environment Pacemaker gives a notify action.

use super::*;

// ---------------------------------------------------------------------------------------------
// notify environment

/// The node lists Pacemaker passes to a notify action.
#[derive(Debug, Clone, Default)]
pub struct NotifyEnv {
    pub typ: String,
    pub op: String,
    pub active: Vec<String>,
    pub inactive: Vec<String>,
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub promote: Vec<String>,
    pub demote: Vec<String>,
    /// Current primaries (master_uname / promoted_uname).
    pub promoted: Vec<String>,
    /// Current standbys (slave_uname / unpromoted_uname).
    pub unpromoted: Vec<String>,
    pub vocab: Vocab,
}

/// Which family of variable names to set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Vocab {
    /// master_* / slave_* only (Pacemaker before 2.1, and PAF's vocabulary).
    #[default]
    Legacy,
    /// promoted_* / unpromoted_* only.
    Promoted,
    /// both families, as Pacemaker 2.1+ sets them.
    Both,
}

pub fn v(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl NotifyEnv {
    pub fn new(typ: &str, op: &str) -> NotifyEnv {
        NotifyEnv {
            typ: typ.into(),
            op: op.into(),
            ..Default::default()
        }
    }

    /// A failover/first promotion: `standbys` are running standbys, `promotee` is promoted.
    pub fn promotion(standbys: &[&str], promotee: &str) -> NotifyEnv {
        NotifyEnv {
            typ: "pre".into(),
            op: "promote".into(),
            active: v(standbys),
            unpromoted: v(standbys),
            promote: v(&[promotee]),
            ..Default::default()
        }
    }

    /// A switchover: `old` (primary) is demoted and `new` (one of `standbys`) promoted.
    pub fn switchover(old: &str, standbys: &[&str], new: &str) -> NotifyEnv {
        let mut active = v(&[old]);
        active.extend(v(standbys));
        NotifyEnv {
            typ: "pre".into(),
            op: "promote".into(),
            active,
            promoted: v(&[old]),
            unpromoted: v(standbys),
            demote: v(&[old]),
            promote: v(&[new]),
            ..Default::default()
        }
    }

    pub fn vocab(mut self, v: Vocab) -> NotifyEnv {
        self.vocab = v;
        self
    }

    pub(super) fn vars(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "OCF_RESKEY_CRM_meta_notify_type".to_string(),
                self.typ.clone(),
            ),
            (
                "OCF_RESKEY_CRM_meta_notify_operation".to_string(),
                self.op.clone(),
            ),
        ];
        let mut lists: Vec<(&str, &Vec<String>)> = vec![
            ("active", &self.active),
            ("inactive", &self.inactive),
            ("start", &self.start),
            ("stop", &self.stop),
            ("promote", &self.promote),
            ("demote", &self.demote),
        ];
        if matches!(self.vocab, Vocab::Legacy | Vocab::Both) {
            lists.push(("master", &self.promoted));
            lists.push(("slave", &self.unpromoted));
        }
        if matches!(self.vocab, Vocab::Promoted | Vocab::Both) {
            lists.push(("promoted", &self.promoted));
            lists.push(("unpromoted", &self.unpromoted));
        }
        for (k, l) in lists {
            out.push((format!("OCF_RESKEY_CRM_meta_notify_{k}_uname"), l.join(" ")));
            let rsc: Vec<String> = l
                .iter()
                .map(|n| {
                    let i = NODE_NAMES.iter().position(|x| x == n).unwrap_or(9);
                    format!("{RSC}:{i}")
                })
                .collect();
            out.push((
                format!("OCF_RESKEY_CRM_meta_notify_{k}_resource"),
                rsc.join(" "),
            ));
        }
        out
    }
}
