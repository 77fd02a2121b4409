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

/// Pacemaker keeps this many bytes of an exit reason and drops the rest.
pub const MAX_REASON: usize = 128;
/// Between the problem and the remedy in an exit reason.
pub const REASON_SEPARATOR: &str = "; ";
/// The longest value (path, node name, server message) quoted whole in a problem.
pub const MAX_VALUE: usize = 40;
const ELLIPSIS: &str = "...";

/// The longest start of `text` within `max` bytes, cut on a character boundary.
fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The longest end of `text` within `max` bytes, cut on a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A value quoted in a problem (a path, a name, a message), at most `MAX_VALUE` bytes: its
/// start and end kept (a path's last components, a message's first words), the middle
/// shown as "...".
pub fn brief(value: impl std::fmt::Display) -> String {
    let value = value.to_string();
    if value.len() <= MAX_VALUE {
        return value;
    }
    let keep = MAX_VALUE - ELLIPSIS.len();
    format!(
        "{}{ELLIPSIS}{}",
        head(&value, keep / 2),
        tail(&value, keep - keep / 2)
    )
}

/// The exit reason for `problem` and `remedy`, made one line (as `sanitize` does) of at
/// most `MAX_REASON` bytes. The remedy is kept whole (`Remedy` bounds it); the problem
/// loses its end when it is too long, which the log still has.
pub fn reason_line(problem: &str, remedy: &str) -> String {
    let problem = sanitize(problem);
    let remedy = sanitize(remedy);
    let suffix = if remedy.is_empty() {
        String::new()
    } else {
        format!("{REASON_SEPARATOR}{}", head(&remedy, MAX_REASON))
    };
    let room = MAX_REASON.saturating_sub(suffix.len());
    let problem = if problem.len() <= room {
        problem
    } else {
        format!(
            "{}{ELLIPSIS}",
            head(&problem, room.saturating_sub(ELLIPSIS.len()))
        )
    };
    format!("{problem}{suffix}")
}

/// Prints the reason Pacemaker shows in `crm_mon` for the action's result; the caller
/// logs the whole text.
pub fn exit_reason(problem: &str, remedy: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "{REASON_MARKER}{}",
        reason_line(problem, remedy)
    );
}

// Called as `log::info!(...)`: the macros live here, not at the crate root.
macro_rules! debug { ($($a:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Debug, &format!($($a)*)) } }
macro_rules! info { ($($a:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Info, &format!($($a)*)) } }
macro_rules! warning { ($($a:tt)*) => { $crate::ocf::log::log($crate::ocf::log::Level::Warning, &format!($($a)*)) } }
pub(crate) use {debug, info, warning};

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

    #[test]
    fn exit_reasons_fit_pacemakers_limit_and_keep_the_remedy() {
        let remedy = "r".repeat(crate::ocf::MAX_REMEDY);
        let problems = [
            String::new(),
            "short problem".to_string(),
            "p".repeat(MAX_REASON),
            "\n\x1b".repeat(MAX_REASON),
            "é€😀".repeat(MAX_REASON),
            format!("x{REASON_MARKER}").repeat(20),
        ];
        for problem in &problems {
            for remedy in ["", "do this", remedy.as_str()] {
                let line = reason_line(problem, remedy);
                assert!(line.len() <= MAX_REASON, "{} bytes: {line}", line.len());
                assert!(line.ends_with(remedy), "{line}");
                assert!(!line.contains(REASON_MARKER), "{line}");
                assert!(!line.chars().any(char::is_control), "{line}");
            }
        }
        assert_eq!(reason_line("it broke", "fix it"), "it broke; fix it");
        assert_eq!(reason_line("it broke", ""), "it broke");
        let cut = reason_line(&"p".repeat(200), "fix it");
        assert!(cut.ends_with("p...; fix it"), "{cut}");
        assert_eq!(cut.len(), MAX_REASON);
        // a remedy of the longest kind leaves the problem its first 48 bytes
        let line = reason_line(&"p".repeat(200), &remedy);
        assert!(line.starts_with(&"p".repeat(45)), "{line}");
    }

    #[test]
    fn quoted_values_are_bounded_keeping_both_ends() {
        assert_eq!(brief("/var/lib/pgsql/data"), "/var/lib/pgsql/data");
        let path = format!("/srv/{}/pgdata", "deep/".repeat(30));
        let short = brief(&path);
        assert!(short.len() <= MAX_VALUE, "{short}");
        assert!(
            short.starts_with("/srv/") && short.ends_with("/pgdata"),
            "{short}"
        );
        assert!(short.contains(ELLIPSIS));
        let wide = brief("é😀".repeat(40));
        assert!(wide.len() <= MAX_VALUE && wide.contains(ELLIPSIS), "{wide}");
    }
}
