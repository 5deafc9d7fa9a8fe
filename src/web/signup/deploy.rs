//! Steps 5 and 6: write the Tenant spec, show its progress live, and the success page.
//!
//! The wizard only writes the desired state (a Tenant owned by the user, through the same
//! validation as the API); the reconciler does the rest, and the progress is read back
//! from the tenant's status, as any client of the API would.
//!
//! # Guarantees
//! - The tenant is created, never replaced: two wizards racing for one subdomain get one
//!   tenant, and the loser is sent back to step 3 with free alternatives.
//! - The live stream (`/signup/deploy/events`) shows only the tenant of this wizard, to the
//!   user it belongs to, and ends when the server shuts down.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::Stream;
use serde::Deserialize;

use super::progress::{self, Progress, eta_words};
use super::steps::Visit;
use super::view::{DeployPage, DonePage, Frame, USES};
use super::wizard::Step;
use super::{PageError, go};
use crate::accounts::{CsrfToken, CurrentUser};
use crate::resource::{
    self, DatabaseSpec, DeletionPolicy, ObjectMeta, Tenant, TenantSpec, ValidationErrors,
};
use crate::store;
use crate::web::PortalState;

/// How many recent tenants the time estimate is taken from.
const ESTIMATE_FROM: i64 = 20;

/// Whether the wizard's tenant is Ready for its current generation.
pub async fn tenant_ready(state: &PortalState, name: &str) -> Result<bool, PageError> {
    let tenant = state.api.ctx.store.get(name).await?;
    Ok(tenant.is_some_and(|t| progress::progress(&t, &[], chrono::Utc::now()).ready))
}

async fn progress_of(state: &PortalState, name: &str) -> Result<Option<Progress>, PageError> {
    let store = &state.api.ctx.store;
    let Some(tenant) = store.get(name).await? else {
        return Ok(None);
    };
    let recent = store.recent_provisioning_seconds(ESTIMATE_FROM).await?;
    Ok(Some(progress::progress(
        &tenant,
        &recent,
        chrono::Utc::now(),
    )))
}

fn use_label(value: Option<&str>) -> String {
    USES.iter()
        .find(|(v, _, _)| Some(*v) == value)
        .map_or("", |(_, label, _)| label)
        .to_owned()
}

async fn deploy_page(
    state: &PortalState,
    visit: &Visit,
    csrf: String,
) -> Result<DeployPage, PageError> {
    let record = &visit.wizard.record;
    let subdomain = record
        .tenant_name
        .clone()
        .or(record.subdomain.clone())
        .unwrap_or_default();
    let progress = match &record.tenant_name {
        Some(name) => progress_of(state, name).await?,
        None => None,
    };
    Ok(DeployPage {
        frame: Frame::new(&visit.gate, Step::Deploy, csrf),
        chrome: visit.chrome(),
        url: format!(
            "{}://{subdomain}.{}",
            state.site.public_scheme, state.site.base_domain
        ),
        subdomain,
        intended_use: use_label(record.intended_use.as_deref()),
        eta: progress.as_ref().and_then(|p| p.eta_seconds).map(eta_words),
        progress,
        form_error: None,
    })
}

