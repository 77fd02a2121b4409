//! Promotion records: what every promotion (or cancelled or handed-over one) decided and
//! why, for `pgsqlms history` and the header of `pgsqlms show`. Pure: the record, its
//! storage form and the merge of the copies the nodes hold.
//!
//! Storage: the private attrd attribute `promotions-<resource>`, set to the same list for
//! every node of the partition. attrd keeps private attributes in memory on every node and
//! never writes them to the CIB, so a record causes no transition; attrd drops a node's
//! values when the node leaves, so the copies of the others survive the loss of any node.
//! A full cluster restart loses them.

use crate::logic::election::Published;
use crate::logic::lsn::WalPosition;
use crate::logic::replication_view::PublishedView;
use std::collections::BTreeMap;

/// The private attribute (suffixed with the resource's name) that carries the records.
pub const PROMOTIONS: &str = "promotions";
/// Records kept, newest first.
pub const KEEP: usize = 10;
const VERSION: &str = "v1";

/// How a promote action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Promoted,
    /// Another candidate held more WAL: the promotion was handed to it.
    HandedOver,
    /// The switchover was cancelled, or the election could not finish.
    Cancelled,
    /// pg_promote failed or did not finish in time.
    Failed,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::HandedOver => "handed-over",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Outcome::Promoted,
            Outcome::HandedOver,
            Outcome::Cancelled,
            Outcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A node the election looked at, or left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub node: String,
    pub position: Option<WalPosition>,
    /// It published its position in time and competed.
    pub took_part: bool,
    /// Why it could not win, when it could not.
    pub excluded: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRecord {
    /// Unix seconds at the end of the promote action.
    pub at: u64,
    /// The node Pacemaker asked to promote.
    pub promotee: String,
    pub former_primary: Option<String>,
    pub candidates: Vec<Candidate>,
    pub outcome: Outcome,
    /// The node that holds (or is handed) the promotion; none when cancelled.
    pub winner: Option<String>,
    /// The rule that chose the winner, or why nobody was chosen.
    pub rule: String,
    /// Step name and its duration in milliseconds, in order.
    pub steps: Vec<(String, u64)>,
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split('/').filter(|s| !s.is_empty())
}

