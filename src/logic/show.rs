//! `pgsqlms show`: the cluster at a glance, built from what Pacemaker says (crm_mon) and
//! the replication view the primary's monitor publishes. Pure: the model, the exit-code
//! rules (monitoring-plugin convention) and the table and JSON renderings.

use crate::logic::crm_mon::{NodeState, PacemakerView, Role};
use crate::logic::history::PromotionRecord;
use crate::logic::json::Json;
use crate::logic::lsn::Lsn;
use crate::logic::replication_view::{PublishedView, WalSender};
use std::collections::BTreeSet;

/// Identifies the JSON layout (docs/show-json.md); bumped on incompatible changes.
pub const SCHEMA: &str = "pgsqlms-show/1";
/// A replication view older than this is stale by default: a few monitor intervals beyond
/// the publication's refresh.
pub const STALE_AFTER_SECS: u64 = 120;

/// The monitoring-plugin status, also the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Healthy = 0,
    Degraded = 1,
    NoPrimary = 2,
    Unknown = 3,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "OK",
            Status::Degraded => "DEGRADED",
            Status::NoPrimary => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// One node's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node: String,
    pub pacemaker: NodeState,
    pub role: Role,
    /// `read-write` for the primary, the WAL sender's state for a standby.
    pub postgres: Option<String>,
    pub timeline: Option<u32>,
    pub written: Option<Lsn>,
    pub received: Option<Lsn>,
    pub replayed: Option<Lsn>,
    pub lag_bytes: Option<u64>,
    pub lag_ms: Option<u64>,
    /// `sync`, `quorum`, `potential`, `async`, or `not in set`.
    pub sync: Option<String>,
    pub promotion_score: Option<i64>,
    pub fail_count: u64,
    /// What needs attention now: these make the status degraded.
    pub notes: Vec<String>,
    /// Failed operations Pacemaker still records, with the agent's exit reason: shown, but
    /// history (a handed-over promotion is one), not health by themselves.
    pub failed_ops: Vec<String>,
}

/// Where the replication columns come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewAge {
    pub published_by: String,
    pub published_at: u64,
    pub age_secs: u64,
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Show {
    pub resource: String,
    pub local_node: String,
    pub quorum: bool,
    pub primary: Option<String>,
    pub vips: Vec<(String, Option<String>)>,
    pub view: Option<ViewAge>,
    pub maxlag: u64,
    pub latest_promotion: Option<PromotionRecord>,
    pub nodes: Vec<NodeRow>,
    pub status: Status,
    /// Why the status is not healthy, one line each.
    pub reasons: Vec<String>,
}

/// Everything `build` needs, gathered by the caller.
pub struct Inputs<'a> {
    pub pacemaker: &'a PacemakerView,
    /// The freshest replication view any node holds.
    pub view: Option<&'a PublishedView>,
    pub latest_promotion: Option<&'a PromotionRecord>,
    pub local_node: &'a str,
    /// Unix seconds.
    pub now: u64,
    pub stale_after: u64,
    /// The standbys that published that their replay is paused.
    pub replay_paused: &'a BTreeSet<String>,
}

/// The private attribute a standby's monitor sets while its WAL replay is paused.
pub const REPLAY_PAUSED: &str = "replay_paused";

fn is_sync_member(sync_state: &str) -> bool {
    matches!(sync_state, "sync" | "quorum" | "potential")
}

