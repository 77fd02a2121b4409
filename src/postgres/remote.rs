//! SQL on another node's instance (the primary a former primary rejoins), through `psql` run
//! as the system user: libpq then reads the connection settings exactly as the walreceiver
//! and pg_rewind do (TLS and its certificates, `passfile` or `~/.pgpass`, services, several
//! hosts), which an in-process client would have to imitate. Only `start` of a former
//! primary comes here, so the cost of a process per statement does not matter.

use crate::ocf::deadline::Deadline;
use crate::system::command::{self, SystemUser};
use crate::system::SystemError;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// What separates values and rows in psql's output, and stands for NULL: control
/// characters no catalog value holds.
const FIELD_SEPARATOR: char = '\u{1f}';
const RECORD_SEPARATOR: char = '\u{1e}';
const NULL_MARK: &str = "\u{1a}";
/// psql's exit status when the connection failed (1 and 3 are failed statements).
const CONNECTION_FAILED: i32 = 2;

/// Why a statement gave no rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Statement(String),
    #[error(transparent)]
    Local(#[from] SystemError),
}

/// A server reached with a libpq connection string, as the system user.
pub struct RemoteSql {
    psql: PathBuf,
    user: SystemUser,
    /// keyword=value pairs without the password, which goes through the environment:
    /// the command line of a process is readable by every local user, and logged at debug.
    conninfo: String,
    password: Option<String>,
    /// The longest one statement (and its connection) may take.
    limit: Duration,
    deadline: Deadline,
}

impl RemoteSql {
    pub fn new(
        psql: PathBuf,
        user: SystemUser,
        conninfo: String,
        password: Option<String>,
        limit: Duration,
        deadline: Deadline,
    ) -> Self {
        RemoteSql {
            psql,
            user,
            conninfo,
            password,
            limit,
            deadline,
        }
    }

    /// Every row of one statement, each value as text (`None` for NULL).
    pub fn text_rows(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, RemoteError> {
        let mut cmd = self.user.command(&self.psql);
        cmd.args(["--no-psqlrc", "--quiet", "--no-align", "--tuples-only"])
            .args(["--set", "ON_ERROR_STOP=1"])
            .arg(format!("--field-separator={FIELD_SEPARATOR}"))
            .arg(format!("--record-separator={RECORD_SEPARATOR}"))
            .arg(format!("--pset=null={NULL_MARK}"))
            .arg("--command")
            .arg(sql)
            .arg("--dbname")
            .arg(&self.conninfo);
        self.connection_environment(&mut cmd);
        cmd.env(
            "PGOPTIONS",
            format!("-c statement_timeout={}", self.limit.as_millis()),
        );
        let out = command::run(cmd, self.deadline.capped(self.limit))?;
        match out.code {
            Some(0) => Ok(parse_unaligned(&out.stdout)),
            Some(CONNECTION_FAILED) => Err(RemoteError::Unreachable(
                out.last_error_line()
                    .trim_start_matches("psql: error: ")
                    .to_string(),
            )),
            _ => Err(RemoteError::Statement(format!(
                "{sql}: {}",
                out.last_error_line()
            ))),
        }
    }

    /// The first value of the first row.
    pub fn value(&self, sql: &str) -> Result<Option<String>, RemoteError> {
        self.text_rows(sql)?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .ok_or_else(|| RemoteError::Statement(format!("{sql} returned no row")))
    }

    /// The password, a connection timeout and a name, through libpq's environment (the
    /// connection string may override the last two); `cmd` may be another libpq program
    /// given the same connection string.
    pub fn connection_environment(&self, cmd: &mut Command) {
        let seconds = self.limit.as_secs().max(2);
        cmd.env("PGCONNECT_TIMEOUT", seconds.to_string())
            .env("PGAPPNAME", "pgsqlms-rejoin");
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
    }

    pub fn conninfo(&self) -> &str {
        &self.conninfo
    }
}

/// psql's unaligned, tuples-only output: rows ended by the record separator (the last by a
/// newline), values split by the field separator. Nothing at all means no row.
fn parse_unaligned(stdout: &str) -> Vec<Vec<Option<String>>> {
    if stdout.is_empty() {
        return Vec::new();
    }
    let body = stdout.strip_suffix('\n').unwrap_or(stdout);
    body.split(RECORD_SEPARATOR)
        .map(|row| {
            row.split(FIELD_SEPARATOR)
                .map(|v| (v != NULL_MARK).then(|| v.to_string()))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_output_gives_rows_values_and_nulls() {
        assert_eq!(parse_unaligned(""), Vec::<Vec<Option<String>>>::new());
        // one row holding one empty string
        assert_eq!(parse_unaligned("\n"), vec![vec![Some(String::new())]]);
        assert_eq!(
            parse_unaligned("1\u{1f}\u{1a}\u{1f}\u{1e}2\u{1f}a\nb\u{1f}x\n"),
            vec![
                vec![Some("1".into()), None, Some(String::new())],
                vec![Some("2".into()), Some("a\nb".into()), Some("x".into())],
            ]
        );
    }
}
