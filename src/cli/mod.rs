//! The command line: `tenantd serve` and `schema`, and the client commands (`apply`, `diff`,
//! `get`, `describe`, `delete`, `wait`, `logs`, `start`, `stop`, `restart`) that talk to a
//! running tenantd over its HTTP API.
//!
//! Layout:
//! - this file: the clap definitions and the dispatch.
//! - [`client`]: the HTTP client, its errors (each says what to do), the SSE reader.
//! - [`documents`]: reading YAML/JSON files, and `file:line:column` for a field path.
//! - [`apply`], [`diff`], [`get`], [`describe`], [`delete`], [`wait`], [`logs`], [`verbs`]: one
//!   file per command group; [`output`]: colour, tables and ages.
//!
//! # Guarantees
//! - The client commands never touch the database: everything goes through `/api/v1`, with
//!   the server's validation, ownership and rate limits.
//! - `apply` validates every document (locally, then with a server dry run) before it writes
//!   any of them.
//! - Colour only on a terminal, and never when `NO_COLOR` is set.

pub mod apply;
pub mod client;
pub mod delete;
pub mod describe;
pub mod diff;
pub mod documents;
pub mod get;
pub mod logs;
pub mod output;
pub mod verbs;
pub mod wait;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, LogFormat};

const ABOUT: &str = "Declarative tenant reconciler: Tenant specs in Postgres, converged onto Docker containers and per-tenant Postgres schemas.";

const AFTER_HELP: &str = "\
The client commands talk to a running `tenantd serve` over HTTP: set TENANTD_URL (default
http://127.0.0.1:8080) and TENANTD_TOKEN (one of the server's admin_tokens), or pass --server
and --token.

Examples:
  tenantd serve --specs-dir specs/
  export TENANTD_URL=http://127.0.0.1:8080 TENANTD_TOKEN=...
  tenantd apply -f specs/ --wait
  tenantd diff -f specs/
  tenantd get -o wide
  tenantd describe acme-lab";

#[derive(Debug, Parser)]
#[command(name = "tenantd", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// Config file (YAML) of `serve`. TENANTD_* environment variables override its fields.
    #[arg(long, short = 'c', global = true, env = "TENANTD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the API is and how to authenticate (client commands).
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of the tenantd API (client commands).
    #[arg(
        long,
        short = 's',
        global = true,
        env = "TENANTD_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// API bearer token: one of the server's admin_tokens (client commands).
    #[arg(
        long,
        global = true,
        env = "TENANTD_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reconciler and the HTTP API until SIGTERM or ctrl-c.
    ///
    /// Serves /api/v1 (what the client commands use), /healthz, /readyz and /metrics on the
    /// configured listen address, and converges every tenant onto Docker and Postgres.
    #[command(after_help = "\
Examples:
  TENANTD_DATABASE_URL=postgres://tenantd:secret@127.0.0.1/tenantd tenantd serve
  tenantd serve --config /etc/tenantd.yaml --specs-dir /etc/tenantd/specs --prune")]
    Serve {
        /// Watch this directory of tenant YAML files and apply them (sets `specs_dir`).
        #[arg(long, value_name = "DIR")]
        specs_dir: Option<PathBuf>,
        /// With --specs-dir: delete tenants whose file was removed from the directory (only
        /// tenants that came from it; sets `specs_prune`).
        #[arg(long, requires = "specs_dir")]
        prune: bool,
    },
    /// Create or update tenants from YAML (or JSON) files.
    ///
    /// Multi-document YAML files, JSON files (a Tenant, or the TenantList of `get -o json`),
    /// directories (their *.yaml and *.yml files), and - for standard input.
    /// Every document is validated (here, then by the server in a dry run) before any is
    /// written; problems are shown as file:line:column. Prints `tenant/NAME created`,
    /// `configured` or `unchanged` for each. Tenants that exist but are not in the files are
    /// left alone (apply never deletes).
    #[command(after_help = "\
Examples:
  tenantd apply -f specs/acme-lab.yaml
  tenantd apply -f specs/ --wait --timeout 5m
  tenantd get acme-lab -o yaml | sed 's/plan: standard/plan: premium/' | tenantd apply -f -")]
    Apply {
        /// A YAML or JSON file, a directory of YAML files, or - for standard input (repeatable).
        #[arg(
            short = 'f',
            long = "filename",
            required = true,
            value_name = "FILE|DIR|-"
        )]
        files: Vec<PathBuf>,
        /// Validate and show what would happen, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Then show progress until every tenant is Ready (or Stopped, if so asked); fail with
        /// the reason if one ends up Degraded or the timeout passes.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        timeout: Duration,
        /// Also write tenants managed by the server's specs/ directory (and take them over).
        #[arg(long)]
        force: bool,
    },
    /// Show what `apply` would change, Terraform-style; exit 0 if nothing, 2 if something.
    ///
    /// For each tenant: `+` create, `~` update in place, `-/+` replace the container (naming
    /// the field that forces it; the data is kept), `-` destroy; every line says why. A
    /// separate section shows drift: what changed outside tenantd (a container removed by
    /// hand, a password changed) that the reconciler will repair.
    ///
    /// Tenants that exist but are not in the files are not shown: apply never deletes them.
    /// `diff --delete -f FILE` shows what `delete -f FILE` would destroy instead.
    /// Exit status: 0 no changes, 2 changes (or drift), 1 error.
    #[command(after_help = "\
