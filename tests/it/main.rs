//! The one integration-test binary: runs the real `isoaudit` binary the way
//! users do.

mod cli;
mod hostile;
mod report;
mod rule_fixtures;
