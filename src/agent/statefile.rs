//! The agent's own files in Pacemaker's runtime directory (HA_RSCTMP, emptied at boot):
//! what the primary's monitor last wrote (promotion scores) and last saw (partition,
//! connected standbys), so that a steady-state monitor spawns no attribute tool; when this
//! node was promoted and which standbys it lost, for the grace periods; what a standby
//! last reported about a cluster without a primary; and the crashed instance stop left
//! down, so that later probes report it stopped.

use crate::agent::Agent;
use crate::logic::controldata::ControlData;
use crate::logic::scores::Lost;
use crate::logic::state::InstanceState;
use crate::postgres::instance::Probe;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorState {
    pub partition: BTreeSet<String>,
    pub connected: BTreeSet<String>,
    pub scores: BTreeMap<String, i64>,
}

impl MonitorState {
    pub fn render(&self) -> String {
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(" ");
        let mut out = format!(
            "partition {}\nconnected {}\n",
            join(&self.partition),
            join(&self.connected)
        );
        for (node, score) in &self.scores {
            out.push_str(&format!("score {node} {score}\n"));
        }
        out
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut st = MonitorState::default();
        let (mut has_partition, mut has_connected) = (false, false);
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next()? {
                "partition" => {
                    st.partition = words.map(str::to_string).collect();
                    has_partition = true;
                }
                "connected" => {
                    st.connected = words.map(str::to_string).collect();
                    has_connected = true;
                }
                "score" => {
                    let node = words.next()?.to_string();
                    st.scores.insert(node, words.next()?.parse().ok()?);
                }
                _ => return None,
            }
        }
        (has_partition && has_connected).then_some(st)
    }

    pub fn load(path: &Path) -> Option<Self> {
        Self::parse(&fs::read_to_string(path).ok()?)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, &self.render())
    }
}

/// The wall clock in Unix seconds: views and records are compared across nodes, whose
/// clocks Pacemaker clusters keep in sync anyway.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds on the boot clock (CLOCK_BOOTTIME): it never jumps, and it restarts at boot
/// like this directory's content.
pub fn boot_seconds() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map_or(0, |t| u64::try_from(t.tv_sec()).unwrap_or(0))
}

/// What the primary remembers across transitions to grant the grace periods of
/// `scores::unseen_score`: promote starts it afresh, the monitor records lost standbys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrimaryMemory {
    pub promoted_at: Option<u64>,
    pub lost: BTreeMap<String, Lost>,
}

impl PrimaryMemory {
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(at) = self.promoted_at {
            out.push_str(&format!("promoted {at}\n"));
        }
        for (node, l) in &self.lost {
            out.push_str(&format!("lost {node} {} {}\n", l.since, l.score));
        }
        out
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut m = PrimaryMemory::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next()? {
                "promoted" => m.promoted_at = Some(words.next()?.parse().ok()?),
                "lost" => {
                    let node = words.next()?.to_string();
                    let since = words.next()?.parse().ok()?;
                    let score = words.next()?.parse().ok()?;
                    m.lost.insert(node, Lost { since, score });
                }
                _ => return None,
            }
        }
        Some(m)
    }

    /// The memory at `path`; empty (no grace) when absent or damaged.
    pub fn load(path: &Path) -> Self {
        fs::read_to_string(path)
            .ok()
            .and_then(|t| Self::parse(&t))
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, &self.render())
    }
}

/// The last line a standby's monitor reported about a cluster without a primary (empty
/// when nothing was reported), so that it logs and publishes only changes.
pub fn load_text(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

pub fn save_text(path: &Path, text: &str) -> std::io::Result<()> {
    write_private(path, text)
}

/// pg_control of a crashed instance, recorded for a decision about it: that stop left it
/// down (Pacemaker knows it stopped it, so probes answer "not running"), or that Pacemaker
/// recovers it in place (start may replay its WAL). A record holds only while pg_control is
/// unchanged: once anything runs the instance again (recovery, rebuild), it no longer applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashRecord(String);

impl CrashRecord {
    pub fn of(control: &ControlData) -> Self {
        CrashRecord(format!(
            "state {}\ntimeline {}\nredo {}\n",
            control.state.as_str(),
            control.timeline,
            control.redo
        ))
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_private(path, &self.0)
    }

    /// True when the record at `path` is this one.
    pub fn is_recorded(&self, path: &Path) -> bool {
        fs::read_to_string(path).is_ok_and(|t| t == self.0)
    }
}

/// True when this crashed primary is the one the pre-demote notification approved for
/// recovery in place (`Agent::in_place_recovery_file`), and nothing ran it since. Reads
/// pg_control only for a crashed primary.
pub fn in_place_recovery_approved(a: &Agent, probe: &Probe) -> bool {
    matches!(probe.state, InstanceState::CrashedPrimary(_))
        && probe
            .control(&a.instance)
            .is_ok_and(|control| CrashRecord::of(&control).is_recorded(&a.in_place_recovery_file()))
}

/// Replaces the file atomically (temporary file, then rename), mode 0600.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    written_temporary(path, text)?
        .persist(path)
        .map_err(|e| e.error)?;
    Ok(())
}

