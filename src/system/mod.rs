//! The host: running programs (as root or as the system user, never through a shell) and
//! the system user's account.

pub mod accounts;
pub mod command;