pub fn build(i: &Inputs) -> Show {
    let pm = i.pacemaker;
    let primary = pm
        .nodes
        .iter()
        .find(|n| n.role == Role::Primary)
        .map(|n| n.name.clone());
    let view_age = i.view.map(|v| {
        let age_secs = i.now.saturating_sub(v.published_at);
        ViewAge {
            published_by: v.primary.clone(),
            published_at: v.published_at,
            age_secs,
            stale: age_secs > i.stale_after || primary.as_deref() != Some(v.primary.as_str()),
        }
    });
    let maxlag = i.view.map_or(0, |v| v.maxlag);
    let senders: &[WalSender] = i.view.map_or(&[], |v| &v.replication.senders);
    let sync_configured = senders.iter().any(|s| is_sync_member(&s.sync_state));
    let beyond = |lag: Option<u64>| maxlag > 0 && lag.is_some_and(|l| l > maxlag);
    let mut reasons = Vec::new();
    let nodes: Vec<NodeRow> = pm
        .nodes
        .iter()
        .map(|n| {
            let mut row = NodeRow {
                node: n.name.clone(),
                pacemaker: n.state,
                role: n.role,
                postgres: None,
                timeline: None,
                written: None,
                received: None,
                replayed: None,
                lag_bytes: None,
                lag_ms: None,
                sync: None,
                promotion_score: n.promotion_score,
                fail_count: n.fail_count,
                notes: Vec::new(),
                failed_ops: Vec::new(),
            };
            let published_by_it = i.view.filter(|v| v.primary == n.name);
            if let (Role::Primary, Some(v)) = (n.role, published_by_it) {
                row.postgres = Some("read-write".into());
                row.timeline = Some(v.replication.timeline);
                row.written = Some(v.replication.current);
            } else if let Some(s) = senders.iter().find(|s| s.row.application_name == n.name) {
                row.postgres = Some(s.row.state.clone());
                if s.row.state == "streaming" {
                    row.timeline = i.view.map(|v| v.replication.timeline);
                }
                row.written = s.row.write_lsn;
                row.received = s.flush_lsn;
                row.replayed = s.replay_lsn;
                row.lag_bytes = s.row.lag;
                row.lag_ms = s.replay_lag_ms;
                row.sync = Some(s.sync_state.clone());
                if beyond(s.row.lag) {
                    row.notes.push(format!("behind maxlag ({maxlag} bytes)"));
                }
                if sync_configured && !is_sync_member(&s.sync_state) {
                    row.notes.push("out of the synchronous set".into());
                }
            } else if n.role != Role::Primary && i.view.is_some() {
                row.sync = Some("not in set".into());
            }
            if n.role != Role::Primary && row.postgres.as_deref() != Some("streaming") {
                row.notes.push("not streaming".into());
            }
            if n.role != Role::Primary && i.replay_paused.contains(&n.name) {
                row.notes.push("replay paused".into());
            }
            for f in &n.failures {
                row.failed_ops
                    .push(format!("{} failed: {}", f.task, f.reason));
            }
            row
        })
        .collect();
    let status = if !pm.quorum {
        reasons.push(format!(
            "{} has no quorum: what it shows may be stale",
            i.local_node
        ));
        Status::Unknown
    } else if primary.is_none() {
        reasons.push("no writable primary".into());
        Status::NoPrimary
    } else {
        match &view_age {
            None => {
                reasons.push("the primary has published no replication view yet".into());
                Status::Unknown
            }
            Some(v) if primary.as_deref() != Some(v.published_by.as_str()) => {
                reasons.push(format!(
                    "the replication view comes from {}, not from the primary (its monitor has not published yet)",
                    v.published_by
                ));
                Status::Unknown
            }
            Some(v) if v.stale => {
                reasons.push(format!(
                    "the replication view from {} is {} old: it may be stale",
                    v.published_by,
                    age(v.age_secs)
                ));
                Status::Unknown
            }
            Some(_) => {
                for r in nodes.iter().filter(|r| r.role != Role::Primary) {
                    for note in &r.notes {
                        reasons.push(format!("{}: {note}", r.node));
                    }
                }
                if reasons.is_empty() {
                    Status::Healthy
                } else {
                    Status::Degraded
                }
            }
        }
    };
    Show {
        resource: pm.resource.clone(),
        local_node: i.local_node.to_string(),
        quorum: pm.quorum,
        primary,
        vips: pm
            .vips
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        view: view_age,
        maxlag,
        latest_promotion: i.latest_promotion.cloned(),
        nodes,
        status,
        reasons,
    }
}

