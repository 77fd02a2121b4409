//! The agent's decisions, as pure functions over plain data: no process, file, SQL or
//! clock here. The facts they decide on come parsed from text (`lsn`, `conninfo`,
//! `controldata`, `notify`, `shutdown_checkpoint`); the decisions are the instance's state
//! (`state`) and whether it hangs (`hang`), the promotion scores (`scores`), the election
//! (`election`), the recovery of a cluster without a primary (`headless`), whether a
//! former primary diverged from the current one (`divergence`), the timeline a promotion
//! takes (`timelines`) and managed synchronous replication (`sync`). For `pgsqlms show` and `history`: crm_mon's XML (`crm_mon`), the
//! primary's published replication view (`replication_view`), the promotion records
//! (`history`), the table, JSON and exit rules (`show`, `json`).

pub mod conninfo;
pub mod controldata;
pub mod crm_mon;
pub mod divergence;
pub mod election;
pub mod hang;
pub mod headless;
pub mod history;
pub mod json;
pub mod lsn;
pub mod notify;
pub mod replication_view;
pub mod scores;
pub mod show;
pub mod shutdown_checkpoint;
pub mod state;
pub mod sync;
pub mod timelines;
pub mod transitions;
