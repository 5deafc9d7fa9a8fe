//! `tenantd apply -f`: create or update tenants from files, all validated before any is
//! written.
//!
//! # Guarantees
//! - Nothing is written unless every document passed local validation (with locations) and
//!   the server's dry run (which adds what only it knows: a subdomain taken by another tenant,
//!   a tenant owned by the specs/ directory, the Docker host's CPU count, a stale
//!   resourceVersion).
//! - Tenants not named in the files are never touched.
//!
//! # Caveats
//! - The writes themselves are one request per tenant: if the server fails half-way (it
//!   stops, or someone writes the same tenant in between), the tenants before the failure
//!   are applied, and the error says which.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::client::{self, ApiFailure, Client, WriteFlags};
use super::documents::{self, Document, Problems};
use super::output::Paint;
use super::wait::{self, Goal};

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Validate and report, write nothing.
    pub dry_run: bool,
    /// Wait this long for every tenant to converge, showing progress.
    pub wait: Option<Duration>,
    /// Write tenants owned by the specs/ directory too.
    pub force: bool,
}

pub async fn run(client: &Client, files: &[PathBuf], options: &Options) -> anyhow::Result<()> {
    let paint = Paint::stdout();
    // The CPU bound is the Docker host's, which only the server knows: its dry run checks it.
    let documents = documents::load(files, f64::INFINITY).map_err(nothing_applied)?;
    let mut problems = Vec::new();
    let mut outcomes = Vec::new();
    for document in &documents {
        match client.dry_run(&document.tenant, options.force).await {
            Ok(dry_run) => outcomes.push(dry_run.outcome),
            Err(client::Error::Api(failure)) => problems.extend(locate(document, &failure)),
            Err(other) => return Err(other.into()),
        }
    }
    if !problems.is_empty() {
        return Err(nothing_applied(Problems(problems)));
    }
    if options.dry_run {
        for (document, outcome) in documents.iter().zip(&outcomes) {
            println!(
                "tenant/{} {} {}",
                document.name(),
                colour(paint, outcome),
                paint.dim("(dry run)")
            );
        }
        return Ok(());
    }
    let flags = WriteFlags {
        dry_run: false,
        force: options.force,
    };
    let mut applied: Vec<&str> = Vec::new();
    for (document, outcome) in documents.iter().zip(&outcomes) {
        match client.put(&document.tenant, flags).await {
            Ok((_, created)) => {
                let outcome = if created { "created" } else { outcome.as_str() };
                println!("tenant/{} {}", document.name(), colour(paint, outcome));
                applied.push(document.name());
            }
            Err(error) => {
                let problem = match &error {
                    client::Error::Api(failure) => locate(document, failure).join("\n  "),
                    other => other.to_string(),
                };
                let before = if applied.is_empty() {
                    "nothing was applied".to_owned()
                } else {
                    format!("applied before it: {}", applied.join(", "))
                };
                bail!("{problem}\n({before}; fix the problem and run again)");
            }
        }
    }
    if let Some(timeout) = options.wait {
        let names: Vec<String> = documents.iter().map(|d| d.name().to_owned()).collect();
        wait::until(client, &names, &Goal::Converged, timeout, true, paint).await?;
    }
    Ok(())
}

/// The error for input that was refused before anything was written.
pub fn nothing_applied(problems: Problems) -> anyhow::Error {
    let count = problems.0.len();
    anyhow::anyhow!(
        "nothing was applied; fix {} and run again:\n  {}",
        if count == 1 {
            "this problem".to_owned()
        } else {
            format!("these {count} problems")
        },
        problems.0.join("\n  ")
    )
}

/// The API's refusal as `file:line:column: field: message` lines, one per field error.
pub fn locate(document: &Document, failure: &ApiFailure) -> Vec<String> {
    if failure.details.is_empty() {
        let prefix = failure
            .field
            .as_deref()
            .map(|f| format!("{f}: "))
            .unwrap_or_default();
        return vec![format!(
            "{}: {prefix}{failure}",
            document.at(failure.field.as_deref())
        )];
    }
    failure
        .details
        .iter()
        .map(|d| {
            format!(
                "{}: {}: {}",
                document.at(Some(&d.field)),
                d.field,
                d.message
            )
        })
        .collect()
}

fn colour(paint: Paint, outcome: &str) -> String {
    match outcome {
        "created" => paint.green(outcome),
        "configured" => paint.yellow(outcome),
        _ => outcome.to_owned(),
    }
}
