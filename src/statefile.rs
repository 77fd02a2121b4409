//! The agent's own files in Pacemaker's runtime directory (HA_RSCTMP, emptied at boot):
//! what the primary's monitor last wrote (promotion scores) and last saw (partition,
//! connected standbys), so that a steady-state monitor spawns no attribute tool, and the
//! crashed instance stop left down, so that later probes report it stopped.

use crate::controldata::ControlData;
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

/// Replaces the file atomically (temporary file, then rename), mode 0600.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pgsqlms-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
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
    fn crash_record_applies_only_to_the_same_pg_control() {
        use crate::controldata::ClusterState;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgsqlms-x.crash-stopped");
        let crashed = ControlData {
            state: ClusterState::InProduction,
            timeline: 2,
            redo: "0/3000028".parse().unwrap(),
            wal_level: "replica".into(),
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
