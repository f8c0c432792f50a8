//! isoaudit: static isolation analysis and parallel scheduling for pytest suites.
//!
//! Pipeline: discover -> parse -> model -> graph -> facts -> classify, then
//! rules, reports and the scheduler read the result.

pub mod app;
pub mod classify;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod facts;
pub mod graph;
pub mod output;
pub mod plan;
pub mod pytest;
pub mod python;
pub mod run;
pub mod walk;
