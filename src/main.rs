use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = isoaudit::cli::Cli::parse();
    std::process::ExitCode::from(isoaudit::app::main(cli))
}