impl Show {
    /// The answer for one node (`--node`), optionally required to hold `role`: 0 when it
    /// serves in its role as it should, 1 when it is a standby in trouble, 2 when it
    /// serves nothing (or not the required role), 3 when this node cannot tell.
    pub fn for_node(&self, node: &str, required: Option<Role>) -> (Status, Vec<String>) {
        let Some(row) = self.nodes.iter().find(|r| r.node == node) else {
            return (
                Status::Unknown,
                vec![format!("no node {node} in the cluster")],
            );
        };
        if !self.quorum {
            return (Status::Unknown, self.reasons.clone());
        }
        if let Some(want) = required.filter(|r| *r != row.role) {
            let why = format!("{node} is {}, not {}", row.role.as_str(), want.as_str());
            return (Status::NoPrimary, vec![why]);
        }
        match row.role {
            Role::Primary => (Status::Healthy, vec![]),
            Role::Stopped | Role::Failed => (
                Status::NoPrimary,
                vec![format!("{node} is {}", row.role.as_str())],
            ),
            Role::Standby => match &self.view {
                Some(v) if !v.stale => {
                    let notes: Vec<String> =
                        row.notes.iter().map(|n| format!("{node}: {n}")).collect();
                    let status = if notes.is_empty() {
                        Status::Healthy
                    } else {
                        Status::Degraded
                    };
                    (status, notes)
                }
                _ => (
                    Status::Unknown,
                    vec!["no fresh replication view to judge this standby by".into()],
                ),
            },
        }
    }

    /// Only `node`'s row, with the status for it.
    pub fn only(mut self, node: &str, required: Option<Role>) -> Show {
        let (status, reasons) = self.for_node(node, required);
        self.nodes.retain(|r| r.node == node);
        self.status = status;
        self.reasons = reasons;
        self
    }
}

/// `95 s`, `12 min`, `3 h`, `2 d`.
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 180 => format!("{s} s"),
        s if s < 3 * 3600 => format!("{} min", s / 60),
        s if s < 3 * 86400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86400),
    }
}

/// Unix seconds as `2026-12-02 03:07:35Z`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // days to civil date (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// `12.3`-style seconds from milliseconds.
fn seconds(ms: u64) -> String {
    format!("{}.{}", ms / 1000, ms % 1000 / 100)
}

/// One line about a promotion record, for `show`'s header and `history`'s table.
pub fn promotion_line(r: &PromotionRecord) -> String {
    let former = r.former_primary.as_deref().unwrap_or("none");
    let winner = r.winner.as_deref().unwrap_or("nobody");
    format!(
        "{} {} on {} (former primary {former}, winner {winner}): {}",
        utc(r.at),
        r.outcome.as_str(),
        r.promotee,
        r.rule
    )
}

/// Left-aligned columns separated by two spaces, trailing blanks trimmed.
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

