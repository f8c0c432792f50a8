use clap::Parser;

// The analysis allocates many small nodes; mimalloc halves the time spent in
// the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = isoaudit::cli::Cli::parse();
    std::process::ExitCode::from(isoaudit::app::main(cli))
}
