//! `tenantd start | stop | restart NAME…`: the imperative verbs, which the server carries out
//! as spec edits (`spec.state`, `spec.restartedAt`) that the reconciler then acts on.

use std::time::Duration;

use clap::Args;

use super::client::Client;
use super::output::Paint;
use super::wait::{self, Goal};

#[derive(Debug, Clone, Args)]
pub struct VerbArgs {
    /// Tenant names.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Then show progress until each tenant is Ready (start, restart) or Stopped (stop).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "2m", value_parser = super::parse_duration)]
    pub timeout: Duration,
    /// Also act on tenants managed by the server's specs/ directory.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart,
}

impl Verb {
    fn path(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
        }
    }
}

pub async fn run(client: &Client, verb: Verb, args: &VerbArgs) -> anyhow::Result<()> {
    let paint = Paint::stdout();
    for name in &args.names {
        client.verb(name, verb.path(), args.force).await?;
        println!("tenant/{name} {} requested", verb.path());
    }
    if args.wait {
        wait::until(
            client,
            &args.names,
            &Goal::Converged,
            args.timeout,
            true,
            paint,
        )
        .await?;
    }
    Ok(())
}
