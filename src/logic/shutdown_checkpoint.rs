//! Reads `pg_waldump` output for the old primary's shutdown checkpoint. Pure.

use regex::Regex;

/// True when the dump holds a shutdown checkpoint record on `timeline`: the proof that a
/// standby received everything the old primary wrote before its clean shutdown.
pub fn received(waldump_output: &str, timeline: u32) -> bool {
    let re = Regex::new(r"^rmgr: XLOG .*desc: CHECKPOINT_SHUTDOWN redo [0-9A-F]+/[0-9A-F]+; tli (\d+);.*; shutdown$")
        .expect("static regex");
    waldump_output.lines().any(|line| {
        re.captures(line.trim_end())
            .and_then(|c| c[1].parse::<u32>().ok())
            == Some(timeline)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15: &str = "rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/03000028, prev 0/02000100, desc: RUNNING_XACTS nextXid 735 latestCompletedXid 734 oldestRunningXid 735\n\
rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/030001B8, prev 0/03000180, desc: CHECKPOINT_SHUTDOWN redo 0/30001B8; tli 2; prev tli 2; fpw true; xid 0:735; oid 16384; multi 1; offset 0; oldest xid 716 in DB 1; oldest multi 1 in DB 1; oldest/newest commit timestamp xid: 0/0; oldest running xid 0; shutdown\n";

    #[test]
    fn finds_the_pg15_shutdown_checkpoint_on_its_timeline() {
        assert!(received(PG15, 2));
        assert!(!received(PG15, 1));
        assert!(!received(PG15, 3));
    }

    #[test]
    fn online_checkpoints_do_not_count() {
        let online = PG15
            .replace("CHECKPOINT_SHUTDOWN", "CHECKPOINT_ONLINE")
            .replace("; shutdown", "; online");
        assert!(!received(&online, 2));
    }

    #[test]
    fn nothing_in_empty_or_error_output() {
        assert!(!received("", 1));
        assert!(!received(
            "pg_waldump: error: could not find file \"000000010000000000000003\"",
            1
        ));
    }
}