/// Percent-encodes everything but a safe set, so that a value never holds the storage
/// form's separators (`;` between records, `,` `=` `/` `:` within one) nor quotes.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"._-#+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dec(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl PromotionRecord {
    /// `key=value` fields separated by `,`; candidates and steps as `/`-separated lists of
    /// `:`-separated fields; every free value percent-encoded.
    fn render(&self) -> String {
        let candidates: Vec<String> = self
            .candidates
            .iter()
            .map(|c| {
                format!(
                    "{}:{}:{}:{}",
                    enc(&c.node),
                    c.position.map_or("-".into(), |p| p.to_attribute()),
                    u8::from(c.took_part),
                    c.excluded.as_deref().map_or("-".into(), enc)
                )
            })
            .collect();
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|(s, ms)| format!("{}:{ms}", enc(s)))
            .collect();
        format!(
            "at={},promotee={},former={},outcome={},winner={},rule={},candidates={},steps={}",
            self.at,
            enc(&self.promotee),
            self.former_primary.as_deref().map_or("-".into(), enc),
            self.outcome.as_str(),
            self.winner.as_deref().map_or("-".into(), enc),
            enc(&self.rule),
            candidates.join("/"),
            steps.join("/")
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| {
            text.split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let optional = |v: &str| {
            if v == "-" {
                Some(None)
            } else {
                dec(v).map(Some)
            }
        };
        let candidates = list(field("candidates")?)
            .map(|c| {
                let [node, pos, took, excluded] = c.split(':').collect::<Vec<_>>()[..] else {
                    return None;
                };
                Some(Candidate {
                    node: dec(node)?,
                    position: match pos {
                        "-" => None,
                        p => Some(WalPosition::from_attribute(p)?),
                    },
                    took_part: took == "1",
                    excluded: optional(excluded)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let steps = list(field("steps")?)
            .map(|s| {
                let (name, ms) = s.split_once(':')?;
                Some((dec(name)?, ms.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(PromotionRecord {
            at: field("at")?.parse().ok()?,
            promotee: dec(field("promotee")?)?,
            former_primary: optional(field("former")?)?,
            outcome: Outcome::parse(field("outcome")?)?,
            winner: optional(field("winner")?)?,
            rule: dec(field("rule")?)?,
            candidates,
            steps,
        })
    }

    /// Identifies a record across the nodes' copies.
    fn key(&self) -> (u64, &str) {
        (self.at, &self.promotee)
    }
}

/// What promote learned, for its record.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// What each other candidate had published when the election ended.
    pub published: BTreeMap<String, Published>,
    pub mine: Option<WalPosition>,
    /// Set where the decision is taken: outcome, winner, rule.
    pub decision: Option<(Outcome, Option<String>, String)>,
    pub steps: Vec<(String, u64)>,
}

impl Trace {
    /// Records a step that began at `start` and ends now.
    pub fn step(&mut self, name: &str, start: std::time::Instant) {
        let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.steps.push((name.to_string(), ms));
    }
}

/// Why a node that replicated from the former primary did not compete, from that
/// primary's last published view.
fn absent_because(view: Option<&PublishedView>, node: &str) -> String {
    let sender = view.and_then(|v| {
        v.replication
            .senders
            .iter()
            .find(|s| s.row.application_name == node)
    });
    match sender {
        Some(s) => format!(
            "not a candidate (last seen {} {}, {} bytes behind)",
            s.row.state,
            s.sync_state,
            s.row.lag.map_or("?".into(), |l| l.to_string())
        ),
        None => "not a candidate (not running as a standby)".into(),
    }
}

/// The record of a promote action on `promotee` that ended at `at` as `trace` says. The
/// former primary is the publisher of the newest replication view; when attrd dropped its
/// view with the node, the winner of the `previous` promotion record.
pub fn record(
    at: u64,
    promotee: &str,
    trace: &Trace,
    views: &[PublishedView],
    previous: Option<&PromotionRecord>,
) -> Option<PromotionRecord> {
    let (outcome, winner, rule) = trace.decision.clone()?;
    let former = views.iter().max_by_key(|v| v.published_at);
    let former_primary = former.map(|f| f.primary.clone()).or_else(|| {
        previous
            .filter(|p| p.outcome == Outcome::Promoted)
            .and_then(|p| p.winner.clone())
    });
    let mut candidates = vec![Candidate {
        node: promotee.to_string(),
        position: trace.mine,
        took_part: true,
        excluded: None,
    }];
    for (node, p) in &trace.published {
        let (position, excluded) = match p {
            Published::Known(pos) => (Some(*pos), None),
            Published::Unknown => (None, Some("instance down: no WAL position".to_string())),
            Published::Missing => (None, Some("no WAL position before the deadline".into())),
        };
        candidates.push(Candidate {
            node: node.clone(),
            position,
            took_part: position.is_some(),
            excluded,
        });
    }
    let listed = |n: &str| candidates.iter().any(|c| c.node == n);
    let mut absent: Vec<(String, String)> = Vec::new();
    if let Some(f) = former_primary.as_ref().filter(|f| !listed(f)) {
        absent.push((f.clone(), "former primary".into()));
    }
    for s in former.iter().flat_map(|f| &f.replication.senders) {
        let node = &s.row.application_name;
        if !listed(node) && !absent.iter().any(|(n, _)| n == node) {
            absent.push((node.clone(), absent_because(former, node)));
        }
    }
    candidates.extend(absent.into_iter().map(|(node, why)| Candidate {
        node,
        position: None,
        took_part: false,
        excluded: Some(why),
    }));
    Some(PromotionRecord {
        at,
        promotee: promotee.to_string(),
        former_primary,
        candidates,
        outcome,
        winner,
        rule,
        steps: trace.steps.clone(),
    })
}

/// The storage form of a list of records, newest first.
pub fn render_all(records: &[PromotionRecord]) -> String {
    let mut out = VERSION.to_string();
    for r in records {
        out.push(';');
        out.push_str(&r.render());
    }
    out
}

/// Reads one node's copy; a copy in another format counts as empty, an unreadable record
/// is skipped.
pub fn parse_all(text: &str) -> Vec<PromotionRecord> {
    let mut parts = text.trim().split(';');
    if parts.next() != Some(VERSION) {
        return Vec::new();
    }
    parts.filter_map(PromotionRecord::parse).collect()
}

/// Every record of the copies, once each, newest first, at most `KEEP`.
pub fn merge<'a>(copies: impl IntoIterator<Item = &'a str>) -> Vec<PromotionRecord> {
    let mut all: Vec<PromotionRecord> = copies.into_iter().flat_map(parse_all).collect();
    all.sort_by(|a, b| b.key().cmp(&a.key()));
    all.dedup_by(|a, b| a.key() == b.key());
    all.truncate(KEEP);
    all
}

/// The copies with `record` added in front.
pub fn with_record<'a>(
    copies: impl IntoIterator<Item = &'a str>,
    record: PromotionRecord,
) -> Vec<PromotionRecord> {
    let mut all = merge(copies);
    all.retain(|r| r.key() != record.key());
    all.insert(0, record);
    all.truncate(KEEP);
    all
}

#[cfg(test)]
pub mod test_support {
    use super::*;
    use crate::logic::election::test_support::pos;

    /// A failover from node1 won by node2 against node3.
    pub fn failover(at: u64) -> PromotionRecord {
        PromotionRecord {
            at,
            promotee: "node2".into(),
            former_primary: Some("node1".into()),
            candidates: vec![
                Candidate {
                    node: "node2".into(),
                    position: Some(pos(3, 0x3000_0148)),
                    took_part: true,
                    excluded: None,
                },
                Candidate {
                    node: "node3".into(),
                    position: Some(pos(3, 0x3000_0000)),
                    took_part: true,
                    excluded: None,
                },
                Candidate {
                    node: "node1".into(),
                    position: None,
                    took_part: false,
                    excluded: Some("former primary, not running as a standby".into()),
                },
            ],
            outcome: Outcome::Promoted,
            winner: Some("node2".into()),
            rule: "most advanced candidate (highest timeline, then LSN)".into(),
            steps: vec![("election".into(), 12), ("pg_promote".into(), 340)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::failover;
    use super::*;

    #[test]
    fn records_render_and_parse_back() {
        let r = failover(1_700_000_000);
        let text = render_all(std::slice::from_ref(&r));
        assert_eq!(
            text,
            "v1;at=1700000000,promotee=node2,former=node1,outcome=promoted,winner=node2,rule=most%20advanced%20candidate%20%28highest%20timeline%2C%20then%20LSN%29,candidates=node2:3#805306696:1:-/node3:3#805306368:1:-/node1:-:0:former%20primary%2C%20not%20running%20as%20a%20standby,steps=election:12/pg_promote:340"
        );
        assert_eq!(parse_all(&text), vec![r]);
    }

    #[test]
    fn odd_text_survives_encoding() {
        let mut r = failover(1);
        r.rule = "a;b,c=d/e:f%g \"h\" é".into();
        r.winner = None;
        r.candidates.clear();
        r.steps.clear();
        assert_eq!(parse_all(&render_all(std::slice::from_ref(&r))), vec![r]);
    }

    #[test]
    fn other_versions_and_broken_records_are_skipped() {
        assert!(parse_all("v2;at=1").is_empty());
        assert!(parse_all("").is_empty());
        let good = render_all(&[failover(5)]);
        assert_eq!(parse_all(&format!("{good};at=x,promotee=y")).len(), 1);
    }

    #[test]
    fn builds_a_record_from_the_trace_and_the_former_primarys_view() {
        use crate::logic::election::test_support::pos;
        use crate::logic::replication_view::test_support::{sender, view};
        let trace = Trace {
            published: [
                ("node3".to_string(), Published::Known(pos(3, 5))),
                ("node4".to_string(), Published::Unknown),
            ]
            .into(),
            mine: Some(pos(3, 9)),
            decision: Some((Outcome::Promoted, Some("node2".into()), "best".into())),
            steps: vec![("election".into(), 3)],
        };
        let old = view(100, vec![sender("node5", "catchup", "async", 1, 77)]);
        let r = record(300, "node2", &trace, std::slice::from_ref(&old), None).unwrap();
        assert_eq!(r.former_primary.as_deref(), Some("node1"));
        let rows: Vec<(&str, bool, Option<&str>)> = r
            .candidates
            .iter()
            .map(|c| (c.node.as_str(), c.took_part, c.excluded.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [
                ("node2", true, None),
                ("node3", true, None),
                ("node4", false, Some("instance down: no WAL position")),
                ("node1", false, Some("former primary")),
                (
                    "node5",
                    false,
                    Some("not a candidate (last seen catchup async, 77 bytes behind)")
                ),
            ]
        );
        assert!(record(1, "node2", &Trace::default(), &[], None).is_none());
        // the newest view names the former primary, even the promotee itself (restarted
        // in place after a crash)
        let mut own = view(200, vec![]);
        own.primary = "node2".into();
        let r = record(300, "node2", &trace, &[own, old], None).unwrap();
        assert_eq!(r.former_primary.as_deref(), Some("node2"));
        // no view left (attrd dropped it with the lost primary): the last winner
        let previous = failover(100);
        let r = record(300, "node3", &trace, &[], Some(&previous)).unwrap();
        assert_eq!(r.former_primary.as_deref(), Some("node2"));
        let mut handed = failover(100);
        handed.outcome = Outcome::HandedOver;
        let r = record(300, "node3", &trace, &[], Some(&handed)).unwrap();
        assert_eq!(r.former_primary, None);
    }

    #[test]
    fn merging_copies_dedups_sorts_newest_first_and_bounds() {
        let a = render_all(&[failover(30), failover(10)]);
        let b = render_all(&[failover(20), failover(10)]);
        let merged = merge([a.as_str(), b.as_str(), "garbage"]);
        let ats: Vec<u64> = merged.iter().map(|r| r.at).collect();
        assert_eq!(ats, [30, 20, 10]);
        let many: Vec<PromotionRecord> = (0..KEEP as u64 + 5).map(failover).collect();
        let full = render_all(&many);
        let kept = with_record([full.as_str()], failover(1000));
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].at, 1000);
        assert_eq!(kept[1].at, KEEP as u64 + 4);
    }
}
