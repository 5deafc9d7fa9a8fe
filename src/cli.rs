//! The command line: `tenantd serve`, and for now `apply` and `delete` straight against the
//! platform database (they move onto the HTTP API with the admin-surface work).
//!
//! # Guarantees
//! - `apply` validates every document of every file before it writes any of them.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};
use crate::resource::{self, Tenant};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "tenantd",
    version,
    about = "Declarative tenant reconciler: Tenant specs in Postgres, converged onto Docker containers and per-tenant Postgres schemas.",
    long_about = None
)]
pub struct Cli {
    /// Config file (YAML). TENANTD_* environment variables override its fields.
    #[arg(long, short = 'c', global = true, env = "TENANTD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reconciler and its HTTP listener (/healthz, /readyz, /metrics) until SIGTERM or ctrl-c.
    ///
    /// Example: TENANTD_DATABASE_URL=postgres://tenantd:secret@127.0.0.1/tenantd tenantd serve
    Serve,
    /// Create or update tenants from YAML files (multi-document), validating all before writing any.
    ///
    /// Example: tenantd apply -f specs/
    Apply {
        /// A YAML file, a directory of *.yaml/*.yml files, or - for standard input.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of a Tenant document (for editors; committed as specs/tenant.schema.json).
    ///
    /// Example: tenantd schema > specs/tenant.schema.json
    Schema,
    /// Mark tenants for deletion; the reconciler tears them down per their deletionPolicy.
    ///
    /// Example: tenantd delete acme-lab
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
    },
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Schema = cli.command {
        let schema = crate::api::openapi::tenant_schema();
        println!("{}", serde_json::to_string_pretty(&schema)?);
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(config.log_format);
    match cli.command {
        Command::Serve => crate::app::serve(config, crate::app::shutdown_signal()).await,
        Command::Apply { files } => apply(&config, &files).await,
        Command::Delete { names } => delete(&config, &names).await,
        Command::Schema => unreachable!("handled before the config is loaded"),
    }
}

async fn connect(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url.as_deref().context(
        "no database URL: set TENANTD_DATABASE_URL (or DATABASE_URL), or database_url in the config file",
    )?;
    Ok(Store::connect(url, 2).await?)
}

/// Reads and validates every document first; writes only if all are valid.
pub fn load_documents(files: &[PathBuf]) -> anyhow::Result<Vec<(String, Tenant)>> {
    let host_cpus = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    let mut sources = Vec::new();
    for file in files {
        if file == Path::new("-") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            sources.push(("<stdin>".to_owned(), text));
        } else if file.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(file)
                .with_context(|| format!("reading directory {}", file.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            entries.sort();
            for path in entries {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                sources.push((path.display().to_string(), text));
            }
        } else {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            sources.push((file.display().to_string(), text));
        }
    }
    let mut problems = Vec::new();
    let mut tenants = Vec::new();
    for (source, text) in &sources {
        match resource::parse_documents(text) {
            Ok(documents) => {
                for tenant in documents {
                    if let Err(errors) = resource::validate(&tenant, host_cpus) {
                        for error in &errors.0 {
                            problems.push(format!(
                                "{source}: tenant {}: {error}",
                                tenant.metadata.name
                            ));
                        }
                    } else {
                        tenants.push((source.clone(), tenant));
                    }
                }
            }
            Err(e) => problems.push(format!("{source}: {e}")),
        }
    }
    if !problems.is_empty() {
        bail!(
            "nothing was applied; fix these and run again:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(tenants)
}

async fn apply(config: &Config, files: &[PathBuf]) -> anyhow::Result<()> {
    let tenants = load_documents(files)?;
    let store = connect(config).await?;
    for (source, tenant) in tenants {
        let (outcome, _) = store
            .apply(&tenant)
            .await
            .with_context(|| format!("{source}: applying tenant {}", tenant.metadata.name))?;
        println!("tenant/{} {}", tenant.metadata.name, outcome.as_str());
    }
    Ok(())
}

async fn delete(config: &Config, names: &[String]) -> anyhow::Result<()> {
    let store = connect(config).await?;
    for name in names {
        if store.request_delete(name).await? {
            println!("tenant/{name} deletion requested");
        } else {
            bail!("tenant {name} not found");
        }
    }
    Ok(())
}