/// `GET /signup/deploy`: the summary and the deploy button, or the live progress.
pub async fn deploy(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visit = match Visit::of(&state, &headers, login, true).await? {
        Some(visit) => visit,
        None => return Err(PageError::Expired),
    };
    if let Some(to) = visit.gate.redirect_for(Step::Deploy) {
        return Ok(go(visit.cookie, to));
    }
    let page = deploy_page(&state, &visit, visit.csrf(&csrf)).await?;
    Ok((visit.cookie, page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// The Tenant the wizard writes for `user`.
pub fn tenant_for(subdomain: &str, owner: uuid::Uuid, intended_use: Option<&str>) -> Tenant {
    let mut labels = BTreeMap::from([("origin".to_owned(), "signup".to_owned())]);
    if let Some(intended_use) = intended_use {
        labels.insert("intended-use".into(), intended_use.to_owned());
    }
    Tenant {
        api_version: resource::API_VERSION.into(),
        kind: resource::KIND.into(),
        metadata: ObjectMeta {
            name: subdomain.to_owned(),
            labels,
            owner: Some(owner.to_string()),
            ..ObjectMeta::default()
        },
        spec: TenantSpec {
            // A customer's study data is backed up before a delete drops it.
            database: DatabaseSpec {
                deletion_policy: DeletionPolicy::BackupThenDelete,
            },
            ..TenantSpec::default()
        },
        status: None,
    }
}

/// `POST /signup/deploy`: writes the Tenant spec (create only) and shows its progress.
pub async fn start_deploy(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: CsrfToken,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let visit =
        match Visit::for_post(&state, &headers, login, form.csrf.as_deref(), Step::Deploy).await? {
            Ok(visit) => visit,
            Err(redirect) => return Ok(redirect),
        };
    let record = &visit.wizard.record;
    let (Some(session), Some(subdomain)) = (&visit.login, &record.subdomain) else {
        return Ok(go(visit.cookie, visit.gate.current()));
    };
    if record.tenant_name.is_some() {
        return Ok(go(visit.cookie, Step::Deploy));
    }
    let tenant = tenant_for(subdomain, session.user.id, record.intended_use.as_deref());
    let store = &state.api.ctx.store;
    if let Err(errors) = resource::validate(&tenant, state.api.host_cpus) {
        let page = DeployPage {
            form_error: Some(validation_words(&errors)),
            ..deploy_page(&state, &visit, visit.csrf(&csrf)).await?
        };
        return Ok((visit.cookie, page).into_response());
    }
    match store.create(&tenant).await {
        Ok(_) => {}
        Err(store::Error::NameTaken { .. } | store::Error::SubdomainTaken { .. }) => {
            // Lost the race (or it was taken since step 3): choose again, with suggestions.
            store.clear_signup_subdomain(&visit.wizard.id).await?;
            let back = format!("{}?taken={subdomain}", Step::Subdomain.path());
            return Ok((visit.cookie, Redirect::to(&back)).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    store.set_signup_tenant(&visit.wizard.id, subdomain).await?;
    tracing::info!(tenant = %subdomain, user = %session.user.id, "signup: tenant requested");
    Ok(go(visit.cookie, Step::Deploy))
}

fn validation_words(errors: &ValidationErrors) -> String {
    let details: Vec<String> = errors
        .0
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    format!(
        "Your server could not be requested ({}). Contact support.",
        details.join("; ")
    )
}

/// `POST /signup/deploy/retry`: asks the reconciler to start the tenant's container again
/// (a restart, through the spec like the API's restart verb).
pub async fn retry(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let visit =
        match Visit::for_post(&state, &headers, login, form.csrf.as_deref(), Step::Deploy).await? {
            Ok(visit) => visit,
            Err(redirect) => return Ok(redirect),
        };
    if let (Some(name), Some(session)) = (&visit.wizard.record.tenant_name, &visit.login) {
        let principal = crate::api::auth::Principal::of_session(session);
        crate::api::tenants::restart(&state.api, &principal, name).await?;
    }
    Ok(go(visit.cookie, Step::Deploy))
}

/// `GET /signup/deploy/events`: the progress as server-sent events (`event: progress`, the
/// [`Progress`] as JSON plus `eta` in words), sent when the tenant changes and every few
/// seconds for the estimate; the stream ends once the tenant is Ready.
pub async fn events(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let visit = Visit::of(&state, &headers, login, false)
        .await?
        .ok_or(PageError::Expired)?;
    let name = match (&visit.wizard.record.tenant_name, visit.gate.account) {
        (Some(name), true) => name.clone(),
        _ => return Err(PageError::NotFound),
    };
    let mut changes = state.api.changes.clone();
    let mut shutdown = state.api.shutdown.clone();
    let stream = async_stream(move |tx| async move {
        let mut last: Option<String> = None;
        loop {
            let progress = match progress_of(&state, &name).await {
                Ok(Some(progress)) => progress,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "signup progress stream: reading the tenant failed");
                    return;
                }
            };
            let mut json = serde_json::to_value(&progress).expect("progress serializes");
            json["eta"] = progress.eta_seconds.map(eta_words).into();
            let text = json.to_string();
            if last.as_ref() != Some(&text) {
                if tx
                    .send(Event::default().event("progress").data(&text))
                    .await
                    .is_err()
                {
                    return;
                }
                last = Some(text);
            }
            if progress.ready {
                return;
            }
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => return,
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A stream fed by a task through a channel (the task ends when the client goes away).
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(produce(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}

/// `GET /signup/done`: step 6, once the tenant is Ready.
pub async fn done(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visit = Visit::of(&state, &headers, login, true)
        .await?
        .ok_or(PageError::Expired)?;
    if let Some(to) = visit.gate.redirect_for(Step::Done) {
        return Ok(go(visit.cookie, to));
    }
    let name = visit.wizard.record.tenant_name.clone().unwrap_or_default();
    let url = progress_of(&state, &name)
        .await?
        .and_then(|p| p.url)
        .unwrap_or_else(|| {
            format!(
                "{}://{name}.{}",
                state.site.public_scheme, state.site.base_domain
            )
        });
    let page = DonePage {
        frame: Frame::new(&visit.gate, Step::Done, visit.csrf(&csrf)),
        chrome: visit.chrome(),
        name,
        url,
    };
    Ok((visit.cookie, page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wizard_writes_a_valid_tenant_owned_by_the_user_that_backs_up_before_delete() {
        let owner = uuid::Uuid::new_v4();
        let tenant = tenant_for("acme-lab", owner, Some("study"));
        resource::validate(&tenant, 2.0).expect("the wizard's tenant is valid");
        assert_eq!(tenant.metadata.owner, Some(owner.to_string()));
        assert_eq!(tenant.metadata.labels["intended-use"], "study");
        assert_eq!(
            tenant.spec.database.deletion_policy,
            DeletionPolicy::BackupThenDelete
        );
        assert_eq!(tenant.spec.subdomain_or(&tenant.metadata.name), "acme-lab");
    }
}
