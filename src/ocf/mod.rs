//! The OCF side of the agent, which every other layer speaks: return codes and the error
//! type every action returns (here), logging as Pacemaker's agents do, the action's
//! deadline, and the resource's settings and meta attributes as Pacemaker passes them.

pub mod config;
pub mod deadline;
#[cfg(test)]
pub(crate) mod exit_reason_texts;
pub mod log;
pub mod unusable;

use std::fmt;

/// The exit codes of the OCF resource agent API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OcfCode {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
    RunningPromoted = 8,
    FailedPromoted = 9,
}

impl OcfCode {
    pub fn exit_code(self) -> i32 {
        self as i32
    }

    pub fn name(self) -> &'static str {
        match self {
            OcfCode::Success => "OCF_SUCCESS",
            OcfCode::ErrGeneric => "OCF_ERR_GENERIC",
            OcfCode::ErrArgs => "OCF_ERR_ARGS",
            OcfCode::ErrUnimplemented => "OCF_ERR_UNIMPLEMENTED",
            OcfCode::ErrInstalled => "OCF_ERR_INSTALLED",
            OcfCode::ErrConfigured => "OCF_ERR_CONFIGURED",
            OcfCode::NotRunning => "OCF_NOT_RUNNING",
            OcfCode::RunningPromoted => "OCF_RUNNING_PROMOTED",
            OcfCode::FailedPromoted => "OCF_FAILED_PROMOTED",
        }
    }
}

/// The start of a problem that any exit reason shows, in bytes: enough to say what is wrong.
const PROBLEM_SHOWN: usize = 48;
/// The longest remedy, in bytes: what Pacemaker's 128 bytes leave beside `PROBLEM_SHOWN`.
pub const MAX_REMEDY: usize =
    crate::ocf::log::MAX_REASON - crate::ocf::log::REASON_SEPARATOR.len() - PROBLEM_SHOWN;

/// What the administrator should do about an error: fixed text that the exit reason always
/// keeps whole. Made by `remedy!`, which checks its length when the crate is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remedy(&'static str);

impl Remedy {
    /// Only through `remedy!`, which evaluates it as a constant: a remedy too long to fit
    /// beside its problem then fails the build instead of an action.
    #[doc(hidden)]
    pub const fn checked(text: &'static str) -> Remedy {
        assert!(
            !text.is_empty() && text.len() <= MAX_REMEDY,
            "a remedy must fit in MAX_REMEDY bytes"
        );
        Remedy(text)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// A `Remedy` from a string literal, its length checked at compile time.
macro_rules! remedy {
    ($text:literal) => {{
        const REMEDY: $crate::ocf::Remedy = $crate::ocf::Remedy::checked($text);
        REMEDY
    }};
}
pub(crate) use remedy;

/// A result that is not plain success: the OCF code to exit with, what is wrong, what to
/// do about it, and any longer explanation. The exit reason (`ocf-exit-reason:`, which
/// Pacemaker cuts at 128 bytes) is built from the problem and the remedy by
/// `log::exit_reason`, which shortens the problem and never the remedy; the log gets all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfError {
    pub code: OcfCode,
    /// What is wrong, with the values it names (`log::brief` bounds each).
    pub problem: String,
    pub remedy: Option<Remedy>,
    /// The longer explanation, logged on a line of its own.
    pub detail: Option<String>,
}

impl OcfError {
    pub fn new(code: OcfCode, problem: impl Into<String>) -> Self {
        OcfError {
            code,
            problem: problem.into(),
            remedy: None,
            detail: None,
        }
    }
    pub fn generic(problem: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrGeneric, problem)
    }
    pub fn configured(problem: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrConfigured, problem)
    }
    pub fn installed(problem: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrInstalled, problem)
    }
    pub fn args(problem: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrArgs, problem)
    }

    pub fn with_remedy(mut self, remedy: Remedy) -> Self {
        self.remedy = Some(remedy);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The same error seen from a step above: `context` goes before the problem.
    pub fn within(mut self, context: &str) -> Self {
        self.problem = format!("{context}: {}", self.problem);
        self
    }

    /// Logs the error whole at `level`, then prints its exit reason.
    pub fn report(&self, level: crate::ocf::log::Level) {
        crate::ocf::log::log(level, &self.message());
        if let Some(detail) = &self.detail {
            crate::ocf::log::log(level, detail);
        }
        crate::ocf::log::exit_reason(&self.problem, self.remedy_text());
    }

    fn remedy_text(&self) -> &'static str {
        self.remedy.map_or("", Remedy::as_str)
    }

    /// The exit reason `report` prints.
    #[cfg(test)]
    pub fn reason(&self) -> String {
        crate::ocf::log::reason_line(&self.problem, self.remedy_text())
    }

    /// The problem and the remedy, whole: what the log says.
    pub fn message(&self) -> String {
        match self.remedy {
            Some(r) => format!(
                "{}{}{}",
                self.problem,
                crate::ocf::log::REASON_SEPARATOR,
                r.0
            ),
            None => self.problem.clone(),
        }
    }
}

impl fmt::Display for OcfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.code.name())
    }
}

impl std::error::Error for OcfError {}

pub type OcfResult<T> = Result<T, OcfError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_ocf_standard() {
        let expected = [
            (OcfCode::Success, 0),
            (OcfCode::ErrGeneric, 1),
            (OcfCode::ErrArgs, 2),
            (OcfCode::ErrUnimplemented, 3),
            (OcfCode::ErrInstalled, 5),
            (OcfCode::ErrConfigured, 6),
            (OcfCode::NotRunning, 7),
            (OcfCode::RunningPromoted, 8),
            (OcfCode::FailedPromoted, 9),
        ];
        for (code, number) in expected {
            assert_eq!(code.exit_code(), number, "{}", code.name());
        }
    }

    #[test]
    fn error_display_carries_problem_remedy_and_code_name() {
        let e = OcfError::configured("notify is false").with_remedy(remedy!("set notify=true"));
        assert_eq!(
            e.to_string(),
            "notify is false; set notify=true (OCF_ERR_CONFIGURED)"
        );
        let e = OcfError::generic("stop failed").within("demote");
        assert_eq!(e.message(), "demote: stop failed");
    }
}
