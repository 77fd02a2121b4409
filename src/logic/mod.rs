//! The agent's decisions, as pure functions over plain data: no process, file, SQL or
//! clock here. The facts they decide on come parsed from text (`lsn`, `conninfo`,
//! `controldata`, `notify`, `shutdown_checkpoint`); the decisions are the instance's state
//! (`state`), the promotion scores (`scores`), the election (`election`), the recovery
//! of a cluster without a primary (`headless`) and managed synchronous replication
//! (`sync`).

pub mod conninfo;
pub mod controldata;
pub mod election;
pub mod headless;
pub mod lsn;
pub mod notify;
pub mod scores;
pub mod shutdown_checkpoint;
pub mod state;
pub mod sync;
pub mod transitions;
