//! The local PostgreSQL instance: its data directory as root may look at it (`datadir`),
//! its processes (`processes`), the agent's SQL connection (`sql`), and starting, stopping
//! and observing it (`instance`).

pub mod datadir;
pub mod instance;
pub mod processes;
pub mod sql;
