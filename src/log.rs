//! Logging as Pacemaker's agents do: syslog with HA_LOGFACILITY and a `pgsqlms(<resource>)`
//! tag, plain `LEVEL: message` lines on stderr (Pacemaker captures them), debug lines only
//! with HA_debug=1, and the `ocf-exit-reason:` line for the administrator. Every message
//! is made one bounded line of printable text first: messages quote server errors and
//! file contents, which must not forge lines of their own.

use std::io::Write;
use std::sync::Mutex;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

struct Sink {
    syslog: Option<Logger<LoggerBackend, Formatter3164>>,
    debug: bool,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Sets up logging for `resource` from HA_LOGFACILITY and HA_debug.
pub fn init(resource: &str, facility: Option<&str>, debug: bool) {
    let syslog = match facility.map(str::trim) {
        Some("none") | Some("") => None,
        other => {
            let facility = other
                .and_then(|f| f.parse::<Facility>().ok())
                .unwrap_or(Facility::LOG_DAEMON);
            syslog::unix(Formatter3164 {
                facility,
                hostname: None,
                process: format!("pgsqlms({resource})"),
                pid: std::process::id(),
            })
            .ok()
        }
    };
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Sink { syslog, debug });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

/// The longest message written, in characters.
const MAX_MESSAGE: usize = 2000;

/// The marker Pacemaker looks for in an agent's stderr. It takes the text after its last
/// occurrence anywhere, not only at the start of a line.
const REASON_MARKER: &str = "ocf-exit-reason:";

/// `msg` as one line: control characters (newlines included) shown escaped, Pacemaker's
/// exit-reason marker defused, and cut at `MAX_MESSAGE` characters.
pub fn sanitize(msg: &str) -> String {
    let msg = msg.replace(REASON_MARKER, "ocf-exit-reason;");
    let mut out = String::with_capacity(msg.len().min(MAX_MESSAGE));
    for (i, c) in msg.chars().enumerate() {
        if i == MAX_MESSAGE {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn log(level: Level, msg: &str) {
    let msg = &sanitize(msg);
    let mut guard = SINK.lock().unwrap_or_else(|e| e.into_inner());
    let debug = guard.as_ref().is_some_and(|s| s.debug);
    if level == Level::Debug && !debug {
        return;
    }
    let label = match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warning => "WARNING",
        Level::Error => "ERROR",
    };
    let _ = writeln!(std::io::stderr(), "{label}: {msg}");
    if let Some(logger) = guard.as_mut().and_then(|s| s.syslog.as_mut()) {
        let _ = match level {
            Level::Debug => logger.debug(msg),
            Level::Info => logger.info(msg),
            Level::Warning => logger.warning(msg),
            Level::Error => logger.err(msg),
        };
    }
}

/// The reason Pacemaker shows in `crm_mon` for an action's result, logged at `level`.
pub fn exit_reason(level: Level, reason: &str) {
    log(level, reason);
    let reason = sanitize(reason);
    let _ = writeln!(std::io::stderr(), "{REASON_MARKER}{reason}");
}

#[macro_export]
macro_rules! debug { ($($a:tt)*) => { $crate::log::log($crate::log::Level::Debug, &format!($($a)*)) } }
#[macro_export]
macro_rules! info { ($($a:tt)*) => { $crate::log::log($crate::log::Level::Info, &format!($($a)*)) } }
#[macro_export]
macro_rules! warn { ($($a:tt)*) => { $crate::log::log($crate::log::Level::Warning, &format!($($a)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_one_bounded_line() {
        assert_eq!(sanitize("plain text: ok"), "plain text: ok");
        assert_eq!(
            sanitize("boom\nocf-exit-reason:forged\r\x1b[31m"),
            "boom\\nocf-exit-reason;forged\\r\\u{1b}[31m"
        );
        assert!(!sanitize("a\u{85}b").contains('\u{85}'), "C1 controls too");
        let long = sanitize(&"x".repeat(10 * MAX_MESSAGE));
        assert_eq!(long.chars().count(), MAX_MESSAGE + 3);
        assert!(long.ends_with("..."));
    }
}
