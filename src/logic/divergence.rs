//! Whether a stopped instance diverged from the current primary, and what it holds that the
//! primary lacks. Pure: the facts (timeline histories, the local WAL as pg_waldump shows
//! it) are gathered by `agent::rejoin`.

use crate::logic::lsn::Lsn;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One line of a timeline history file: `timeline` ended at `end`, where its child forked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    pub timeline: u32,
    pub end: Lsn,
}

/// Parses `0000000N.history`: `<parent tli>\t<switch point>\t<reason>` per line; blank
/// lines and `#` comments are skipped, as PostgreSQL does.
pub fn parse_history(text: &str) -> Result<Vec<HistoryEntry>, String> {
    let mut entries: Vec<HistoryEntry> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let timeline = fields
            .next()
            .and_then(|t| t.parse::<u32>().ok())
            .ok_or_else(|| format!("history line {line:?} has no timeline"))?;
        let end = fields
            .next()
            .ok_or_else(|| format!("history line {line:?} has no switch point"))?
            .parse::<Lsn>()?;
        if entries.last().is_some_and(|p| p.timeline >= timeline) {
            return Err(format!("history timelines out of order at {line:?}"));
        }
        entries.push(HistoryEntry { timeline, end });
    }
    Ok(entries)
}

/// Where the local timeline and the primary's part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// Their last common timeline and where the first of them left it.
    At { timeline: u32, lsn: Lsn },
    /// No timeline in common: not the same database system's history.
    Unrelated,
    /// The local instance and the primary each promoted themselves to `timeline` from
    /// `begin`: the same history on paper, different WAL after `begin`, which pg_rewind
    /// cannot tell apart.
    Twin { timeline: u32, begin: Lsn },
}

/// The timeline the local WAL ends on: the newest of which pg_wal holds a history file
/// (`history_files`) when that is newer than the last checkpoint's, which means the
/// instance promoted itself after that checkpoint and wrote WAL on it; otherwise the
/// checkpoint's.
pub fn newest_timeline(checkpoint_timeline: u32, history_files: &[u32]) -> u32 {
    history_files
        .iter()
        .copied()
        .chain(std::iter::once(checkpoint_timeline))
        .max()
        .unwrap_or(checkpoint_timeline)
}

/// The timelines pg_wal holds a history file (`0000000N.history`) of, from its file names.
pub fn history_timelines(names: &[String]) -> Vec<u32> {
    names
        .iter()
        .filter_map(|n| u32::from_str_radix(n.strip_suffix(".history")?, 16).ok())
        .collect()
}

/// The timelines pg_wal holds WAL segments of (24 hexadecimal digits, the first 8 the
/// timeline), from its file names: those whose WAL a standby received.
pub fn segment_timelines(names: &[String]) -> Vec<u32> {
    names
        .iter()
        .filter(|n| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter_map(|n| u32::from_str_radix(&n[..8], 16).ok())
        .collect()
}

/// The fork between timeline `local` (with its `local_history`) and `primary` (with its
/// history), found as pg_rewind does: the last timeline both histories share (same
/// number, same starting point), and the earlier of the points where each left it.
/// The local instance is a former primary: a primary on its very timeline, entered from
/// the same point, promoted itself there too (a promotion always starts a new timeline, so
/// neither can have got it from the other): a twin, not the same history.
pub fn fork(
    local: u32,
    local_history: &[HistoryEntry],
    primary: u32,
    primary_history: &[HistoryEntry],
) -> Fork {
    let whole = |tl: u32, h: &[HistoryEntry]| -> Vec<(u32, Option<Lsn>)> {
        h.iter()
            .map(|e| (e.timeline, Some(e.end)))
            .chain(std::iter::once((tl, None)))
            .collect()
    };
    let (l, p) = (whole(local, local_history), whole(primary, primary_history));
    // a timeline is shared when both entered it from the same point (the previous end)
    let shared = l
        .iter()
        .zip(&p)
        .enumerate()
        .take_while(|(i, (a, b))| a.0 == b.0 && (*i == 0 || l[i - 1].1 == p[i - 1].1))
        .last();
    match shared {
        None => Fork::Unrelated,
        Some((i, (a, b))) => match [a.1, b.1].into_iter().flatten().min() {
            Some(lsn) => Fork::At { timeline: a.0, lsn },
            // the same timeline, entered from the same point
            None => Fork::Twin {
                timeline: a.0,
                begin: i.checked_sub(1).and_then(|j| l[j].1).unwrap_or(Lsn(0)),
            },
        },
    }
}

/// What the instance's WAL holds past the fork, and whether that makes it unable to
/// follow the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// Its WAL ends at or before the fork: it can stream from the primary as it is.
    None,
    /// It holds WAL the primary never got: only a rewind (or a rebuild) lets it follow.
    Diverged { timeline: u32, fork: Lsn },
    /// Its history and the primary's share no timeline.
    Unrelated,
    /// A twin promotion (`Fork::Twin`): only a rebuild makes it follow the primary.
    Twin { timeline: u32, begin: Lsn },
}

