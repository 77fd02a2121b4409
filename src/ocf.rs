//! OCF return codes and the error type every action returns.

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

/// A result that is not plain success: the OCF code to exit with and the one-line reason
/// shown to the administrator (`ocf-exit-reason:`), which says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcfError {
    pub code: OcfCode,
    pub reason: String,
}

impl OcfError {
    pub fn new(code: OcfCode, reason: impl Into<String>) -> Self {
        OcfError {
            code,
            reason: reason.into(),
        }
    }
    pub fn generic(reason: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrGeneric, reason)
    }
    pub fn configured(reason: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrConfigured, reason)
    }
    pub fn installed(reason: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrInstalled, reason)
    }
    pub fn args(reason: impl Into<String>) -> Self {
        Self::new(OcfCode::ErrArgs, reason)
    }
}

impl fmt::Display for OcfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code.name())
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
    fn error_display_carries_reason_and_code_name() {
        let e = OcfError::configured("notify must be true");
        assert_eq!(e.to_string(), "notify must be true (OCF_ERR_CONFIGURED)");
    }
}
