//! The agent's SQL: a direct protocol connection to the local instance over its socket
//! (no psql), every call bounded in time.

use crate::logic::lsn::{standby_position, Lsn, WalPosition};
use crate::logic::replication_view::{Replication, WalSender};
use crate::logic::scores::ReplicationRow;
use crate::logic::state::{Unreachable, UnreachableCause};
use crate::ocf::config::Params;
use crate::ocf::deadline::Deadline;
use crate::postgres::PostgresError;
use crate::system::command::SystemUser;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::ErrorKind;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, SimpleQueryRow};

const PROMOTE_POLL: Duration = Duration::from_millis(10);

/// Why a connection could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// Nothing listens on the socket (no socket file, or connection refused).
    NotListening,
    /// The server refuses connections for now (SQLSTATE 57P03).
    Rejecting(String),
    /// The server is there but the connection failed, for the cause it gives.
    Failed(Unreachable),
    /// The agent could not try: its own error (the system user, the identity switch).
    Local(PostgresError),
}

pub struct Db {
    rt: Runtime,
    client: Client,
    timeout: Duration,
}

/// Classifies a failed connection from the server's SQLSTATE, or when the server did not
/// answer, the socket's error kind; `message` is what the server or the socket said.
pub fn classify_failure(
    sqlstate: Option<&str>,
    io: Option<ErrorKind>,
    message: String,
) -> ConnectError {
    use UnreachableCause as C;
    let cause = match (sqlstate, io) {
        (Some("57P03"), _) => return ConnectError::Rejecting(message),
        (None, Some(ErrorKind::NotFound | ErrorKind::ConnectionRefused)) => {
            return ConnectError::NotListening
        }
        (Some("28000" | "28P01"), _) => C::Authentication,
        (Some("53300"), _) => C::TooManyConnections,
        (Some("3D000"), _) => C::NoPostgresDatabase,
        (Some("57P01" | "57P02"), _) => C::Terminated,
        (None, Some(ErrorKind::TimedOut)) => C::Timeout,
        (None, Some(ErrorKind::PermissionDenied)) => C::SocketPermission,
        _ => C::Other,
    };
    ConnectError::Failed(Unreachable { cause, message })
}

fn classify(e: &tokio_postgres::Error) -> ConnectError {
    if let Some(db) = e.as_db_error() {
        return classify_failure(Some(db.code().code()), None, db.message().to_string());
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return classify_failure(None, Some(io.kind()), io.to_string());
        }
        source = s.source();
    }
    classify_failure(None, None, e.to_string())
}

impl Db {
    /// Connects to the local instance as role `system_user`, database `postgres`, giving
    /// up after `timeout` (for the handshake and for each later statement).
    pub fn connect(
        params: &Params,
        user: &SystemUser,
        timeout: Duration,
    ) -> Result<Db, ConnectError> {
        let mut cfg = tokio_postgres::Config::new();
        if params.pghost.starts_with('/') {
            cfg.host_path(&params.pghost);
        } else {
            cfg.host(&params.pghost);
        }
        cfg.port(params.pgport)
            .user(&user.name)
            .dbname("postgres")
            .application_name("pgsqlms");
        Db::connect_with(cfg, user, timeout)
    }

