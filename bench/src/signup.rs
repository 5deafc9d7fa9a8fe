//! Scenario 7, signup to Ready: the web wizard driven over HTTP against the in-process app,
//! the way a visitor's browser would (cookies, the CSRF token each page carries), timed from
//! sending step 5's deploy request until the new tenant is `Ready` for its generation.
//!
//! # Guarantees
//! - Steps 1–4 (account, intended use, subdomain, terms) are walked as
//!   `reconciler-tests/signup.rs` walks them, each page fetched before its form is posted;
//!   any answer other than the expected redirect fails the scenario with the page's text.
//! - Only the deploy request and what follows are timed; the account's password hashing and
//!   the other steps are not.
//! - The wizard's tenant names no image, limits or health check: it gets the platform's
//!   defaults, which the harness sets to the workload's (see `contenders::tenantd`), and the
//!   image is on the engine, so nothing is pulled. [`check_alike`] proves it on the engine:
//!   its container's image, limits and health check equal those of a harness tenant.
//!
//! # Caveats
//! - The wizard's tenant has no `GREETING` variable (the form has no environment), the only
//!   difference from the other scenarios' tenants; it does not change what the engine does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use bollard::query_parameters::ListContainersOptions;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use tenantd::engine::labels;
use tenantd::resource::Phase;
use tenantd::store::Store;

/// How often the store is read while waiting for Ready.
const POLL: Duration = Duration::from_millis(25);

/// A password that passes the account rules.
const PASSWORD: &str = "Correct-Horse-42";

/// One visitor: a cookie jar, no redirects followed, the CSRF token of the last page.
struct Visitor {
    base: String,
    http: reqwest::Client,
    csrf: Option<String>,
}

impl Visitor {
    fn new(base: &str) -> anyhow::Result<Visitor> {
        Ok(Visitor {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .context("building an HTTP client")?,
            csrf: None,
        })
    }

    /// GETs a page that must answer 200, and keeps its CSRF token.
    async fn page(&mut self, path: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .with_context(|| format!("GET {path}"))?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "GET {path} answered {status}: {}",
            excerpt(&body)
        );
        if let Some(token) = hidden_value(&body, "csrf") {
            self.csrf = Some(token);
        }
        Ok(())
    }

    /// POSTs a form with the page's CSRF token; it must redirect (303) to `expected`.
    async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        expected: &str,
    ) -> anyhow::Result<()> {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = &self.csrf {
            form.push(("csrf", token));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        anyhow::ensure!(
            status == StatusCode::SEE_OTHER && location.as_deref() == Some(expected),
            "POST {path} answered {status} to {location:?}, not 303 to {expected}: {}",
            excerpt(&body)
        );
        Ok(())
    }
}

/// The value of the hidden input `name` in a page (`<input type="hidden" name="…" value="…">`,
/// the askama templates' spelling), if there is one.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

