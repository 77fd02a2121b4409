//! What the Pacemaker stand-ins (tests/standins/) keep: attributes, partition, calls.

use super::*;

impl Cluster {
    // ----- attributes kept by the stand-ins

    pub fn set_partition(&self, nodes: &[&str]) {
        fs::write(
            self.attrs.join("partition"),
            format!("{}\n", nodes.join(" ")),
        )
        .unwrap();
    }

    /// Where the clone runs, for `crm_resource --locate`: (node, promoted).
    pub fn set_locate(&self, instances: &[(&str, bool)]) {
        let d = self.attrs.join("locate");
        fs::create_dir_all(&d).unwrap();
        let text: String = instances
            .iter()
            .map(|(n, p)| {
                format!(
                    "resource {RSC} is running on: {n}{}\n",
                    if *p { " Promoted" } else { "" }
                )
            })
            .collect();
        fs::write(d.join(RSC), text).unwrap();
    }

    /// Promotion score of `node` (crm_attribute --promotion) as stored by the stand-in.
    pub fn score(&self, node: &str) -> Option<String> {
        fs::read_to_string(self.attrs.join("promotion").join(RSC).join(node)).ok()
    }

    pub fn score_i(&self, node: &str) -> Option<i64> {
        self.score(node).map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("promotion score of {node} is not an integer: {s:?}"))
        })
    }

    pub fn scores(&self) -> BTreeMap<String, String> {
        self.names()
            .into_iter()
            .filter_map(|n| self.score(n).map(|s| (n.to_string(), s)))
            .collect()
    }

    /// Assert the promotion scores of the nodes named in `expected`, all at once. On a
    /// mismatch the message shows each of these nodes' expected and actual score, `why`, and
    /// every stored score.
    #[track_caller]
    pub fn assert_scores(&self, expected: &[(&str, i64)], why: &str) {
        let want: Vec<(&str, Option<i64>)> = expected.iter().map(|&(n, s)| (n, Some(s))).collect();
        let got: Vec<(&str, Option<i64>)> = expected
            .iter()
            .map(|&(n, _)| (n, self.score_i(n)))
            .collect();
        assert_eq!(
            got,
            want,
            "promotion scores (left: actual, right: expected){}{why}; all scores: {:?}",
            if why.is_empty() { "" } else { ": " },
            self.scores()
        );
    }

    pub fn set_score(&self, node: &str, v: &str) {
        let d = self.attrs.join("promotion").join(RSC);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(node), v).unwrap();
    }

    /// Private attribute `attr` (without the `-pgsqld` suffix) of `node`.
    pub fn private_attr(&self, node: &str, attr: &str) -> Option<String> {
        fs::read_to_string(
            self.attrs
                .join("private")
                .join(node)
                .join(format!("{attr}-{RSC}")),
        )
        .ok()
    }

    pub fn set_private_attr(&self, node: &str, attr: &str, v: &str) {
        let d = self.attrs.join("private").join(node);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("{attr}-{RSC}")), v).unwrap();
    }

    /// Lines of the stand-ins' call log: "<local node>\t<tool> <args>".
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.attrs.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn clear_calls(&self) {
        fs::write(self.attrs.join("calls.log"), "").unwrap();
    }
}
