//! Pacemaker's side: node attributes, promotion scores and the resource's location, through
//! its command-line tools.

pub mod attributes;