/// Decides from the fork and the start of the last valid record of the local WAL. A
/// record that starts at or after the fork point is one the primary does not have (the
/// fork point is the end of the last record both share).
pub fn decide(fork: Fork, last_record: Lsn) -> Divergence {
    match fork {
        Fork::Unrelated => Divergence::Unrelated,
        Fork::Twin { timeline, begin } => Divergence::Twin { timeline, begin },
        Fork::At { timeline, lsn } if last_record >= lsn => Divergence::Diverged {
            timeline,
            fork: lsn,
        },
        Fork::At { .. } => Divergence::None,
    }
}

/// A relation as WAL names it: tablespace, database and relfilenode OIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RelFile {
    pub tablespace: u32,
    pub database: u32,
    pub relfilenode: u32,
}

/// One WAL record as `pg_waldump` prints it, with what the report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    pub lsn: Lsn,
    pub total_len: u64,
    pub xid: u32,
    /// `COMMIT` and `COMMIT_PREPARED` records: the commit time as printed.
    pub commit_time: Option<String>,
    pub relations: Vec<RelFile>,
}

/// Parses pg_waldump's record lines (PostgreSQL 12 to 17); other lines are skipped.
pub fn parse_waldump(output: &str) -> Vec<WalRecord> {
    let line_re = Regex::new(
        r"^rmgr: (\S+)\s+len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), prev [0-9A-F]+/[0-9A-F]+, (?:desc: )?(.*)$",
    )
    .expect("static regex");
    let commit_re = Regex::new(r"^COMMIT(?:_PREPARED \d+:)? ([^;]+)").expect("static regex");
    let rel_re = Regex::new(r"rel (\d+)/(\d+)/(\d+)").expect("static regex");
    output
        .lines()
        .filter_map(|line| {
            let c = line_re.captures(line.trim_end())?;
            let desc = &c[5];
            let commit_time = (&c[1] == "Transaction")
                .then(|| commit_re.captures(desc))
                .flatten()
                .map(|m| m[1].trim().to_string());
            let mut relations: Vec<RelFile> = rel_re
                .captures_iter(desc)
                .filter_map(|r| {
                    Some(RelFile {
                        tablespace: r[1].parse().ok()?,
                        database: r[2].parse().ok()?,
                        relfilenode: r[3].parse().ok()?,
                    })
                })
                .collect();
            relations.dedup();
            Some(WalRecord {
                lsn: c[4].parse().ok()?,
                total_len: c[2].parse().ok()?,
                xid: c[3].parse().ok()?,
                commit_time,
                relations,
            })
        })
        .collect()
}