/// Signs up with `email` for `subdomain` through the wizard at `base`, then times the deploy
/// request until the tenant `subdomain` is Ready (read from `store`), at most `timeout`.
pub async fn sign_up(
    base: &str,
    store: &Store,
    email: &str,
    subdomain: &str,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let mut visitor = Visitor::new(base)?;
    visitor.page("/signup/account").await?;
    visitor
        .post(
            "/signup/account",
            &[
                ("email", email),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
            "/signup/use",
        )
        .await?;
    visitor.page("/signup/use").await?;
    visitor
        .post(
            "/signup/use",
            &[("intended_use", "study")],
            "/signup/subdomain",
        )
        .await?;
    visitor.page("/signup/subdomain").await?;
    visitor
        .post(
            "/signup/subdomain",
            &[("subdomain", subdomain)],
            "/signup/terms",
        )
        .await?;
    visitor.page("/signup/terms").await?;
    visitor
        .post("/signup/terms", &[("accept", "yes")], "/signup/deploy")
        .await?;
    visitor.page("/signup/deploy").await?;

    let started = Instant::now();
    visitor
        .post("/signup/deploy", &[], "/signup/deploy")
        .await?;
    loop {
        let tenant = store
            .get(subdomain)
            .await
            .context("reading the wizard's tenant")?
            .context("the deploy request wrote no tenant")?;
        let ready = tenant.status.as_ref().is_some_and(|s| {
            s.phase == Phase::Ready && Some(s.observed_generation) == tenant.metadata.generation
        });
        if ready {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "the wizard's tenant {subdomain} was not Ready after {:?} (phase {:?})",
            started.elapsed(),
            tenant.status.map(|s| s.phase)
        );
        tokio::time::sleep(POLL).await;
    }
}

/// What makes two tenant containers run alike: the image and the limits and health check
/// the engine was given.
#[derive(Debug, PartialEq)]
struct Runs {
    image: Option<String>,
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    pids_limit: Option<i64>,
    healthcheck: Option<bollard::models::HealthConfig>,
}

async fn runs_of(docker: &Docker, instance: &str, tenant: &str) -> anyhow::Result<Runs> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}={instance}", labels::INSTANCE),
                format!("{}={tenant}", labels::TENANT),
            ],
        )])),
        ..Default::default()
    };
    let containers = docker
        .list_containers(Some(options))
        .await
        .with_context(|| format!("listing the containers of tenant {tenant}"))?;
    let id = containers
        .first()
        .and_then(|c| c.id.clone())
        .with_context(|| format!("tenant {tenant} has no container"))?;
    let inspected = docker
        .inspect_container(&id, None)
        .await
        .with_context(|| format!("inspecting the container of tenant {tenant}"))?;
    let config = inspected.config.unwrap_or_default();
    let host = inspected.host_config.unwrap_or_default();
    Ok(Runs {
        image: config.image,
        memory: host.memory,
        nano_cpus: host.nano_cpus,
        pids_limit: host.pids_limit,
        healthcheck: config.healthcheck,
    })
}

/// Fails unless the wizard's tenant `signed_up` runs the same image with the same limits and
/// health check as the harness's own tenant `reference`, so that their times compare.
pub async fn check_alike(
    docker: &Docker,
    instance: &str,
    signed_up: &str,
    reference: &str,
) -> anyhow::Result<()> {
    let wizard = runs_of(docker, instance, signed_up).await?;
    let harness = runs_of(docker, instance, reference).await?;
    anyhow::ensure!(
        wizard == harness,
        "the wizard's tenant {signed_up} does not run like {reference}: {wizard:?} vs {harness:?}"
    );
    Ok(())
}

/// The subdomains (and tenant names) of an attempt's signups: `<prefix>-w<i>`, unique per
/// attempt because the prefix is, and valid because the prefix is a valid name.
pub fn subdomains(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-w{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_read_from_the_hidden_field() {
        let page = r#"<form method="post"><input type="hidden" name="csrf" value="ab12cd">
            <input type="hidden" name="other" value="x"></form>"#;
        assert_eq!(hidden_value(page, "csrf").as_deref(), Some("ab12cd"));
        assert_eq!(hidden_value(page, "other").as_deref(), Some("x"));
        assert_eq!(hidden_value(page, "missing"), None);
        assert_eq!(
            hidden_value(r#"name="csrf" value="unterminated"#, "csrf"),
            None
        );
    }

    #[test]
    fn signup_subdomains_are_valid_distinct_tenant_names() {
        let names = subdomains("b1a2b3c4d-2", 3);
        assert_eq!(
            names,
            ["b1a2b3c4d-2-w0", "b1a2b3c4d-2-w1", "b1a2b3c4d-2-w2"]
        );
        for name in &names {
            let tenant: tenantd::resource::Tenant = serde_json::from_value(serde_json::json!({
                "apiVersion": "tenantd/v1", "kind": "Tenant",
                "metadata": {"name": name}, "spec": {}
            }))
            .unwrap();
            tenantd::resource::validate(&tenant, 2.0).unwrap();
        }
    }
}