Examples:
  tenantd diff -f specs/
  tenantd diff -f specs/acme-lab.yaml && echo 'nothing to do'
  tenantd diff --delete -f specs/old-tenant.yaml")]
    Diff {
        /// A YAML or JSON file, a directory of YAML files, or - for standard input (repeatable).
        #[arg(
            short = 'f',
            long = "filename",
            required = true,
            value_name = "FILE|DIR|-"
        )]
        files: Vec<PathBuf>,
        /// Show what `tenantd delete -f` of these files would destroy.
        #[arg(long)]
        delete: bool,
    },
    /// List tenants, or show one, as a table, YAML or JSON.
    ///
    /// The table has NAME, PHASE, STATE, SUBDOMAIN, IMAGE and AGE (`-o wide` adds the URL,
    /// labels and why a tenant is not ready). YAML and JSON are complete resources that
    /// `tenantd apply -f` takes back unchanged.
    #[command(after_help = "\
Examples:
  tenantd get
  tenantd get -l plan=standard,!legacy -o wide
  tenantd get acme-lab -o yaml > acme-lab.yaml")]
    Get {
        /// One tenant; all tenants when left out.
        name: Option<String>,
        /// Only tenants whose labels match, e.g. `plan=standard`, `plan in (a,b)`, `!legacy`.
        #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
        selector: Option<String>,
        /// Only tenants in this phase (Pending, Provisioning, Ready, Stopped, Degraded, Terminating).
        #[arg(long)]
        phase: Option<String>,
        /// Output format: a table (default), a wider table, YAML or JSON.
        #[arg(short = 'o', long = "output", value_enum)]
        output: Option<OutputFormat>,
    },
    /// Show one tenant for a person: spec, status, conditions and recent events.
    #[command(after_help = "\
Examples:
  tenantd describe acme-lab
  tenantd describe acme-lab --events 50")]
    Describe {
        /// The tenant's name.
        name: String,
        /// How many of the most recent events to show.
        #[arg(long, default_value_t = 20)]
        events: u32,
    },
    /// Delete tenants by name or by the files that define them.
    ///
    /// The reconciler tears each one down per its spec.database.deletionPolicy (Delete drops
    /// the schema and role, Retain keeps them, BackupThenDelete dumps first), then the tenant
    /// disappears. `tenantd diff --delete -f FILE` previews a delete by file.
    #[command(after_help = "\
Examples:
  tenantd delete acme-lab
  tenantd delete -f specs/acme-lab.yaml --wait")]
    Delete {
        /// Tenant names.
        #[arg(required_unless_present = "files", conflicts_with = "files")]
        names: Vec<String>,
        /// Delete the tenants defined in these files (directory, or - for standard input).
        #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
        files: Vec<PathBuf>,
        /// Then show progress until every tenant is gone.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        timeout: Duration,
        /// Also delete tenants managed by the server's specs/ directory.
        #[arg(long)]
        force: bool,
    },
    /// Wait until tenants meet a condition, showing progress; fail with the state at timeout.
    ///
    /// --for takes condition=TYPE (status True), condition=TYPE=STATUS, phase=PHASE or
    /// delete. Conditions and phases count only once the reconciler has seen the tenant's
    /// latest spec (status.observedGeneration = metadata.generation).
    #[command(after_help = "\
