//! Checks every exit reason written in the sources: each `OcfError` built from a text
//! (`OcfError::generic("...")`, `OcfError::new(code, format!("..."))`, ...) with the remedy
//! its call chain gives (`.with_remedy(remedy!("..."))`, a `Remedy` constant) must fit
//! Pacemaker's 128 bytes whole, every placeholder standing for the longest value it may
//! show. `log::reason_line` keeps any reason within the limit and the remedy whole by
//! cutting the problem's end: this test makes sure no problem text relies on that. A
//! placeholder that ends a problem (a server's or a tool's message, whose start says
//! enough) needs only its first `TRAILING_VALUE` bytes shown. Problems composed from other
//! errors are checked where those are made (`state.rs`); the errors of the layers below
//! the agent (`SystemError`, `PostgresError`, `PacemakerError`) by `agent::errors`, with
//! every variant at its longest.

use crate::ocf::log::{MAX_REASON, MAX_VALUE, REASON_SEPARATOR};
use crate::ocf::MAX_REMEDY;
use std::collections::BTreeMap;
use std::path::Path;

/// How much of a problem's last placeholder must show.
pub(crate) const TRAILING_VALUE: usize = 12;
/// Placeholders that are numbers or words the agent chooses, not quoted values, with the
/// longest text each can have.
const SHORT_VALUES: [(&str, usize); 10] = [
    ("pid", 7),   // pid_max is 4194304 at most
    ("major", 3), // PostgreSQL's major version
    ("MIN_MAJOR", 2),
    ("uid", 10),    // u32
    ("count", 5),   // processes of one instance
    ("score", 20),  // i64
    ("limit", 20),  // u64
    ("exit", 18),   // "exit N" or "killed by a signal"
    ("status", 25), // ExitStatus: "signal: 9 (SIGKILL)", "exit status: 1"
    ("tool", 14),   // crm_attribute, attrd_updater
];

/// The source files but this one (whose examples are not the agent's), with their text.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with(file!()) {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// The index just past the bracket that closes the one `text[open]` opens, skipping
/// string and character literals.
fn closing(text: &str, open: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0, open);
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b'"' => i = literal_end(text, i),
            // a character literal ('"', '\''); a lifetime has no closing quote
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => i += 3,
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced brackets after byte {open}");
}

/// The index of the quote that closes the string literal opening at `start`.
fn literal_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start + 1;
    while bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    i
}

/// The first string literal in `text`, its escapes and line continuations resolved.
fn first_literal(text: &str) -> Option<String> {
    let start = text.find('"')?;
    let raw = &text[start + 1..literal_end(text, start)];
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.next_if(|_| c == '\\')) {
            ('\\', Some('\n')) => while chars.next_if(|c| c.is_whitespace()).is_some() {},
            ('\\', Some(escaped)) => out.push(if escaped == 'n' { '\n' } else { escaped }),
            (c, _) => out.push(c),
        }
    }
    Some(out)
}

/// The longest a problem written as `format` can be, and whether it ends with a value.
fn longest(format: &str) -> usize {
    let mut len = 0;
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        if rest[open..].starts_with("{{") {
            len += open + 1;
            rest = &rest[open + 2..];
            continue;
        }
        let close = open + rest[open..].find('}').expect("placeholder closed");
        let name = rest[open + 1..close].split(':').next().unwrap_or_default();
        len += open;
        rest = &rest[close + 1..];
        len += if let Some((_, longest)) = SHORT_VALUES.iter().find(|(n, _)| *n == name) {
            *longest
        } else if rest.is_empty() {
            TRAILING_VALUE
        } else {
            MAX_VALUE
        };
    }
    len + rest.replace("}}", "}").len()
}

/// `Remedy` constants by name, with their length.
fn remedy_constants(sources: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (_, text) in sources {
        for (at, _) in text.match_indices(": Remedy =") {
            let name = text[..at].rsplit(' ').next().unwrap().to_string();
            let rest = &text[at..];
            let open = rest
                .find("remedy!")
                .expect("a Remedy constant made by remedy!");
            out.insert(name, first_literal(&rest[open..]).unwrap().len());
        }
    }
    out
}

/// Every exit reason built from a text in `file`: where, and its longest length.
fn reasons(file: &str, text: &str, constants: &BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for ctor in ["new(", "generic(", "configured(", "installed(", "args("] {
        let needle = format!("OcfError::{ctor}");
        for (at, _) in text.match_indices(&needle) {
            let open = at + needle.len() - 1;
            let end = closing(text, open);
            let Some(problem) = first_literal(&text[open..end]) else {
                continue; // composed from another error, checked where that is made
            };
            let mut len = longest(&problem);
            let mut rest = &text[end..];
            loop {
                let trimmed = rest.trim_start();
                let Some(method) = [".with_remedy(", ".with_detail(", ".within("]
                    .into_iter()
                    .find(|m| trimmed.starts_with(m))
                else {
                    break;
                };
                let open = method.len() - 1;
                let close = closing(trimmed, open);
                let arg = trimmed[open + 1..close - 1].trim();
                match method {
                    ".with_remedy(" => {
                        len += REASON_SEPARATOR.len()
                            + first_literal(arg)
                                .map(|r| r.len())
                                .or_else(|| constants.get(arg).copied())
                                .unwrap_or(MAX_REMEDY);
                    }
                    ".within(" => len += longest(&first_literal(arg).unwrap()) + 2,
                    _ => {}
                }
                rest = &trimmed[close..];
            }
            let line = text[..at].lines().count();
            out.push((format!("{file}:{line}: {problem:?}"), len));
        }
    }
    out
}

#[test]
fn every_exit_reason_in_the_sources_fits_whole() {
    let sources = sources();
    let constants = remedy_constants(&sources);
    assert!(
        constants.contains_key("REBUILD_CRASHED_PRIMARY"),
        "{constants:?}"
    );
    let all: Vec<(String, usize)> = sources
        .iter()
        .flat_map(|(file, text)| reasons(file, text, &constants))
        .collect();
    assert!(all.len() > 40, "the scan found only {} reasons", all.len());
    let too_long: Vec<String> = all
        .iter()
        .filter(|(_, len)| *len > MAX_REASON)
        .map(|(at, len)| format!("{len} bytes: {at}"))
        .collect();
    assert!(too_long.is_empty(), "{}", too_long.join("\n"));
}

#[test]
fn placeholders_count_as_their_longest_values() {
    assert_eq!(longest("no {{braces}}"), "no {braces}".len());
    assert_eq!(longest("{x} is bad"), MAX_VALUE + 7);
    assert_eq!(longest("pid {pid} at {}"), 4 + 7 + 4 + TRAILING_VALUE);
    assert_eq!(longest("port {:?}!"), 5 + MAX_VALUE + 1);
    let text = "x(OcfError::generic(format!(\"a {b} c\", b = f(\"zz\")))\n.with_remedy(remedy!(\"fix it\")))";
    let found = reasons("f", text, &BTreeMap::new());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, longest("a {b} c") + 2 + "fix it".len());
}