/// The start of the last valid record, and where the WAL ends (the end of that record;
/// page headers it crosses are not counted).
pub fn wal_end(records: &[WalRecord]) -> Option<(Lsn, Lsn)> {
    records.last().map(|r| (r.lsn, Lsn(r.lsn.0 + r.total_len)))
}

/// What a diverged instance holds that the primary lacks: the report written before the
/// rewind discards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    pub timeline: u32,
    pub fork: Lsn,
    pub last_record: Lsn,
    pub end: Lsn,
    /// Transactions that committed after the fork, in WAL order: xid and commit time.
    pub commits: Vec<(u32, String)>,
    /// Relations the committed transactions changed.
    pub relations: BTreeSet<RelFile>,
    /// Where the local WAL was read from, when that is past the fork: what committed
    /// between the fork and there is gone from pg_wal and cannot be listed.
    pub unread_until: Option<Lsn>,
}

impl Discarded {
    /// Gathers the report from the local WAL's records (`records` may start before the
    /// fork: those records are common history and are left out).
    pub fn from_records(timeline: u32, fork: Lsn, records: &[WalRecord]) -> Self {
        let past: Vec<&WalRecord> = records.iter().filter(|r| r.lsn >= fork).collect();
        let commits: Vec<(u32, String)> = past
            .iter()
            .filter_map(|r| Some((r.xid, r.commit_time.clone()?)))
            .collect();
        let committed: BTreeSet<u32> = commits.iter().map(|c| c.0).collect();
        let relations = past
            .iter()
            .filter(|r| committed.contains(&r.xid))
            .flat_map(|r| r.relations.iter().copied())
            .collect();
        let (last_record, end) = wal_end(records).unwrap_or((fork, fork));
        Discarded {
            timeline,
            fork,
            last_record,
            end,
            commits,
            relations,
            unread_until: None,
        }
    }

    /// Notes that the local WAL was read from `start` on (see `unread_until`).
    pub fn read_from(mut self, start: Lsn) -> Self {
        self.unread_until = (start > self.fork).then_some(start);
        self
    }

    /// The report's warning that it cannot list everything.
    fn incompleteness(&self) -> Option<String> {
        self.unread_until.map(|until| {
            format!(
                "the WAL from {} to {until} is no longer in pg_wal: transactions committed there are not listed",
                self.fork
            )
        })
    }

    pub fn bytes(&self) -> u64 {
        self.end.0.saturating_sub(self.fork.0)
    }

    /// The one log line that sums the report up.
    pub fn summary(&self, saved_in: &str) -> String {
        let range = match (self.commits.first(), self.commits.last()) {
            (Some(first), Some(last)) => format!(" committed {} to {}", first.1, last.1),
            _ => String::new(),
        };
        let incomplete = self
            .incompleteness()
            .map_or_else(String::new, |w| format!(" (incomplete: {w})"));
        format!(
            "diverged from the primary at {} (timeline {}): {} bytes of WAL up to {}, {} transactions{range}{incomplete}, {} relations; WAL and report saved in {saved_in}",
            self.fork,
            self.timeline,
            self.bytes(),
            self.end,
            self.commits.len(),
            self.relations.len(),
        )
    }

    /// The report file: one `key: value` per line, then one line per transaction and per
    /// relation. `names` maps relations to the names the primary resolved.
    pub fn render(&self, names: &BTreeMap<RelFile, String>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "timeline: {}", self.timeline);
        let _ = writeln!(out, "fork_lsn: {}", self.fork);
        let _ = writeln!(out, "last_record_lsn: {}", self.last_record);
        let _ = writeln!(out, "local_end_lsn: {}", self.end);
        let _ = writeln!(out, "bytes: {}", self.bytes());
        let _ = writeln!(out, "transactions: {}", self.commits.len());
        if let Some(warning) = self.incompleteness() {
            let _ = writeln!(out, "incomplete: {warning}");
        }
        if let (Some(first), Some(last)) = (self.commits.first(), self.commits.last()) {
            let _ = writeln!(out, "first_commit: {}", first.1);
            let _ = writeln!(out, "last_commit: {}", last.1);
        }
        for (xid, time) in &self.commits {
            let _ = writeln!(out, "commit: xid {xid} at {time}");
        }
        for r in &self.relations {
            // a relation's name may hold any character: one line, so it forges no report line
            let name = names.get(r).map_or_else(
                || "(not resolved)".to_string(),
                |n| crate::ocf::log::sanitize(n),
            );
            let _ = writeln!(
                out,
                "relation: {}/{}/{} {name}",
                r.tablespace, r.database, r.relfilenode
            );
        }
        out
    }
}

