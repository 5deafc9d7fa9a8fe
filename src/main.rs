//! The `tenantd` binary: parse the command line and hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tenantd::memory::return_large_blocks_to_the_kernel();
    let cli = tenantd::cli::Cli::parse();
    match tenantd::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
