//! The markdown audit (`isoaudit report`) and the fixture graph (`isoaudit graph`).

use crate::cli::{GraphArgs, ReportArgs};

pub fn command(_args: &ReportArgs) -> anyhow::Result<u8> {
    eprintln!("isoaudit report: not available in this build yet");
    Ok(crate::app::EXIT_ERROR)
}

pub fn graph_command(_args: &GraphArgs) -> anyhow::Result<u8> {
    eprintln!("isoaudit graph: not available in this build yet");
    Ok(crate::app::EXIT_ERROR)
}