/// The name of the WAL segment file of `timeline` that holds `lsn`.
pub fn segment_name(timeline: u32, lsn: Lsn, segment_size: u64) -> String {
    let per_log = 0x1_0000_0000u64 / segment_size;
    let segno = lsn.0 / segment_size;
    format!(
        "{timeline:08X}{:08X}{:08X}",
        segno / per_log,
        segno % per_log
    )
}

/// The first and last segment files pg_waldump reads to go over `timeline` from `start`
/// to `end` (exclusive) or, without an end, to the newest segment of that timeline among
/// `names` (pg_wal's entries). Named, they also tell pg_waldump the segment size, which it
/// otherwise reads from whichever segment file it lists first, perhaps a pre-allocated one
/// of zeros that it refuses.
pub fn waldump_segments(
    names: &[String],
    timeline: u32,
    start: Lsn,
    end: Option<Lsn>,
    segment_size: u64,
) -> [String; 2] {
    let first = start.0 / segment_size;
    let last = match end {
        Some(end) => end.0.saturating_sub(1) / segment_size,
        None => names
            .iter()
            .filter_map(|n| parse_segment_name(n, segment_size))
            .filter(|(tl, _)| *tl == timeline)
            .map(|(_, segno)| segno)
            .max()
            .unwrap_or(first),
    };
    [first, last.max(first)]
        .map(|segno| segment_name(timeline, Lsn(segno * segment_size), segment_size))
}

/// A WAL segment file name: timeline, then segment number (two 8-digit hex halves).
pub fn parse_segment_name(name: &str, segment_size: u64) -> Option<(u32, u64)> {
    if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let tl = u32::from_str_radix(&name[0..8], 16).ok()?;
    let log = u64::from_str_radix(&name[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
    let per_log = 0x1_0000_0000u64.checked_div(segment_size)?;
    Some((tl, log * per_log + seg))
}

/// The segments of `pg_wal` (by name) that hold WAL of `timeline` past `fork`, or of a
/// later local timeline: what is saved before a rewind replaces it.
pub fn segments_to_save(
    names: &[String],
    timeline: u32,
    fork: Lsn,
    segment_size: u64,
) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| {
            parse_segment_name(n, segment_size).is_some_and(|(tl, segno)| {
                tl > timeline || (tl == timeline && (segno + 1) * segment_size > fork.0)
            })
        })
        .cloned()
        .collect();
    out.sort();
    out
}

