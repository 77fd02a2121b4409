//! What a test asserts of an agent run: exit code, exit reason.

use super::*;

impl AgentResult {
    /// The exit reasons printed (`ocf-exit-reason:` lines), joined; each of this agent's
    /// must fit the 128 bytes Pacemaker keeps (another agent run for comparison, through
    /// PGSQLMS_TEST_AGENT, is not held to that).
    #[track_caller]
    pub fn reason(&self) -> Option<String> {
        let v: Vec<&str> = self
            .stderr
            .lines()
            .filter_map(|l| l.split_once("ocf-exit-reason:").map(|x| x.1))
            .collect();
        let ours = std::env::var_os("PGSQLMS_TEST_AGENT").is_none();
        for reason in v.iter().filter(|_| ours) {
            assert!(
                reason.len() <= 128,
                "Pacemaker keeps 128 bytes of an exit reason, this one has {}: {reason}\n{}",
                reason.len(),
                self.describe()
            );
        }
        (!v.is_empty()).then(|| v.join(" | "))
    }

    pub fn reason_lines(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.contains("ocf-exit-reason:"))
            .count()
    }

    pub fn describe(&self) -> String {
        format!(
            "pgsqlms {} on {} exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.action, self.node, self.code, self.stdout, self.stderr
        )
    }

    /// Assert the exit code (and the exit reason rule, see `check_reason_lines`).
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code (wanted {code})\n{}",
            self.describe()
        );
        self.check_reason_lines()
    }

    #[track_caller]
    pub fn expect_one_of(&self, codes: &[i32]) -> &Self {
        assert!(
            codes.contains(&self.code),
            "exit code {} not in {codes:?}\n{}",
            self.code,
            self.describe()
        );
        self.check_reason_lines()
    }

    /// docs/agent-contract.md: "Every non-zero result prints one ocf-exit-reason line". An
    /// error (1, 2, 3, 5, 6, 9) must print exactly one; the normal monitor answers 7 and 8
    /// may print at most one.
    #[track_caller]
    pub fn check_reason_lines(&self) -> &Self {
        self.reason();
        let n = self.reason_lines();
        match self.code {
            0 => {}
            7 | 8 => assert!(
                n <= 1,
                "at most one ocf-exit-reason line\n{}",
                self.describe()
            ),
            _ => assert_eq!(
                n,
                1,
                "an error must print exactly one ocf-exit-reason line\n{}",
                self.describe()
            ),
        }
        self
    }

    /// Assert the exit reason contains one of `needles` (case-insensitive).
    #[track_caller]
    pub fn expect_reason(&self, needles: &[&str]) -> &Self {
        let r = self.reason().unwrap_or_default().to_lowercase();
        assert!(
            needles.iter().any(|n| r.contains(&n.to_lowercase())),
            "exit reason should mention one of {needles:?}\n{}",
            self.describe()
        );
        self
    }
}
