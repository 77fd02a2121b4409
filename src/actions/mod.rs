//! One file per OCF action.

pub mod demote;
pub mod meta_data;
pub mod methods;
pub mod monitor;
pub mod notify;
pub mod promote;
pub mod reload;
pub mod start;
pub mod stop;
pub mod validate_all;

use crate::agent::Agent;
use crate::ocf::config::Meta;
use crate::ocf::unusable::Caller;
use crate::ocf::{OcfCode, OcfResult};

/// The OCF actions the agent implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Monitor,
    Promote,
    Demote,
    Notify,
    Reload,
    MetaData,
    ValidateAll,
    Methods,
}

/// How an action runs: on its own, or with the resource's settings.
pub enum Dispatch {
    Plain(fn()),
    WithAgent(fn(&Agent) -> OcfResult<OcfCode>),
}

impl Action {
    /// Every action, in the order `methods` lists them.
    pub const ALL: [Action; 10] = [
        Action::Start,
        Action::Stop,
        Action::Monitor,
        Action::Promote,
        Action::Demote,
        Action::Notify,
        Action::Reload,
        Action::MetaData,
        Action::ValidateAll,
        Action::Methods,
    ];

    /// The action's name as Pacemaker passes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Monitor => "monitor",
            Action::Promote => "promote",
            Action::Demote => "demote",
            Action::Notify => "notify",
            Action::Reload => "reload",
            Action::MetaData => "meta-data",
            Action::ValidateAll => "validate-all",
            Action::Methods => "methods",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Who this action is for `ocf::unusable`'s policy.
    pub fn caller(self, meta: &Meta) -> Caller {
        match self {
            Action::Stop => Caller::Stop,
            Action::Monitor if meta.is_probe() => Caller::Probe,
            _ => Caller::Other,
        }
    }

    pub fn dispatch(self) -> Dispatch {
        match self {
            Action::Start => Dispatch::WithAgent(start::start),
            Action::Stop => Dispatch::WithAgent(stop::stop),
            Action::Monitor => Dispatch::WithAgent(monitor::monitor),
            Action::Promote => Dispatch::WithAgent(promote::promote),
            Action::Demote => Dispatch::WithAgent(demote::demote),
            Action::Notify => Dispatch::WithAgent(notify::notify),
            Action::Reload => Dispatch::WithAgent(reload::reload),
            Action::ValidateAll => Dispatch::WithAgent(validate_all::validate_all),
            Action::MetaData => Dispatch::Plain(meta_data::meta_data),
            Action::Methods => Dispatch::Plain(methods::methods),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn names_parse_back_to_their_action() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("status"), None);
        assert_eq!(Action::parse("Start"), None);
    }
}