Examples:
  tenantd wait acme-lab --for=condition=Ready --timeout=2m
  tenantd wait acme-lab --for=phase=Stopped
  tenantd wait acme-lab --for=delete")]
    Wait {
        /// Tenant names.
        #[arg(required = true)]
        names: Vec<String>,
        /// condition=TYPE[=STATUS], phase=PHASE, or delete.
        #[arg(long = "for", value_name = "CONDITION", value_parser = wait::Goal::parse)]
        goal: wait::Goal,
        /// How long to wait.
        #[arg(long, default_value = "2m", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Print a tenant's container logs.
    #[command(after_help = "\
Examples:
  tenantd logs acme-lab --tail 100
  tenantd logs acme-lab -f")]
    Logs {
        /// The tenant's name.
        name: String,
        /// Keep streaming new lines until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// Only lines newer than this, e.g. 10m or 2h.
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
    },
    /// Start tenants' containers (sets spec.state: Running).
    #[command(after_help = "\
Examples:
  tenantd start acme-lab
  tenantd start acme-lab --wait")]
    Start(verbs::VerbArgs),
    /// Stop tenants' containers, keeping them and their data (sets spec.state: Stopped).
    #[command(after_help = "\
Examples:
  tenantd stop acme-lab
  tenantd stop acme-lab --wait")]
    Stop(verbs::VerbArgs),
    /// Restart tenants' containers (sets spec.restartedAt to now; the container is recreated).
    #[command(after_help = "\
Examples:
  tenantd restart acme-lab --wait")]
    Restart(verbs::VerbArgs),
    /// Print the JSON Schema of a Tenant document (for editors; committed as specs/tenant.schema.json).
    #[command(after_help = "\
Examples:
  tenantd schema > specs/tenant.schema.json")]
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Wide,
    Yaml,
    Json,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (write it like 30s, 2m or 1h)"))
}

/// Sets up logging: text for people, JSON for collectors; `RUST_LOG` filters.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a log file, `docker logs` or journald would get escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs one command; the exit code is 0 on success (for `diff`: 0 no changes, 2 changes).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = || client::Client::new(&cli.client.server, cli.client.token.as_deref());
    let success = |()| ExitCode::SUCCESS;
    match cli.command {
        Command::Serve { specs_dir, prune } => {
            let mut config = Config::load(cli.config.as_deref())?;
            if let Some(dir) = specs_dir {
                config.specs_dir = Some(dir);
            }
            if prune {
                config.specs_prune = true;
            }
            init_tracing(config.log_format);
            crate::app::serve(config, crate::app::shutdown_signal())
                .await
                .map(success)
        }
        Command::Schema => {
            let schema = crate::api::openapi::tenant_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply {
            files,
            dry_run,
            wait,
            timeout,
            force,
        } => {
            let options = apply::Options {
                dry_run,
                wait: wait.then_some(timeout),
                force,
            };
            apply::run(&client()?, &files, &options).await.map(success)
        }
        Command::Diff { files, delete } => diff::run(&client()?, &files, delete).await,
        Command::Get {
            name,
            selector,
            phase,
            output,
        } => {
            let query = get::Query {
                name,
                selector,
                phase,
            };
            get::run(&client()?, &query, output).await.map(success)
        }
        Command::Describe { name, events } => {
            describe::run(&client()?, &name, events).await.map(success)
        }
        Command::Delete {
            names,
            files,
            wait,
            timeout,
            force,
        } => {
            let options = delete::Options {
                wait: wait.then_some(timeout),
                force,
            };
            delete::run(&client()?, &names, &files, &options)
                .await
                .map(success)
        }
        Command::Wait {
            names,
            goal,
            timeout,
        } => wait::run(&client()?, &names, &goal, timeout)
            .await
            .map(success),
        Command::Logs {
            name,
            follow,
            tail,
            since,
        } => {
            let query = logs::Query {
                follow,
                tail,
                since,
            };
            logs::run(&client()?, &name, &query).await.map(success)
        }
        Command::Start(args) => verbs::run(&client()?, verbs::Verb::Start, &args)
            .await
            .map(success),
        Command::Stop(args) => verbs::run(&client()?, verbs::Verb::Stop, &args)
            .await
            .map(success),
        Command::Restart(args) => verbs::run(&client()?, verbs::Verb::Restart, &args)
            .await
            .map(success),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example_in_its_help() {
        let mut cli = Cli::command();
        for sub in cli.get_subcommands_mut() {
            let name = sub.get_name().to_owned();
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains("Examples:") && help.contains(&format!("tenantd {name}")),
                "`tenantd {name} --help` must show an example:\n{help}"
            );
        }
    }

    #[test]
    fn delete_takes_names_or_files_but_not_both() {
        assert!(Cli::try_parse_from(["tenantd", "delete"]).is_err());
        assert!(Cli::try_parse_from(["tenantd", "delete", "a", "-f", "x.yaml"]).is_err());
        assert!(Cli::try_parse_from(["tenantd", "delete", "-f", "x.yaml"]).is_ok());
    }

    #[test]
    fn wait_parses_its_goal_and_timeout() {
        let cli = Cli::try_parse_from([
            "tenantd",
            "wait",
            "acme",
            "--for=condition=Ready",
            "--timeout=90s",
        ])
        .unwrap();
        match cli.command {
            Command::Wait { goal, timeout, .. } => {
                assert_eq!(goal, wait::Goal::parse("condition=Ready").unwrap());
                assert_eq!(timeout, Duration::from_secs(90));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["tenantd", "wait", "a", "--for=ready"]).is_err());
    }
}