impl Show {
    pub fn table(&self) -> String {
        let vip = if self.vips.is_empty() {
            "none".to_string()
        } else {
            self.vips
                .iter()
                .map(|(r, n)| format!("{r} on {}", n.as_deref().unwrap_or("no node")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let data = match &self.view {
            None => "no replication view published".to_string(),
            Some(v) => format!(
                "replication view from {}, {} old{}",
                v.published_by,
                age(v.age_secs),
                if v.stale { " (STALE)" } else { "" }
            ),
        };
        let mut out = format!(
            "{} {}: resource {}, primary {}, VIP {vip}, quorum {}\nseen from {}: {data}\n",
            self.status.as_str(),
            self.status as i32,
            self.resource,
            self.primary.as_deref().unwrap_or("NONE"),
            if self.quorum { "yes" } else { "NO" },
            self.local_node
        );
        if let Some(r) = &self.latest_promotion {
            out.push_str(&format!("last promotion: {}\n", promotion_line(r)));
        }
        out.push('\n');
        let mut rows = vec![[
            "NODE",
            "PACEMAKER",
            "ROLE",
            "POSTGRES",
            "TL",
            "WRITTEN/RECEIVED/REPLAYED",
            "LAG",
            "LAG S",
            "SYNC",
            "SCORE",
            "FAILS",
            "NOTE",
        ]
        .map(String::from)
        .to_vec()];
        for r in &self.nodes {
            let lsns = match (r.written, r.received, r.replayed) {
                (None, None, None) => "-".to_string(),
                (w, None, None) => dash(w),
                (w, rc, rp) => format!("{} {} {}", dash(w), dash(rc), dash(rp)),
            };
            rows.push(vec![
                r.node.clone(),
                r.pacemaker.as_str().into(),
                r.role.as_str().into(),
                dash(r.postgres.clone()),
                dash(r.timeline),
                lsns,
                dash(r.lag_bytes),
                dash(r.lag_ms.map(seconds)),
                dash(r.sync.clone()),
                dash(r.promotion_score),
                r.fail_count.to_string(),
                r.notes
                    .iter()
                    .chain(&r.failed_ops)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; "),
            ]);
        }
        out.push_str(&columns(&rows));
        for why in &self.reasons {
            out.push_str(&format!("! {why}\n"));
        }
        out
    }

    pub fn json(&self) -> Json {
        let lsn = |l: Option<Lsn>| Json::opt(l, |l| Json::str(l.to_string()));
        let nodes = self
            .nodes
            .iter()
            .map(|r| {
                Json::Obj(vec![
                    ("node", Json::str(&r.node)),
                    ("pacemaker", Json::str(r.pacemaker.as_str())),
                    ("role", Json::str(r.role.as_str())),
                    ("postgres", Json::opt(r.postgres.clone(), Json::str)),
                    ("timeline", Json::opt(r.timeline, |t| Json::Int(t.into()))),
                    ("written_lsn", lsn(r.written)),
                    ("received_lsn", lsn(r.received)),
                    ("replayed_lsn", lsn(r.replayed)),
                    ("lag_bytes", Json::opt(r.lag_bytes, Json::uint)),
                    ("lag_ms", Json::opt(r.lag_ms, Json::uint)),
                    ("sync", Json::opt(r.sync.clone(), Json::str)),
                    ("promotion_score", Json::opt(r.promotion_score, Json::Int)),
                    ("fail_count", Json::uint(r.fail_count)),
                    ("notes", Json::Arr(r.notes.iter().map(Json::str).collect())),
                    (
                        "failed_operations",
                        Json::Arr(r.failed_ops.iter().map(Json::str).collect()),
                    ),
                ])
            })
            .collect();
        Json::Obj(vec![
            ("schema", Json::str(SCHEMA)),
            ("status", Json::Int(self.status as i64)),
            ("status_text", Json::str(self.status.as_str())),
            (
                "reasons",
                Json::Arr(self.reasons.iter().map(Json::str).collect()),
            ),
            ("resource", Json::str(&self.resource)),
            ("local_node", Json::str(&self.local_node)),
            ("quorum", Json::Bool(self.quorum)),
            ("primary", Json::opt(self.primary.clone(), Json::str)),
            (
                "vips",
                Json::Arr(
                    self.vips
                        .iter()
                        .map(|(r, n)| {
                            Json::Obj(vec![
                                ("resource", Json::str(r)),
                                ("node", Json::opt(n.clone(), Json::str)),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "replication_view",
                Json::opt(self.view.as_ref(), |v| {
                    Json::Obj(vec![
                        ("published_by", Json::str(&v.published_by)),
                        ("published_at", Json::uint(v.published_at)),
                        ("age_seconds", Json::uint(v.age_secs)),
                        ("stale", Json::Bool(v.stale)),
                    ])
                }),
            ),
            ("maxlag", Json::uint(self.maxlag)),
            (
                "latest_promotion",
                Json::opt(self.latest_promotion.as_ref(), record_json),
            ),
            ("nodes", Json::Arr(nodes)),
        ])
    }
}

/// A promotion record in JSON (`history --json`, `show --json`).
pub fn record_json(r: &PromotionRecord) -> Json {
    Json::Obj(vec![
        ("at", Json::uint(r.at)),
        ("at_utc", Json::str(utc(r.at))),
        ("promotee", Json::str(&r.promotee)),
        (
            "former_primary",
            Json::opt(r.former_primary.clone(), Json::str),
        ),
        ("outcome", Json::str(r.outcome.as_str())),
        ("winner", Json::opt(r.winner.clone(), Json::str)),
        ("rule", Json::str(&r.rule)),
        (
            "candidates",
            Json::Arr(
                r.candidates
                    .iter()
                    .map(|c| {
                        Json::Obj(vec![
                            ("node", Json::str(&c.node)),
                            (
                                "timeline",
                                Json::opt(c.position, |p| Json::Int(p.timeline.into())),
                            ),
                            (
                                "lsn",
                                Json::opt(c.position, |p| Json::str(p.lsn.to_string())),
                            ),
                            ("took_part", Json::Bool(c.took_part)),
                            ("excluded", Json::opt(c.excluded.clone(), Json::str)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "steps",
            Json::Arr(
                r.steps
                    .iter()
                    .map(|(s, ms)| Json::Obj(vec![("step", Json::str(s)), ("ms", Json::uint(*ms))]))
                    .collect(),
            ),
        ),
    ])
}

/// `pgsqlms history`: one block per record, newest first.
pub fn history_text(records: &[PromotionRecord]) -> String {
    if records.is_empty() {
        return "no promotion recorded (records live in attrd: a full cluster restart clears them)\n"
            .into();
    }
    let mut out = String::new();
    for r in records {
        out.push_str(&promotion_line(r));
        out.push('\n');
        let mut rows = vec![["  CANDIDATE", "TL", "LSN", "TOOK PART", "EXCLUDED"]
            .map(String::from)
            .to_vec()];
        for c in &r.candidates {
            rows.push(vec![
                format!("  {}", c.node),
                dash(c.position.map(|p| p.timeline)),
                dash(c.position.map(|p| p.lsn)),
                if c.took_part { "yes" } else { "no" }.into(),
                c.excluded.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        out.push_str(&columns(&rows));
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|(s, ms)| format!("{s} {ms} ms"))
            .collect();
        out.push_str(&format!("  steps: {}\n\n", steps.join(", ")));
    }
    out
}

pub fn history_json(records: &[PromotionRecord]) -> Json {
    Json::Obj(vec![
        ("schema", Json::str("pgsqlms-history/1")),
        (
            "records",
            Json::Arr(records.iter().map(record_json).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::crm_mon::{self, Failure, PacemakerNode};
    use crate::logic::history::test_support::failover;
    use crate::logic::replication_view::test_support::{sender, view};

    /// Compares with tests/fixtures/<name>; `UPDATE_GOLDEN=1` rewrites the file instead
    /// (then review its diff).
    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            actual, expected,
            "{name} differs (UPDATE_GOLDEN=1 rewrites it)"
        );
    }

    const NOW: u64 = 1_764_644_855; // 2025-12-02 03:07:35Z

    fn node(name: &str, role: Role) -> PacemakerNode {
        PacemakerNode {
            name: name.into(),
            state: NodeState::Online,
            role,
            promotion_score: Some(match role {
                Role::Primary => 1001,
                Role::Standby => 1000,
                _ => -1000,
            }),
            fail_count: 0,
            failures: vec![],
        }
    }

    fn cluster(nodes: Vec<PacemakerNode>) -> PacemakerView {
        PacemakerView {
            resource: "pgsqld".into(),
            quorum: true,
            vips: [("pgsql-vip".to_string(), Some("node1".to_string()))].into(),
            nodes,
        }
    }

    fn three() -> PacemakerView {
        cluster(vec![
            node("node1", Role::Primary),
            node("node2", Role::Standby),
            node("node3", Role::Standby),
        ])
    }

    fn healthy_view() -> PublishedView {
        view(
            NOW - 12,
            vec![
                sender("node2", "streaming", "quorum", 0x3000_0000, 0),
                sender("node3", "streaming", "quorum", 0x2FFF_F000, 4096),
            ],
        )
    }

    fn show(pm: &PacemakerView, v: Option<&PublishedView>) -> Show {
        build(&Inputs {
            pacemaker: pm,
            view: v,
            latest_promotion: None,
            local_node: "node2",
            now: NOW,
            stale_after: STALE_AFTER_SECS,
            replay_paused: &BTreeSet::new(),
        })
    }

    #[test]
    fn healthy_cluster_table_and_json_golden() {
        let (pm, v, rec) = (three(), healthy_view(), failover(NOW - 3600));
        let s = build(&Inputs {
            pacemaker: &pm,
            view: Some(&v),
            latest_promotion: Some(&rec),
            local_node: "node2",
            now: NOW,
            stale_after: STALE_AFTER_SECS,
            replay_paused: &BTreeSet::new(),
        });
        assert_eq!(s.status, Status::Healthy, "{:?}", s.reasons);
        golden("show-healthy.txt", &s.table());
        golden("show-healthy.json", &(s.json().pretty() + "\n"));
    }

    #[test]
    fn a_standby_with_paused_replay_needs_attention() {
        let (pm, v) = (three(), healthy_view());
        let paused: BTreeSet<String> = ["node3".to_string(), "node1".to_string()].into();
        let s = build(&Inputs {
            pacemaker: &pm,
            view: Some(&v),
            latest_promotion: None,
            local_node: "node2",
            now: NOW,
            stale_after: STALE_AFTER_SECS,
            replay_paused: &paused,
        });
        assert_eq!(s.status, Status::Degraded, "{:?}", s.reasons);
        let notes = |n: &str| s.nodes.iter().find(|r| r.node == n).unwrap().notes.clone();
        assert_eq!(notes("node3"), ["replay paused"]);
        // the primary (node1) replays nothing: a leftover attribute means nothing there
        assert!(notes("node1").is_empty(), "{:?}", notes("node1"));
        assert!(notes("node2").is_empty());
    }

    #[test]
    fn degraded_cluster_table_golden() {
        let mut pm = three();
        pm.nodes[2].state = NodeState::Offline;
        pm.nodes[2].role = Role::Failed;
        pm.nodes[2].fail_count = 1_000_000;
        pm.nodes[2].failures.push(Failure {
            task: "start".into(),
            reason: "refusing to start: primary crashed; rebuild it".into(),
        });
        let mut v = view(
            NOW - 3,
            vec![sender(
                "node2",
                "streaming",
                "async",
                0x2000_0000,
                0x1000_0000,
            )],
        );
        v.maxlag = 1_000_000;
        let s = show(&pm, Some(&v));
        assert_eq!(s.status, Status::Degraded);
        golden("show-degraded.txt", &s.table());
    }

    #[test]
    fn exit_rules() {
        let v = healthy_view();
        assert_eq!(show(&three(), Some(&v)).status, Status::Healthy);
        // no quorum here trumps everything
        let mut pm = three();
        pm.quorum = false;
        assert_eq!(show(&pm, Some(&v)).status, Status::Unknown);
        pm.nodes[0].role = Role::Stopped;
        assert_eq!(show(&pm, Some(&v)).status, Status::Unknown);
        // no primary
        pm.quorum = true;
        assert_eq!(show(&pm, Some(&v)).status, Status::NoPrimary);
        assert_eq!(show(&pm, None).status, Status::NoPrimary);
        // a primary, but no view, or a stale one, or one from another node
        assert_eq!(show(&three(), None).status, Status::Unknown);
        let mut old = healthy_view();
        old.published_at = NOW - STALE_AFTER_SECS - 1;
        assert_eq!(show(&three(), Some(&old)).status, Status::Unknown);
        old.published_at = NOW - STALE_AFTER_SECS;
        assert_eq!(show(&three(), Some(&old)).status, Status::Healthy);
        let mut other = healthy_view();
        other.primary = "node3".into();
        let s = show(&three(), Some(&other));
        assert_eq!(s.status, Status::Unknown);
        assert!(
            s.reasons[0].contains("not from the primary"),
            "{:?}",
            s.reasons
        );
        // degraded: a standby missing, not streaming, behind maxlag, out of the sync set
        let missing = view(NOW, vec![sender("node2", "streaming", "quorum", 1, 0)]);
        assert_eq!(show(&three(), Some(&missing)).status, Status::Degraded);
        let mut catchup = healthy_view();
        catchup.replication.senders[1].row.state = "catchup".into();
        assert_eq!(show(&three(), Some(&catchup)).status, Status::Degraded);
        let mut lagging = healthy_view();
        lagging.maxlag = 4095;
        assert_eq!(show(&three(), Some(&lagging)).status, Status::Degraded);
        lagging.maxlag = 4096;
        assert_eq!(show(&three(), Some(&lagging)).status, Status::Healthy);
        let mut out_of_set = healthy_view();
        out_of_set.replication.senders[1].sync_state = "async".into();
        assert_eq!(show(&three(), Some(&out_of_set)).status, Status::Degraded);
        // a failed operation Pacemaker still records (a handed-over promotion) on a standby
        // that streams again: shown, not degraded
        let mut handed = three();
        handed.nodes[1].failures.push(Failure {
            task: "promote".into(),
            reason: "promotion handed over to the more advanced node3".into(),
        });
        let s = show(&handed, Some(&v));
        assert_eq!(s.status, Status::Healthy);
        assert!(s.table().contains("promote failed: promotion handed over"));
        // all async: no synchronous replication configured, nothing is out of a set
        let mut all_async = out_of_set;
        all_async.replication.senders[0].sync_state = "async".into();
        assert_eq!(show(&three(), Some(&all_async)).status, Status::Healthy);
    }

    #[test]
    fn answers_for_one_node() {
        let v = view(NOW, vec![sender("node2", "streaming", "async", 1, 0)]);
        let s = show(&three(), Some(&v));
        assert_eq!(s.for_node("node1", None).0, Status::Healthy);
        assert_eq!(s.for_node("node1", Some(Role::Primary)).0, Status::Healthy);
        assert_eq!(s.for_node("node2", None).0, Status::Healthy);
        assert_eq!(
            s.for_node("node2", Some(Role::Primary)).0,
            Status::NoPrimary
        );
        assert_eq!(s.for_node("node3", None).0, Status::Degraded);
        assert_eq!(s.for_node("node9", None).0, Status::Unknown);
        let mut pm = three();
        pm.nodes[2].role = Role::Stopped;
        assert_eq!(
            show(&pm, Some(&v)).for_node("node3", None).0,
            Status::NoPrimary
        );
        assert_eq!(
            show(&three(), None).for_node("node2", None).0,
            Status::Unknown
        );
        assert_eq!(
            show(&three(), None).for_node("node1", None).0,
            Status::Healthy
        );
        let only = s.only("node3", None);
        assert_eq!(only.nodes.len(), 1);
        assert_eq!(only.status, Status::Degraded);
        assert_eq!(only.reasons, ["node3: not streaming"]);
    }

    #[test]
    fn reads_a_real_crm_mon_output() {
        let pm = crm_mon::parse(
            include_str!("../../tests/fixtures/crm_mon-failed-start.xml"),
            None,
        )
        .unwrap();
        let s = show(&pm, None);
        assert_eq!(s.status, Status::NoPrimary);
        assert!(s.nodes[1].failed_ops[0].starts_with("start failed: refusing to start"));
    }

    #[test]
    fn history_golden() {
        let mut handed = failover(NOW);
        handed.outcome = crate::logic::history::Outcome::HandedOver;
        handed.promotee = "node3".into();
        handed.rule = "node2 is more advanced (timeline 3 at 0/30000148)".into();
        let records = [handed, failover(NOW - 3600)];
        golden("history.txt", &history_text(&records));
        golden(
            "history.json",
            &(history_json(&records[1..]).pretty() + "\n"),
        );
        assert!(history_text(&[]).starts_with("no promotion recorded"));
    }

    #[test]
    fn renders_ages_and_utc_times() {
        assert_eq!(age(0), "0 s");
        assert_eq!(age(179), "179 s");
        assert_eq!(age(180), "3 min");
        assert_eq!(age(4 * 3600), "4 h");
        assert_eq!(age(5 * 86400), "5 d");
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(NOW), "2025-12-02 03:07:35Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(seconds(1234), "1.2");
    }
}
