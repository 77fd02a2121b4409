//! `pg_controldata` output (run with LC_ALL=C) parsed into a typed value.

use crate::logic::lsn::Lsn;

/// `Database cluster state` as written in pg_control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    StartingUp,
    ShutDown,
    ShutDownInRecovery,
    ShuttingDown,
    InCrashRecovery,
    InArchiveRecovery,
    InProduction,
}

impl ClusterState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "starting up" => ClusterState::StartingUp,
            "shut down" => ClusterState::ShutDown,
            "shut down in recovery" => ClusterState::ShutDownInRecovery,
            "shutting down" => ClusterState::ShuttingDown,
            "in crash recovery" => ClusterState::InCrashRecovery,
            "in archive recovery" => ClusterState::InArchiveRecovery,
            "in production" => ClusterState::InProduction,
            _ => return None,
        })
    }

    /// Shut down with a checkpoint (as a primary or in recovery): no crash recovery due.
    /// pg_rewind runs one in single-user mode first for any other state.
    pub fn is_clean_shutdown(self) -> bool {
        matches!(
            self,
            ClusterState::ShutDown | ClusterState::ShutDownInRecovery
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::StartingUp => "starting up",
            ClusterState::ShutDown => "shut down",
            ClusterState::ShutDownInRecovery => "shut down in recovery",
            ClusterState::ShuttingDown => "shutting down",
            ClusterState::InCrashRecovery => "in crash recovery",
            ClusterState::InArchiveRecovery => "in archive recovery",
            ClusterState::InProduction => "in production",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlData {
    pub state: ClusterState,
    pub timeline: u32,
    pub redo: Lsn,
    pub wal_level: String,
    /// Data page checksums are on ("Data page checksum version" other than 0).
    pub checksums: bool,
    /// Bytes per WAL segment, fixed at initdb.
    pub wal_segment_size: u64,
}

/// Parses pg_controldata's English output. Every field is required: a partial read would
/// let the agent act on a guess.
pub fn parse(output: &str) -> Result<ControlData, String> {
    let mut state = None;
    let mut timeline = None;
    let mut redo = None;
    let mut wal_level = None;
    let mut checksums = false;
    let mut wal_segment_size = None;
    for line in output.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Database cluster state" => {
                state = Some(
                    ClusterState::parse(value)
                        .ok_or_else(|| format!("unknown database cluster state {value:?}"))?,
                )
            }
            "Latest checkpoint's TimeLineID" => {
                timeline = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid timeline {value:?}"))?,
                )
            }
            "Latest checkpoint's REDO location" => redo = Some(value.parse::<Lsn>()?),
            "wal_level setting" => wal_level = Some(value.to_string()),
            "Data page checksum version" => checksums = value != "0",
            "Bytes per WAL segment" => {
                wal_segment_size = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| n.is_power_of_two())
                        .ok_or_else(|| format!("invalid WAL segment size {value:?}"))?,
                )
            }
            _ => {}
        }
    }
    let missing = |what: &str| format!("pg_controldata output has no {what:?} line");
    Ok(ControlData {
        state: state.ok_or_else(|| missing("Database cluster state"))?,
        timeline: timeline.ok_or_else(|| missing("Latest checkpoint's TimeLineID"))?,
        redo: redo.ok_or_else(|| missing("Latest checkpoint's REDO location"))?,
        wal_level: wal_level.ok_or_else(|| missing("wal_level setting"))?,
        checksums,
        wal_segment_size: wal_segment_size.ok_or_else(|| missing("Bytes per WAL segment"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(state: &str) -> String {
        format!(
            "pg_control version number:            1300\n\
             Catalog version number:               202209061\n\
             Database system identifier:           7311234567890123456\n\
             Database cluster state:               {state}\n\
             pg_control last modified:             Mon 23 Nov 2026 08:00:00 AM UTC\n\
             Latest checkpoint location:           0/3000060\n\
             Latest checkpoint's REDO location:    0/3000028\n\
             Latest checkpoint's REDO WAL file:    000000020000000000000003\n\
             Latest checkpoint's TimeLineID:       2\n\
             Latest checkpoint's PrevTimeLineID:   1\n\
             wal_level setting:                    replica\n\
             wal_log_hints setting:                off\n\
             Bytes per WAL segment:                16777216\n"
        )
    }

    #[test]
    fn parses_every_state_string() {
        let all = [
            ("starting up", ClusterState::StartingUp),
            ("shut down", ClusterState::ShutDown),
            ("shut down in recovery", ClusterState::ShutDownInRecovery),
            ("shutting down", ClusterState::ShuttingDown),
            ("in crash recovery", ClusterState::InCrashRecovery),
            ("in archive recovery", ClusterState::InArchiveRecovery),
            ("in production", ClusterState::InProduction),
        ];
        for (text, state) in all {
            let cd = parse(&sample(text)).unwrap();
            assert_eq!(cd.state, state, "{text}");
            assert_eq!(state.as_str(), text);
            assert_eq!(
                state.is_clean_shutdown(),
                text.starts_with("shut down"),
                "{text}"
            );
            assert_eq!(cd.timeline, 2);
            assert_eq!(cd.redo, "0/3000028".parse().unwrap());
            assert_eq!(cd.wal_level, "replica");
            assert!(!cd.checksums, "no checksum line: off");
            assert_eq!(cd.wal_segment_size, 16 << 20);
        }
    }

    #[test]
    fn reads_the_data_checksum_version() {
        let with = |v: &str| {
            format!(
                "{}Data page checksum version:           {v}\n",
                sample("shut down")
            )
        };
        assert!(!parse(&with("0")).unwrap().checksums);
        assert!(parse(&with("1")).unwrap().checksums);
    }

    #[test]
    fn refuses_unknown_state() {
        let err = parse(&sample("in a funny mood")).unwrap_err();
        assert!(err.contains("in a funny mood"), "{err}");
    }

    #[test]
    fn refuses_partial_output() {
        let text = sample("shut down").replace("Latest checkpoint's TimeLineID", "Something");
        assert!(parse(&text).unwrap_err().contains("TimeLineID"));
        let text = sample("shut down").replace("wal_level setting", "x");
        assert!(parse(&text).unwrap_err().contains("wal_level"));
        let text = sample("shut down").replace("Bytes per WAL segment", "x");
        assert!(parse(&text).unwrap_err().contains("WAL segment"));
        let text = sample("shut down").replace("16777216", "1000000");
        assert!(parse(&text).unwrap_err().contains("1000000"));
        assert!(parse("").is_err());
    }
}
