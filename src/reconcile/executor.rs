//! Runs one planned action against Docker, Postgres or the store, and logs it as an event.
//!
//! # Guarantees
//! - Every action is idempotent: running it twice, or after a crash half-way, is safe.
//! - A failure comes back as a [`Failure`] in plain words and is logged as a Warning event;
//!   nothing panics on engine or database refusals.

use super::Context;
use super::plan::{Action, Desired, RemoveReason};
use super::status::Failure;
use crate::resource::{ImagePullPolicy, Tenant};
use crate::store::{Credentials, EventOutcome};
use crate::tenantdb;

/// One reconcile's execution context for one tenant.
pub struct Step<'a> {
    pub ctx: &'a Context,
    pub tenant: &'a Tenant,
    pub uid: &'a str,
    pub desired: &'a Desired,
    /// Updated in place when credentials are generated.
    pub credentials: &'a mut Option<Credentials>,
}

impl Step<'_> {
    pub async fn run(&mut self, action: &Action) -> Result<(), Failure> {
        let name = &self.tenant.metadata.name;
        tracing::info!(tenant = %name, action = action.name(), "executing");
        let result = self.execute(action).await;
        let (outcome, reason, message) = match &result {
            Ok(message) => (EventOutcome::Normal, action.name(), message.clone()),
            Err(failure) => (
                EventOutcome::Warning,
                failure.reason,
                failure.message.clone(),
            ),
        };
        if let Err(e) = &result {
            tracing::warn!(tenant = %name, action = action.name(), reason = e.reason, message = %e.message, "step failed");
        }
        // The log is best effort: a failed event write must not fail the step it describes.
        if let Err(e) = self
            .ctx
            .store
            .record_event(name, self.uid, action.name(), outcome, reason, &message)
            .await
        {
            tracing::warn!(tenant = %name, error = %e, "could not record an event");
        }
        result.map(|_| ())
    }

    /// Does the work; returns the event message on success.
    async fn execute(&mut self, action: &Action) -> Result<String, Failure> {
        let ctx = self.ctx;
        let uid = self.uid;
        let name = &self.tenant.metadata.name;
        match action {
            Action::GenerateCredentials => {
                let password = tenantdb::generate_password();
                let candidate = Credentials {
                    verifier: tenantdb::scram_verifier(&password),
                    password,
                };
                let stored = ctx
                    .store
                    .ensure_credentials(uid, &candidate)
                    .await
                    .map_err(|e| db_failure(action, "CredentialsFailed", e))?;
                *self.credentials = Some(stored);
                Ok("generated the database password".into())
            }
            Action::CreateRole => {
                let verifier = self.verifier(action)?;
                ctx.tenantdb
                    .create_role(uid, &verifier)
                    .await
                    .map_err(|e| db_failure(action, "RoleFailed", e))?;
                self.refresh_database(action).await?;
                Ok(format!(
                    "created database role {}",
                    tenantdb::role_name(uid).unwrap_or_default()
                ))
            }
            Action::SetRolePassword => {
                let verifier = self.verifier(action)?;
                ctx.tenantdb
                    .set_password(uid, &verifier)
                    .await
                    .map_err(|e| db_failure(action, "RoleFailed", e))?;
                self.refresh_database(action).await?;
                Ok("restored the role's password, which was changed outside tenantd".into())
            }
            Action::CreateSchema => {
                ctx.tenantdb
                    .create_schema(uid)
                    .await
                    .map_err(|e| db_failure(action, "SchemaFailed", e))?;
                self.refresh_database(action).await?;
                Ok(format!(
                    "created schema {}",
                    tenantdb::schema_name(uid).unwrap_or_default()
                ))
            }
            Action::EnsureNetwork => {
                let network = ctx
                    .engine
                    .ensure_network()
                    .await
                    .map_err(|e| container_failure(action, "NetworkFailed", e))?;
                Ok(format!("network {} is present", network.name))
            }
            Action::PullImage => {
                self.pull().await?;
                Ok(format!("pulled image {}", self.desired.image))
            }
            Action::CreateContainer { start } => {
                if self.desired.pull_policy == ImagePullPolicy::Always {
                    self.pull().await?;
                }
                let container = self.desired.container.as_ref().ok_or_else(|| Failure {
                    action: action.name(),
                    reason: "NotComputable",
                    message: "the container cannot be computed yet".into(),
                    database: false,
                })?;
                let id = match ctx.engine.create_container(container).await {
                    Ok(id) => id,
                    // The cache missed a container of ours; it is refreshed now and the next
                    // round plans against the truth.
                    Err(crate::engine::Error::CacheBehind { name }) => {
                        return Ok(format!("found existing container {name}; planning again"));
                    }
                    Err(e @ crate::engine::Error::NameTaken { .. }) => {
                        return Err(container_failure(action, "NameTaken", e));
                    }
                    Err(e) => return Err(container_failure(action, "CreateFailed", e)),
                };
                if *start {
                    ctx.engine
                        .start_container(&id)
                        .await
                        .map_err(|e| container_failure(action, "StartFailed", e))?;
                }
                Ok(format!(
                    "created container {} ({})",
                    container.name,
                    short(&id)
                ))
            }
            Action::StartContainer { id } => {
                ctx.engine
                    .start_container(id)
                    .await
                    .map_err(|e| container_failure(action, "StartFailed", e))?;
                Ok(format!("started container {}", short(id)))
            }
            Action::StopContainer { id } => {
                ctx.engine
                    .stop_container(id, ctx.platform.stop_grace_period)
                    .await
                    .map_err(|e| container_failure(action, "StopFailed", e))?;
                Ok(format!("stopped container {}", short(id)))
            }
            Action::ConnectNetwork { id } => {
                let alias = crate::engine::DesiredContainer::name_for(name);
                ctx.engine
                    .connect_network(id, &alias)
                    .await
                    .map_err(|e| container_failure(action, "NetworkFailed", e))?;
                Ok(format!(
                    "reconnected container {} to network {}",
                    short(id),
                    ctx.engine.network_name()
                ))
            }
            Action::RemoveContainer { id, reason } => {
                ctx.engine
                    .remove_container(id)
                    .await
                    .map_err(|e| container_failure(action, "RemoveFailed", e))?;
                let why = match reason {
                    RemoveReason::Outdated => "it no longer matches the spec",
                    RemoveReason::Stray => "it belongs to an earlier incarnation or is a copy",
                    RemoveReason::Dead => "Docker marked it dead",
                    RemoveReason::Teardown => "the tenant is being deleted",
                };
                Ok(format!("removed container {} because {why}", short(id)))
            }
            Action::BackupDatabase => {
                let path = ctx
                    .tenantdb
                    .backup(uid, name)
                    .await
                    .map_err(|e| db_failure(action, "BackupFailed", e))?;
                Ok(format!("backed up the schema to {}", path.display()))
            }
            Action::DropDatabase => {
                ctx.tenantdb
                    .drop_tenant(uid)
                    .await
                    .map_err(|e| db_failure(action, "DropFailed", e))?;
                self.refresh_database(action).await?;
                Ok("dropped the schema, its objects and the role".into())
            }
            Action::Finalize => {
                // The event log has no foreign key, so this step's event outlives the row.
                ctx.store
                    .finalize(name, uid)
                    .await
                    .map_err(|e| db_failure(action, "FinalizeFailed", e))?;
                Ok("teardown complete; the tenant is gone".into())
            }
        }
    }

    fn verifier(&self, action: &Action) -> Result<String, Failure> {
        self.credentials
            .as_ref()
            .map(|c| c.verifier.clone())
            .ok_or_else(|| Failure {
                action: action.name(),
                reason: "CredentialsPending",
                message: "the database password is not generated yet".into(),
                database: true,
            })
    }

    async fn pull(&self) -> Result<(), Failure> {
        self.ctx
            .engine
            .pull_image(&self.desired.image)
            .await
            .map_err(|e| container_failure(&Action::PullImage, "ImagePullFailed", e))
    }

    async fn refresh_database(&self, action: &Action) -> Result<(), Failure> {
        self.ctx
            .database
            .refresh(&self.ctx.tenantdb)
            .await
            .map(|_| ())
            .map_err(|e| db_failure(action, "ObserveFailed", e))
    }
}

fn db_failure(action: &Action, reason: &'static str, error: impl std::fmt::Display) -> Failure {
    Failure {
        action: action.name(),
        reason,
        message: error.to_string(),
        database: true,
    }
}

fn container_failure(
    action: &Action,
    reason: &'static str,
    error: impl std::fmt::Display,
) -> Failure {
    Failure {
        action: action.name(),
        reason,
        message: error.to_string(),
        database: false,
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
