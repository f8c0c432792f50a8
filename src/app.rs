//! Command dispatch: glue between the CLI structs and the library.

use crate::cli::{Cli, Command};

/// Runs one command; returns the process exit code (0 clean, 1 findings, 2 error).
pub fn main(cli: Cli) -> u8 {
    match cli.command {
        Command::Check(_)
        | Command::Report(_)
        | Command::Plan(_)
        | Command::Run(_)
        | Command::Graph(_)
        | Command::Rule(_) => {
            eprintln!("isoaudit: not implemented yet");
            2
        }
    }
}
