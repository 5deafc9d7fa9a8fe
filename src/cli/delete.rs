//! `tenantd delete NAME… | -f FILE`: ask for deletion; the reconciler tears each tenant down
//! per its `spec.database.deletionPolicy`, then it disappears.
//!
//! # Guarantees
//! - With `-f`, every file is read and validated before anything is deleted.

use std::path::PathBuf;
use std::time::Duration;

use super::client::{Client, WriteFlags};
use super::documents;
use super::output::Paint;
use super::wait::{self, Goal};

/// How to delete.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Wait this long for every tenant to be gone, showing progress.
    pub wait: Option<Duration>,
    /// Delete tenants owned by the specs/ directory too.
    pub force: bool,
}

pub async fn run(
    client: &Client,
    names: &[String],
    files: &[PathBuf],
    options: &Options,
) -> anyhow::Result<()> {
    let paint = Paint::stdout();
    let names: Vec<String> = if files.is_empty() {
        names.to_vec()
    } else {
        documents::load(files, f64::INFINITY)
            .map_err(|problems| {
                anyhow::anyhow!(
                    "nothing was deleted; fix the files and run again:\n  {}",
                    problems.0.join("\n  ")
                )
            })?
            .iter()
            .map(|d| d.name().to_owned())
            .collect()
    };
    let flags = WriteFlags {
        dry_run: false,
        force: options.force,
    };
    for name in &names {
        let tenant = client.delete(name, flags).await?;
        println!(
            "tenant/{name} {} {}",
            paint.red("deletion requested"),
            paint.dim(&format!(
                "(deletionPolicy {:?})",
                tenant.spec.database.deletion_policy
            ))
        );
    }
    if let Some(timeout) = options.wait {
        wait::until(client, &names, &Goal::Deleted, timeout, false, paint).await?;
    }
    Ok(())
}
