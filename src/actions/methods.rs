//! `methods`: the actions this agent implements, one a line.

pub fn methods() {
    for action in super::Action::ALL {
        println!("{}", action.as_str());
    }
}