/// Creates the file whole (temporary file, then link), mode 0600; fails if it exists.
pub(crate) fn create_private(path: &Path, text: &str) -> std::io::Result<()> {
    written_temporary(path, text)?
        .persist_noclobber(path)
        .map_err(|e| e.error)?;
    Ok(())
}

/// A temporary file beside `path` (its directory created if need be) holding `text`.
fn written_temporary(path: &Path, text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pgsqlms-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    Ok(tmp)
}

pub fn forget(path: &Path) {
    let _ = fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MonitorState {
        MonitorState {
            partition: ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
            connected: ["b"].iter().map(|s| s.to_string()).collect(),
            scores: [
                ("a".to_string(), 1001),
                ("b".to_string(), 1000),
                ("c".to_string(), -1000),
            ]
            .into(),
        }
    }

    #[test]
    fn round_trips_through_text() {
        let s = sample();
        assert_eq!(MonitorState::parse(&s.render()), Some(s));
        let empty = MonitorState::default();
        assert_eq!(MonitorState::parse(&empty.render()), Some(empty));
    }

    #[test]
    fn damaged_files_are_ignored() {
        assert_eq!(MonitorState::parse(""), None);
        assert_eq!(MonitorState::parse("partition a\n"), None);
        assert_eq!(
            MonitorState::parse("partition a\nconnected\nscore a x\n"),
            None
        );
        assert_eq!(MonitorState::parse("partition a\nconnected\nweird\n"), None);
    }

    #[test]
    fn saves_atomically_with_tight_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/pgsqlms-x.state");
        sample().save(&path).unwrap();
        assert_eq!(MonitorState::load(&path), Some(sample()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        forget(&path);
        assert_eq!(MonitorState::load(&path), None);
    }

    #[test]
    fn primary_memory_round_trips_and_damage_means_no_grace() {
        let m = PrimaryMemory {
            promoted_at: Some(1200),
            lost: [(
                "node3".to_string(),
                Lost {
                    since: 1210,
                    score: 990,
                },
            )]
            .into(),
        };
        assert_eq!(PrimaryMemory::parse(&m.render()), Some(m.clone()));
        assert_eq!(PrimaryMemory::parse(""), Some(PrimaryMemory::default()));
        assert_eq!(PrimaryMemory::parse("promoted x\n"), None);
        assert_eq!(PrimaryMemory::parse("lost node3 12\n"), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgsqlms-x.primary");
        assert_eq!(PrimaryMemory::load(&path), PrimaryMemory::default());
        m.save(&path).unwrap();
        assert_eq!(PrimaryMemory::load(&path), m);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::write(&path, "garbage").unwrap();
        assert_eq!(PrimaryMemory::load(&path), PrimaryMemory::default());
    }

    #[test]
    fn boot_clock_moves_forward() {
        let a = boot_seconds();
        assert!(a > 0);
        assert!(boot_seconds() >= a);
    }

    #[test]
    fn crash_record_applies_only_to_the_same_pg_control() {
        use crate::logic::controldata::ClusterState;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgsqlms-x.crash-stopped");
        let crashed = ControlData {
            state: ClusterState::InProduction,
            timeline: 2,
            redo: "0/3000028".parse().unwrap(),
            wal_level: "replica".into(),
            checksums: false,
            wal_segment_size: 16 << 20,
        };
        let record = CrashRecord::of(&crashed);
        assert!(!record.is_recorded(&path), "nothing recorded yet");
        record.save(&path).unwrap();
        assert!(record.is_recorded(&path));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Recovered or rebuilt since: another redo point, state or timeline.
        for changed in [
            ControlData {
                redo: "0/4000028".parse().unwrap(),
                ..crashed.clone()
            },
            ControlData {
                state: ClusterState::InArchiveRecovery,
                ..crashed.clone()
            },
            ControlData {
                timeline: 3,
                ..crashed.clone()
            },
        ] {
            assert!(!CrashRecord::of(&changed).is_recorded(&path), "{changed:?}");
        }
        forget(&path);
        assert!(!record.is_recorded(&path));
    }
}
