//! Executes a plan with pytest + pytest-xdist through the embedded plugin.

pub fn command(_args: &crate::cli::RunArgs) -> anyhow::Result<u8> {
    eprintln!("isoaudit run: not available in this build yet");
    Ok(crate::app::EXIT_ERROR)
}
