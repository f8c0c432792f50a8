//! The one integration-test binary: runs the real `isoaudit` binary the way
//! users do.

mod accuracy;
mod adopt;
mod cli;
mod cli_contract;
mod collect;
mod hostile;
mod packaging;
mod report;
mod rule_fixtures;
mod run_e2e;
mod shards;
mod support;