    /// Connects with `cfg`, as the system user, within `timeout`.
    fn connect_with(
        mut cfg: tokio_postgres::Config,
        user: &SystemUser,
        timeout: Duration,
    ) -> Result<Db, ConnectError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConnectError::Local(PostgresError::Runtime(e.to_string())))?;
        cfg.connect_timeout(timeout).options(format!(
            "-c statement_timeout={}",
            timeout.as_millis().max(1)
        ));
        // As the system user, so that the local `peer` authentication PostgreSQL installs
        // by default accepts the agent as that role, as it accepted PAF's psql; and so that
        // a socket the system user could not reach is not reached either.
        let connected = user
            .as_effective(|| {
                rt.block_on(async { tokio::time::timeout(timeout, cfg.connect(NoTls)).await })
            })
            .map_err(|e| ConnectError::Local(e.into()))?;
        match connected {
            Err(_) => Err(classify_failure(
                None,
                Some(ErrorKind::TimedOut),
                format!("no answer within {} ms", timeout.as_millis()),
            )),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok((client, connection))) => {
                rt.spawn(connection);
                Ok(Db {
                    rt,
                    client,
                    timeout,
                })
            }
        }
    }

    fn bounded<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, String> {
        match self
            .rt
            .block_on(async { tokio::time::timeout(self.timeout, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!(
                "{what} failed: {}",
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string())
            )),
            Err(_) => Err(format!(
                "{what} got no answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }

    /// The rows of one statement, by the simple query protocol: one round trip and one
    /// parse, where a prepared statement takes two of each. Every value comes as text.
    fn rows(&self, sql: &str) -> Result<Vec<SimpleQueryRow>, String> {
        let messages = self.bounded(sql, self.client.simple_query(sql))?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .collect())
    }

    /// Every row of one statement, each value as text (`None` for NULL).
    pub fn text_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        self.rows(sql)?
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| text_column(r, i).map(|v| v.map(str::to_string)))
                    .collect()
            })
            .collect()
    }

    fn row(&self, sql: &str) -> Result<SimpleQueryRow, String> {
        let mut rows = self.rows(sql)?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(format!("{sql} returned {n} rows instead of one")),
        }
    }

    /// Whether an administrator paused WAL replay on this standby.
    pub fn replay_paused(&self) -> Result<bool, String> {
        bool_column(&self.row("SELECT pg_is_wal_replay_paused()")?, 0)
    }

    pub fn is_in_recovery(&self) -> Result<bool, String> {
        bool_column(&self.row("SELECT pg_is_in_recovery()")?, 0)
    }

    /// Forces a checkpoint (a restartpoint on a standby) so pg_control shows the latest
    /// timeline and redo position.
    pub fn checkpoint(&self) -> Result<(), String> {
        self.bounded("CHECKPOINT", self.client.batch_execute("CHECKPOINT"))
    }

    /// A standby's timeline (the furthest of its last checkpoint's and the one it
    /// receives) and its received and replayed positions.
    pub fn standby_wal(&self) -> Result<StandbyWal, String> {
        let r = self.row(
            "SELECT (SELECT timeline_id FROM pg_control_checkpoint()), \
                    (SELECT received_tli FROM pg_stat_wal_receiver), \
                    pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()",
        )?;
        let cp_tli: Option<u32> = parsed_column(&r, 0)?;
        let rcv_tli: Option<u32> = parsed_column(&r, 1)?;
        Ok(StandbyWal {
            timeline: cp_tli.max(rcv_tli).unwrap_or(0),
            received: parsed_column(&r, 2)?,
            replayed: parsed_column(&r, 3)?,
        })
    }

    /// The last checkpoint's redo position and timeline, from pg_control.
    pub fn checkpoint_redo(&self) -> Result<(Lsn, u32), String> {
        let r = self.row("SELECT redo_lsn, timeline_id FROM pg_control_checkpoint()")?;
        let redo = parsed_column(&r, 0)?.ok_or("pg_control has no redo position")?;
        let tl = parsed_column(&r, 1)?.ok_or("pg_control has no timeline")?;
        Ok((redo, tl))
    }

    /// The primary's timeline and position, and what `pg_stat_replication` shows, as the
    /// scores and `pgsqlms show` need it, in one statement. The functions behind the view
    /// are called directly: a fresh backend plans the view's joins (and loads their
    /// catalogs) in about 3 ms, the functions in about 1 ms. The timeline is that of the
    /// WAL file being written (pg_control's lags until the end-of-recovery checkpoint).
    pub fn replication(&self) -> Result<Replication, String> {
        let rows = self.rows(
            "SELECT substr(pg_walfile_name(p.lsn), 1, 8), p.lsn, s.* \
             FROM (SELECT pg_current_wal_lsn() AS lsn) p LEFT JOIN LATERAL ( \
               SELECT a.application_name, w.state, w.write_lsn, \
                      pg_wal_lsn_diff(p.lsn, w.write_lsn)::bigint, w.flush_lsn, w.replay_lsn, \
                      w.sync_state, (extract(epoch FROM w.replay_lag) * 1000)::bigint \
               FROM pg_stat_get_wal_senders() w, pg_stat_get_activity(w.pid) a) s ON true",
        )?;
        let first = rows.first().ok_or("no row for the primary's position")?;
        let timeline = text_column(first, 0)?
            .and_then(|t| u32::from_str_radix(t, 16).ok())
            .ok_or("cannot read the primary's timeline")?;
        let current = parsed_column(first, 1)?.ok_or("no current WAL position")?;
        let senders = rows
            .iter()
            .filter(|r| matches!(text_column(r, 2), Ok(Some(_))))
            .map(|r| {
                let lag: Option<i64> = parsed_column(r, 5)?;
                let replay_lag: Option<i64> = parsed_column(r, 9)?;
                Ok(WalSender {
                    row: ReplicationRow {
                        application_name: text_column(r, 2)?.unwrap_or_default().to_string(),
                        state: text_column(r, 3)?.unwrap_or_default().to_string(),
                        write_lsn: parsed_column(r, 4)?,
                        lag: lag.map(|l| l.max(0) as u64),
                    },
                    flush_lsn: parsed_column(r, 6)?,
                    replay_lsn: parsed_column(r, 7)?,
                    sync_state: text_column(r, 8)?.unwrap_or_default().to_string(),
                    replay_lag_ms: replay_lag.map(|l| l.max(0) as u64),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Replication {
            timeline,
            current,
            senders,
        })
    }

    /// Promotes this standby and waits for the end of recovery, at most until `deadline`.
    /// pg_promote's own wait looks only every 100 ms: polling here ends it sooner.
    pub fn promote(&self, deadline: Deadline) -> Result<bool, String> {
        let signalled = bool_column(&self.row("SELECT pg_promote(false)")?, 0)?;
        if !signalled {
            return Err("the server could not signal the promotion".into());
        }
        loop {
            if !self.is_in_recovery()? {
                return Ok(true);
            }
            if !deadline.sleep(PROMOTE_POLL) {
                return Ok(false);
            }
        }
    }
}

/// How often `set_synchronous_standby_names` looks whether the reload took effect.
const RELOAD_POLL: Duration = Duration::from_millis(20);

impl Db {
    /// What the primary's monitor reads for synchronous replication, in one round trip:
    /// `synchronous_standby_names` and `synchronous_commit` as the server runs with them,
    /// and the timeline it writes on (pg_control's may
    /// still be the one before a promotion until the next checkpoint).
    pub fn primary_sync_state(&self) -> Result<PrimarySyncState, String> {
        let r = self.row(
            "SELECT current_setting('synchronous_standby_names'), \
                    current_setting('synchronous_commit'), \
                    ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int",
        )?;
        Ok(PrimarySyncState {
            standby_names: text_column(&r, 0)?.unwrap_or_default().to_string(),
            commit: text_column(&r, 1)?.unwrap_or_default().to_string(),
            timeline: parsed_column(&r, 2)?.ok_or("no current timeline")?,
        })
    }

    /// Sets `synchronous_standby_names` through `ALTER SYSTEM` (postgresql.auto.conf, not
    /// the administrator's files) and a reload, and waits until the server runs with it:
    /// only then do commits wait for the new list.
    pub fn set_synchronous_standby_names(
        &self,
        value: &str,
        deadline: Deadline,
    ) -> Result<(), String> {
        let alter = format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{}'",
            value.replace('\'', "''")
        );
        self.bounded("ALTER SYSTEM", self.client.batch_execute(&alter))?;
        bool_column(&self.row("SELECT pg_reload_conf()")?, 0)?;
        loop {
            let shown = self.row("SHOW synchronous_standby_names")?;
            if text_column(&shown, 0)? == Some(value) {
                return Ok(());
            }
            if !deadline.sleep(RELOAD_POLL) {
                return Err(format!(
                    "the server did not take synchronous_standby_names = '{value}' after the reload"
                ));
            }
        }
    }

    pub fn current_wal_lsn(&self) -> Result<Lsn, String> {
        parsed_column(&self.row("SELECT pg_current_wal_lsn()")?, 0)?
            .ok_or_else(|| "no current WAL position".to_string())
    }

    /// How far each standby has flushed the WAL it received, by application_name.
    pub fn flushed(&self) -> Result<BTreeMap<String, Lsn>, String> {
        let rows = self.rows(
            "SELECT a.application_name, w.flush_lsn \
             FROM pg_stat_get_wal_senders() w, pg_stat_get_activity(w.pid) a",
        )?;
        let mut flushed = BTreeMap::new();
        for r in &rows {
            if let (Some(name), Some(lsn)) = (text_column(r, 0)?, parsed_column::<Lsn>(r, 1)?) {
                flushed.insert(name.to_string(), lsn);
            }
        }
        Ok(flushed)
    }
}

impl Db {
    /// Where this standby could be promoted from: its timeline and the furthest of what it
    /// received and replayed.
    pub fn standby_position(&self) -> Result<WalPosition, String> {
        let wal = self.standby_wal()?;
        let lsn = standby_position(wal.received, wal.replayed)
            .ok_or("the standby has neither a received nor a replayed WAL position")?;
        Ok(WalPosition {
            timeline: wal.timeline,
            lsn,
        })
    }
}

impl Db {
    /// True when this standby's WAL receiver streams from a primary: the local fact that
    /// lets a standby's monitor skip asking Pacemaker whether a primary exists. The
    /// function behind pg_stat_wal_receiver, for the same reason as `replication`.
    pub fn wal_receiver_streaming(&self) -> Result<bool, String> {
        let rows =
            self.rows("SELECT status FROM pg_stat_get_wal_receiver() WHERE pid IS NOT NULL")?;
        rows.iter()
            .map(|r| text_column(r, 0))
            .try_fold(false, |any, status| Ok(any || status? == Some("streaming")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimarySyncState {
    pub standby_names: String,
    pub commit: String,
    pub timeline: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandbyWal {
    pub timeline: u32,
    pub received: Option<Lsn>,
    pub replayed: Option<Lsn>,
}

fn text_column(r: &SimpleQueryRow, i: usize) -> Result<Option<&str>, String> {
    r.try_get(i).map_err(|e| e.to_string())
}

fn bool_column(r: &SimpleQueryRow, i: usize) -> Result<bool, String> {
    match text_column(r, i)? {
        Some("t") => Ok(true),
        Some("f") => Ok(false),
        other => Err(format!("expected a boolean, got {other:?}")),
    }
}

/// A column read with `FromStr`: numbers, and LSNs in PostgreSQL's text form.
fn parsed_column<T>(r: &SimpleQueryRow, i: usize) -> Result<Option<T>, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text_column(r, i)?
        .map(|s| s.parse::<T>().map_err(|e| format!("{s:?}: {e}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(sqlstate: Option<&str>, io: Option<ErrorKind>) -> ConnectError {
        classify_failure(sqlstate, io, "said".into())
    }

    fn failed(c: UnreachableCause) -> ConnectError {
        ConnectError::Failed(Unreachable {
            cause: c,
            message: "said".into(),
        })
    }

    #[test]
    fn connection_failures_classify_by_sqlstate_or_socket_error() {
        use UnreachableCause as C;
        let cases = [
            (Some("57P03"), None, ConnectError::Rejecting("said".into())),
            (None, Some(ErrorKind::NotFound), ConnectError::NotListening),
            (
                None,
                Some(ErrorKind::ConnectionRefused),
                ConnectError::NotListening,
            ),
            (Some("28000"), None, failed(C::Authentication)),
            (Some("28P01"), None, failed(C::Authentication)),
            (Some("53300"), None, failed(C::TooManyConnections)),
            (Some("3D000"), None, failed(C::NoPostgresDatabase)),
            (Some("57P01"), None, failed(C::Terminated)),
            (Some("57P02"), None, failed(C::Terminated)),
            (None, Some(ErrorKind::TimedOut), failed(C::Timeout)),
            (
                None,
                Some(ErrorKind::PermissionDenied),
                failed(C::SocketPermission),
            ),
            (Some("XX000"), None, failed(C::Other)),
            (None, Some(ErrorKind::ConnectionReset), failed(C::Other)),
            (None, None, failed(C::Other)),
        ];
        for (sqlstate, io, expected) in cases {
            assert_eq!(cause(sqlstate, io), expected, "{sqlstate:?} {io:?}");
        }
    }
}
