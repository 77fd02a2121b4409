//! SQL on the instances, through psql as the system user.

use super::*;

impl Cluster {
    // ----- SQL

    pub fn try_sql(&self, name: &str, sql: &str) -> Result<String, String> {
        let o = self
            .as_postgres("psql")
            .args(self.conn_args(name))
            .args([
                "-d",
                "postgres",
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        } else {
            Err(out_text(&o))
        }
    }

    pub fn sql(&self, name: &str, sql: &str) -> String {
        self.try_sql(name, sql)
            .unwrap_or_else(|e| panic!("SQL on {name} failed: {sql}\n{e}"))
    }

    pub fn in_recovery(&self, name: &str) -> bool {
        match self.sql(name, "SELECT pg_is_in_recovery()").as_str() {
            "t" => true,
            "f" => false,
            o => panic!("pg_is_in_recovery() on {name}: {o:?}"),
        }
    }

    /// Wait until every standby in `standbys` streams from `primary` (pg_stat_replication).
    pub fn wait_streaming(&self, primary: &str, standbys: &[&str]) {
        wait_for(
            60,
            &format!("{standbys:?} streaming from {primary}"),
            || {
                let rows = self
                .try_sql(primary, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
                .ok()?;
                let got: Vec<&str> = rows.lines().collect();
                standbys.iter().all(|s| got.contains(s)).then_some(())
            },
        );
    }

    /// Poll `sql` on `name` (for at most 60 s) until it answers `want`; panic with `what` after.
    pub fn wait_sql(&self, name: &str, sql: &str, want: &str, what: &str) {
        wait_for(60, what, || {
            (self.try_sql(name, sql).ok()? == want).then_some(())
        });
    }

    /// Wait until `standby` has replayed everything `primary` has written so far.
    pub fn wait_replayed(&self, primary: &str, standby: &str) {
        let target = self.sql(primary, "SELECT pg_current_wal_lsn()");
        self.wait_sql(
            standby,
            &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'"),
            "t",
            &format!("{standby} to replay up to {target} of {primary}"),
        );
    }

    /// Wait until the primary sees every connected standby's write/flush/replay at its current LSN.
    pub fn wait_all_caught_up(&self, primary: &str, standbys: &[&str]) {
        wait_for(
            60,
            &format!("{standbys:?} caught up with {primary}"),
            || {
                let q = "SELECT string_agg(application_name, ' ') FROM pg_stat_replication \
                     WHERE state = 'streaming' AND write_lsn = pg_current_wal_lsn() \
                     AND flush_lsn = pg_current_wal_lsn() AND replay_lsn = pg_current_wal_lsn()";
                let r = self.try_sql(primary, q).ok()?;
                let got: Vec<&str> = r.split_whitespace().collect();
                standbys.iter().all(|s| got.contains(s)).then_some(())
            },
        );
    }

    /// Wait until the primary no longer lists `standby` in pg_stat_replication.
    pub fn wait_not_streaming(&self, primary: &str, standby: &str) {
        self.wait_sql(
            primary,
            &format!(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{standby}'"
            ),
            "0",
            &format!("{standby} to disconnect from {primary}"),
        );
    }

    /// The walreceiver of `standby` is gone (pg_stat_wal_receiver is empty).
    pub fn wait_no_walreceiver(&self, standby: &str) {
        self.wait_sql(
            standby,
            "SELECT count(*) FROM pg_stat_wal_receiver",
            "0",
            &format!("walreceiver of {standby} to stop"),
        );
    }
}