/// The saved rejoins to remove so that `keep` remain, oldest first (names sort by age).
pub fn to_prune(saved: &[String], keep: usize) -> Vec<String> {
    let mut sorted = saved.to_vec();
    sorted.sort();
    let excess = sorted.len().saturating_sub(keep);
    sorted.truncate(excess);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL's default WAL segment size.
    const SEG: u64 = 16 * 1024 * 1024;

    fn lsn(s: &str) -> Lsn {
        s.parse().unwrap()
    }

    fn h(entries: &[(u32, &str)]) -> Vec<HistoryEntry> {
        entries
            .iter()
            .map(|(t, l)| HistoryEntry {
                timeline: *t,
                end: lsn(l),
            })
            .collect()
    }

    #[test]
    fn history_files_parse_as_postgresql_writes_them() {
        let text = "1\t0/3000148\tno recovery target specified\n\n# comment\n2\t0/5000000\tno recovery target specified\n";
        assert_eq!(
            parse_history(text).unwrap(),
            h(&[(1, "0/3000148"), (2, "0/5000000")])
        );
        assert_eq!(parse_history("").unwrap(), vec![]);
        assert!(parse_history("x\t0/1\n").is_err());
        assert!(parse_history("1\n").is_err());
        assert!(parse_history("1\tnot-an-lsn\n").is_err());
        assert!(parse_history("2\t0/1\n1\t0/2\n").is_err());
    }

    #[test]
    fn fork_of_a_former_primary_is_its_timelines_switch_point() {
        let primary = h(&[(1, "0/3000148")]);
        assert_eq!(
            fork(1, &[], 2, &primary),
            Fork::At {
                timeline: 1,
                lsn: lsn("0/3000148")
            }
        );
        // the same timeline from the same point: both promoted themselves to it
        assert_eq!(
            fork(2, &primary, 2, &primary),
            Fork::Twin {
                timeline: 2,
                begin: lsn("0/3000148")
            }
        );
    }

    #[test]
    fn fork_after_two_failovers_is_the_earlier_end_of_the_last_shared_timeline() {
        // Local was promoted to 2 at 0/5000000; the primary went 1 -> 3 at 0/4000000.
        let local = h(&[(1, "0/5000000")]);
        let primary = h(&[(1, "0/4000000")]);
        assert_eq!(
            fork(2, &local, 3, &primary),
            Fork::At {
                timeline: 1,
                lsn: lsn("0/4000000")
            }
        );
        // Primary went 1 -> 2 -> 3; the local is still on 2, which ended at 0/6000000.
        let primary = h(&[(1, "0/5000000"), (2, "0/6000000")]);
        assert_eq!(
            fork(2, &local, 3, &primary),
            Fork::At {
                timeline: 2,
                lsn: lsn("0/6000000")
            }
        );
        // The local timeline is newer than the primary's, which is its ancestor.
        assert_eq!(
            fork(2, &local, 1, &[]),
            Fork::At {
                timeline: 1,
                lsn: lsn("0/5000000")
            }
        );
    }

    #[test]
    fn a_timeline_entered_from_another_point_is_not_shared() {
        // Both on timeline 2, entered from timeline 1 at different points: the fork is the
        // earlier of them, on timeline 1.
        let local = h(&[(1, "0/5000100")]);
        let primary = h(&[(1, "0/5000000")]);
        assert_eq!(
            fork(2, &local, 2, &primary),
            Fork::At {
                timeline: 1,
                lsn: lsn("0/5000000")
            }
        );
    }

    #[test]
    fn the_same_timeline_from_the_same_point_is_a_twin() {
        let history = h(&[(1, "0/3000000"), (6, "0/408BDE8")]);
        let twin = fork(7, &history, 7, &history);
        assert_eq!(
            twin,
            Fork::Twin {
                timeline: 7,
                begin: lsn("0/408BDE8")
            }
        );
        assert_eq!(
            decide(twin, lsn("0/408BE18")),
            Divergence::Twin {
                timeline: 7,
                begin: lsn("0/408BDE8")
            }
        );
        // Promoted itself to 7, and the primary descends from that 7: the fork is where
        // the primary left it, whatever the local promoted.
        let primary = h(&[(1, "0/3000000"), (6, "0/408BDE8"), (7, "0/5000000")]);
        assert_eq!(
            fork(7, &history, 8, &primary),
            Fork::At {
                timeline: 7,
                lsn: lsn("0/5000000")
            }
        );
    }

    #[test]
    fn the_newest_timeline_is_one_promoted_to_after_the_checkpoint() {
        assert_eq!(newest_timeline(6, &[]), 6);
        assert_eq!(newest_timeline(6, &[2, 5, 6]), 6);
        assert_eq!(newest_timeline(6, &[5, 6, 7]), 7);
    }

    #[test]
    fn timelines_are_read_from_history_and_segment_file_names() {
        let names: Vec<String> = [
            "00000002.history",
            "00000003.history",
            "000000030000000000000004",
            "000000030000000000000004.partial",
            "000000050000000000000006",
            "0000000500000000000000",
            "archive_status",
            "0000000X0000000000000004",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(history_timelines(&names), vec![2, 3]);
        assert_eq!(segment_timelines(&names), vec![3, 5]);
    }

    #[test]
    fn unrelated_histories_have_no_fork() {
        assert_eq!(
            fork(5, &h(&[(4, "0/1")]), 2, &h(&[(1, "0/1")])),
            Fork::Unrelated
        );
    }

    #[test]
    fn diverged_only_when_a_record_starts_at_or_after_the_fork() {
        let at = Fork::At {
            timeline: 1,
            lsn: lsn("0/3000148"),
        };
        let diverged = Divergence::Diverged {
            timeline: 1,
            fork: lsn("0/3000148"),
        };
        assert_eq!(decide(at, lsn("0/3000148")), diverged);
        assert_eq!(decide(at, lsn("0/4000000")), diverged);
        // The clean demote: the last record (shutdown checkpoint) ends where the primary forked.
        assert_eq!(decide(at, lsn("0/30000D0")), Divergence::None);
        assert_eq!(decide(Fork::Unrelated, lsn("0/1")), Divergence::Unrelated);
    }

    const DUMP: &str = "\
rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/03000028, prev 0/02000100, desc: RUNNING_XACTS nextXid 735 latestCompletedXid 734 oldestRunningXid 735
rmgr: Heap        len (rec/tot):     59/    59, tx:        735, lsn: 0/03000060, prev 0/03000028, desc: INSERT off 2 flags 0x00, blkref #0: rel 1663/5/16384 blk 0
rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/030000A0, prev 0/03000060, desc: COMMIT 2026-12-02 03:25:01.123456 UTC
rmgr: Heap        len (rec/tot):     59/    59, tx:        736, lsn: 0/030000C8, prev 0/030000A0, desc: INSERT off 3 flags 0x00, blkref #0: rel 1663/5/16384 blk 0
rmgr: Btree       len (rec/tot):     64/    64, tx:        736, lsn: 0/03000108, prev 0/030000C8, desc: INSERT_LEAF off 3, blkref #0: rel 1663/5/16390 blk 1
rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/03000148, prev 0/03000108, desc: COMMIT 2026-12-02 03:25:02.5 UTC; inval msgs: catcache 7
rmgr: Heap        len (rec/tot):     59/    59, tx:        737, lsn: 0/03000170, prev 0/03000148, desc: INSERT off 4 flags 0x00, blkref #0: rel 1663/5/16400 blk 0
rmgr: Transaction len (rec/tot):     34/    34, tx:        738, lsn: 0/030001B0, prev 0/03000170, desc: ABORT 2026-12-02 03:25:03 UTC
pg_waldump: error: error in WAL record at 0/30001B0: invalid record length at 0/30001D8: wanted 24, got 0
";

    #[test]
    fn waldump_records_carry_commits_and_relations() {
        let r = parse_waldump(DUMP);
        assert_eq!(r.len(), 8);
        assert_eq!(
            r[1].relations,
            vec![RelFile {
                tablespace: 1663,
                database: 5,
                relfilenode: 16384
            }]
        );
        assert_eq!(
            r[2].commit_time.as_deref(),
            Some("2026-12-02 03:25:01.123456 UTC")
        );
        assert_eq!(
            r[5].commit_time.as_deref(),
            Some("2026-12-02 03:25:02.5 UTC")
        );
        assert_eq!(r[7].commit_time, None, "an abort is no commit");
        assert_eq!(wal_end(&r), Some((lsn("0/030001B0"), lsn("0/030001D2"))));
        assert_eq!(wal_end(&[]), None);
    }

    #[test]
    fn report_counts_only_what_committed_after_the_fork() {
        let records = parse_waldump(DUMP);
        // Fork after the first commit: 736 is the only committed transaction past it;
        // 737 never committed and 738 aborted.
        let d = Discarded::from_records(1, lsn("0/030000C8"), &records);
        assert_eq!(
            d.commits,
            vec![(736, "2026-12-02 03:25:02.5 UTC".to_string())]
        );
        let rels: Vec<u32> = d.relations.iter().map(|r| r.relfilenode).collect();
        assert_eq!(rels, vec![16384, 16390]);
        assert_eq!(d.end, lsn("0/030001D2"));
        assert_eq!(d.bytes(), 0x1D2 - 0xC8);
        let names = BTreeMap::from([(
            RelFile {
                tablespace: 1663,
                database: 5,
                relfilenode: 16384,
            },
            "postgres.public.t".to_string(),
        )]);
        let text = d.render(&names);
        assert!(text.contains("fork_lsn: 0/30000C8\n"), "{text}");
        assert!(text.contains("transactions: 1\n"), "{text}");
        assert!(
            text.contains("relation: 1663/5/16384 postgres.public.t\n"),
            "{text}"
        );
        assert!(
            text.contains("relation: 1663/5/16390 (not resolved)\n"),
            "{text}"
        );
        // A name the primary gives is one line in the report, whatever it holds.
        let mut forged = names.clone();
        forged.insert(
            RelFile {
                tablespace: 1663,
                database: 5,
                relfilenode: 16390,
            },
            "postgres.public.\"x\ntransactions: 0\"".to_string(),
        );
        let text = d.render(&forged);
        let starting = |p: &str| text.lines().filter(|l| l.starts_with(p)).count();
        assert_eq!(starting("transactions: "), 1, "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("relation: ")).count(),
            2
        );
        let line = d.summary("/var/lib/pgsql/data-rejoin/x");
        assert!(
            line.contains("1 transactions committed 2026-12-02 03:25:02.5 UTC to"),
            "{line}"
        );
        assert!(
            line.ends_with("saved in /var/lib/pgsql/data-rejoin/x"),
            "{line}"
        );
        // Fork before everything: both commits.
        let d = Discarded::from_records(1, lsn("0/03000000"), &records);
        assert_eq!(d.commits.len(), 2);
        assert!(!d.render(&names).contains("incomplete"));
        let none = Discarded::from_records(1, lsn("0/04000000"), &records);
        assert!(none.commits.is_empty() && none.relations.is_empty());
    }

    #[test]
    fn a_report_read_from_past_the_fork_says_it_is_incomplete() {
        let records = parse_waldump(DUMP);
        let fork = lsn("0/03000000");
        // read from the fork, or from before it: complete
        for start in [fork, lsn("0/02000000")] {
            let d = Discarded::from_records(1, fork, &records).read_from(start);
            assert_eq!(d.unread_until, None);
            assert!(!d.render(&BTreeMap::new()).contains("incomplete"));
        }
        let d = Discarded::from_records(1, fork, &records).read_from(lsn("0/03000028"));
        let text = d.render(&BTreeMap::new());
        assert!(
            text.contains("incomplete: the WAL from 0/3000000 to 0/3000028 is no longer in pg_wal"),
            "{text}"
        );
        assert!(d
            .summary("x")
            .contains("(incomplete: the WAL from 0/3000000"));
    }

    #[test]
    fn a_segment_name_says_timeline_and_segment() {
        let lsn = |s: &str| s.parse::<Lsn>().unwrap();
        assert_eq!(
            segment_name(0x4B, lsn("0/4CC95B0"), SEG),
            "0000004B0000000000000004"
        );
        assert_eq!(
            segment_name(2, lsn("1/FF000000"), SEG),
            "0000000200000001000000FF"
        );
        // 64 MB segments: 64 to each 4 GB of LSN, the file name's middle part
        assert_eq!(
            segment_name(1, lsn("1/C0000001"), 64 << 20),
            "000000010000000100000030"
        );
        for name in ["0000004B0000000000000004", "000000020000000A000000FE"] {
            let (tl, segno) = parse_segment_name(name, SEG).unwrap();
            assert_eq!(segment_name(tl, Lsn(segno * SEG), SEG), name);
        }
    }

    #[test]
    fn pg_waldump_is_given_the_segments_from_the_start_to_the_end() {
        let lsn = |s: &str| s.parse::<Lsn>().unwrap();
        let names: Vec<String> = [
            "000000010000000000000003",
            "000000020000000000000003",
            "000000020000000000000004",
            "000000020000000000000009",
            "00000003.history",
            "000000020000000000000004.partial",
            "archive_status",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let segs = |tl, start, end| waldump_segments(&names, tl, lsn(start), end, SEG);
        // to the newest segment of the timeline, pre-allocated ones included (pg_waldump
        // stops at the first invalid record)
        assert_eq!(
            segs(2, "0/3000028", None),
            ["000000020000000000000003", "000000020000000000000009"]
        );
        assert_eq!(
            segs(1, "0/3000028", None),
            ["000000010000000000000003", "000000010000000000000003"]
        );
        // no segment of that timeline listed: the start one alone (pg_waldump then says
        // what is missing)
        assert_eq!(
            segs(5, "0/4000000", None),
            ["000000050000000000000004", "000000050000000000000004"]
        );
        // to an end: the segment of its last byte; never before the start
        assert_eq!(
            segs(2, "0/3000028", Some(lsn("0/5000000"))),
            ["000000020000000000000003", "000000020000000000000004"]
        );
        assert_eq!(
            segs(2, "0/3000028", Some(lsn("0/5000001"))),
            ["000000020000000000000003", "000000020000000000000005"]
        );
        assert_eq!(
            segs(2, "0/3000028", Some(lsn("0/2FFFFFF"))),
            ["000000020000000000000003", "000000020000000000000003"]
        );
    }

    #[test]
    fn segments_past_the_fork_are_saved() {
        let names: Vec<String> = [
            "000000010000000000000002",
            "000000010000000000000003",
            "000000010000000000000004",
            "000000020000000000000004",
            "00000001.history",
            "archive_status",
            "000000010000000100000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            segments_to_save(&names, 1, lsn("0/3000148"), SEG),
            vec![
                "000000010000000000000003",
                "000000010000000000000004",
                "000000010000000100000000",
                "000000020000000000000004",
            ]
        );
        // A fork on a segment boundary leaves the segment before it out.
        assert_eq!(
            segments_to_save(&names, 1, lsn("0/4000000"), SEG),
            vec![
                "000000010000000000000004",
                "000000010000000100000000",
                "000000020000000000000004",
            ]
        );
        assert_eq!(
            parse_segment_name("000000010000000100000000", SEG),
            Some((1, 256))
        );
        assert_eq!(parse_segment_name("0000000100000001000000", SEG), None);
        assert_eq!(parse_segment_name("00000001000000010000000G", SEG), None);
        assert_eq!(parse_segment_name("000000010000000100000000", 0), None);
    }

    #[test]
    fn pruning_keeps_the_most_recent() {
        let saved: Vec<String> = [
            "rejoin-0000000300",
            "rejoin-0000000100",
            "rejoin-0000000200",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(to_prune(&saved, 2), vec!["rejoin-0000000100"]);
        assert_eq!(to_prune(&saved, 3), Vec::<String>::new());
        assert_eq!(to_prune(&saved, 0).len(), 3);
    }
}
