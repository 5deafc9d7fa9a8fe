//! Steps 1 to 4 of the wizard: account, intended use, subdomain, terms. Each step is a GET
//! (the form) and a POST (validate, record, 303 to the next step), so every step works
//! without JavaScript; `app.js` adds the live subdomain check and the password meter.
//!
//! # Guarantees
//! - Every POST checks the CSRF token first; a missing or forged token is a 403 and
//!   changes nothing.
//! - Invalid input re-renders the step with the message next to the field and records
//!   nothing.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session::{self, WizardCookie, WizardSession};
use super::subdomain::{self, Verdict};
use super::terms::TERMS;
use super::view::{AccountPage, Frame, SubdomainPage, TermsPage, USES, UsePage};
use super::wizard::{Step, Wizard};
use super::{PageError, go};
use crate::accounts::{self, Client, CurrentUser, Session};
use crate::web::PortalState;
use crate::web::chrome::Chrome;

/// The wizard as one request sees it: the session, its cookie, the gating and the login.
pub struct Visit {
    pub wizard: WizardSession,
    pub cookie: WizardCookie,
    pub gate: Wizard,
    pub login: Option<Session>,
}

impl Visit {
    /// The wizard of this request. `start`: begin a new wizard when there is none (GETs);
    /// otherwise `None` (a POST after the hour ran out).
    pub async fn of(
        state: &PortalState,
        headers: &HeaderMap,
        login: Option<Session>,
        start: bool,
    ) -> Result<Option<Visit>, PageError> {
        let accounts = &state.site.accounts;
        let user = login.as_ref().map(|s| s.user.id);
        let found = if start {
            Some(session::current_or_start(accounts, headers, user).await?)
        } else {
            session::current(accounts, headers).await?
        };
        let Some((mut wizard, cookie)) = found else {
            return Ok(None);
        };
        // A logged-in visitor has done step 1; a different user than before starts over.
        if let Some(user) = user
            && wizard.record.user_id != Some(user)
            && wizard.record.tenant_name.is_none()
        {
            let store = accounts.store();
            store.set_signup_user(&wizard.id, user).await?;
            wizard.record = store
                .signup_session(&wizard.id)
                .await?
                .ok_or(PageError::Expired)?;
        }
        let ready = match &wizard.record.tenant_name {
            Some(name) => super::deploy::tenant_ready(state, name).await?,
            None => false,
        };
        let gate = Wizard::of(&wizard.record, user, ready);
        Ok(Some(Visit {
            wizard,
            cookie,
            gate,
            login,
        }))
    }

    /// The visit for a POST of `step`: refused (expired page or redirect) unless the step
    /// may be shown; the CSRF token must match.
    pub async fn for_post(
        state: &PortalState,
        headers: &HeaderMap,
        login: Option<Session>,
        csrf: Option<&str>,
        step: Step,
    ) -> Result<Result<Visit, Response>, PageError> {
        state
            .site
            .accounts
            .verify_csrf(login.as_ref(), headers, csrf)?;
        let Some(visit) = Visit::of(state, headers, login, false).await? else {
            return Err(PageError::Expired);
        };
        Ok(match visit.gate.redirect_for(step) {
            Some(to) => Err(go(visit.cookie, to)),
            None => Ok(visit),
        })
    }

    pub fn chrome(&self) -> Chrome {
        match &self.login {
            Some(session) => Chrome::of_session(session, "signup"),
            None => Chrome::anonymous("signup"),
        }
    }

    /// The CSRF token forms render: the login session's, else the anonymous cookie's.
    pub fn csrf(&self, anonymous: &accounts::CsrfToken) -> String {
        self.login
            .as_ref()
            .map_or_else(|| anonymous.token().to_owned(), |s| s.csrf_token.clone())
    }
}

/// `GET /signup`: continue where the wizard stands.
pub async fn resume(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visit = Visit::of(&state, &headers, login, true)
        .await?
        .ok_or(PageError::Expired)?;
    Ok(go(visit.cookie, visit.gate.current()))
}

/// Shows `step`'s page, or redirects when the step may not be shown yet.
async fn show(
    state: &PortalState,
    headers: &HeaderMap,
    login: Option<Session>,
    step: Step,
) -> Result<Result<Visit, Response>, PageError> {
    let visit = Visit::of(state, headers, login, true)
        .await?
        .ok_or(PageError::Expired)?;
    Ok(match visit.gate.redirect_for(step) {
        Some(to) => Err(go(visit.cookie, to)),
        None => Ok(visit),
    })
}

// ---- step 1: account -------------------------------------------------------------------

fn account_page(visit: &Visit, csrf: String) -> AccountPage {
    AccountPage {
        frame: Frame::new(&visit.gate, Step::Account, csrf),
        chrome: visit.chrome(),
        logged_in_as: visit.login.as_ref().map(|s| s.user.email.clone()),
        email: String::new(),
        form_error: None,
        email_error: None,
        password_error: None,
        confirm_error: None,
        offer_login: false,
    }
}

pub async fn account(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visit = match show(&state, &headers, login, Step::Account).await? {
        Ok(visit) => visit,
        Err(redirect) => return Ok(redirect),
    };
    let page = account_page(&visit, visit.csrf(&csrf));
    Ok((visit.cookie, csrf.cookie(), page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    pub csrf: Option<String>,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub confirm_password: String,
}

pub async fn save_account(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    let visit = match Visit::for_post(&state, &headers, login, form.csrf.as_deref(), Step::Account)
        .await?
    {
        Ok(visit) => visit,
        Err(redirect) => return Ok(redirect),
    };
    if visit.login.is_some() {
        // Logged in already (the page offered "continue"): step 1 is done.
        return Ok(go(visit.cookie, visit.gate.current().max(Step::Use)));
    }
    let mut page = AccountPage {
        email: form.email.trim().to_owned(),
        ..account_page(&visit, visit.csrf(&csrf))
    };
    let accounts = &state.site.accounts;
    if form.password != form.confirm_password {
        page.confirm_error = Some("Does not match the password above. Type it again.".into());
    }
    // The rules are checked (and reported) even when the confirmation already failed.
    let rules = accounts::email::normalize(&form.email, "email").err();
    let weak = accounts::password::check(&form.password, &form.email, "password").err();
    if rules.is_some() || weak.is_some() || page.confirm_error.is_some() {
        page.email_error = rules.map(|e| sentence(&e.message));
        page.password_error = weak.map(|e| password_words(&e));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, visit.cookie, page).into_response());
    }
    let registered = accounts
        .register(&form.email, &form.password, &client)
        .await;
    let user = match registered {
        Ok(user) => user,
        Err(accounts::Error::EmailTaken) => {
            page.email_error = Some(
                "An account with this email already exists. Log in to continue with it.".into(),
            );
            page.offer_login = true;
            return Ok((StatusCode::CONFLICT, visit.cookie, page).into_response());
        }
        Err(accounts::Error::Invalid(errors)) => {
            for e in &errors.0 {
                let slot = if e.field == "email" {
                    &mut page.email_error
                } else {
                    &mut page.password_error
                };
                *slot = Some(sentence(&e.message));
            }
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, visit.cookie, page).into_response());
        }
        Err(e @ accounts::Error::RateLimited { .. }) => {
            page.form_error = Some(sentence(&e.to_string()));
            return Ok((StatusCode::TOO_MANY_REQUESTS, visit.cookie, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    // The account exists whatever happens to the mail: a failure is logged, and the user can
    // resend the link from the settings page.
    if let Err(error) = accounts.start_email_verification(&user).await {
        tracing::warn!(user = %user.id, %error, "signup: the verification mail was not sent");
    }
    let (_, login_cookie) = accounts
        .login(&form.email, &form.password, false, &client)
        .await?;
    accounts
        .store()
        .set_signup_user(&visit.wizard.id, user.id)
        .await?;
    Ok((login_cookie, go(visit.cookie, Step::Use)).into_response())
}

/// A validation message as a sentence: capitalised, with a full stop (also used by the
/// settings page).
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The password rules that failed, as one sentence about "the password" (also used by the
/// settings page).
pub fn password_words(errors: &crate::resource::ValidationErrors) -> String {
    let parts: Vec<&str> = errors.0.iter().map(|e| e.message.as_str()).collect();
    sentence(&format!("The password {}", parts.join("; it must also ")))
        .replace("The password mix", "Mix")
}

// ---- step 2: intended use --------------------------------------------------------------

fn use_page(state: &PortalState, visit: &Visit, csrf: String) -> UsePage {
    let record = &visit.wizard.record;
    UsePage {
        frame: Frame::new(&visit.gate, Step::Use, csrf),
        chrome: visit.chrome(),
        choice: record.intended_use.clone().unwrap_or_default(),
        other: record.intended_use_other.clone().unwrap_or_default(),
        choice_error: None,
        other_error: None,
        suggest_sandbox: false,
        sandbox_url: state.site.sandbox_url.to_string(),
    }
}

pub async fn intended_use(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visit = match show(&state, &headers, login, Step::Use).await? {
        Ok(visit) => visit,
        Err(redirect) => return Ok(redirect),
    };
    let page = use_page(&state, &visit, visit.csrf(&csrf));
    Ok((visit.cookie, page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct UseForm {
    pub csrf: Option<String>,
    pub intended_use: Option<String>,
    pub other: Option<String>,
    /// Set by "Continue anyway" after the sandbox was suggested.
    pub confirm_sandbox: Option<String>,
}

/// The longest "other" answer.
const MAX_OTHER: usize = 200;

pub async fn save_intended_use(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
    Form(form): Form<UseForm>,
) -> Result<Response, PageError> {
    let visit =
        match Visit::for_post(&state, &headers, login, form.csrf.as_deref(), Step::Use).await? {
            Ok(visit) => visit,
            Err(redirect) => return Ok(redirect),
        };
    let choice = form.intended_use.as_deref().unwrap_or_default();
    let other = form.other.as_deref().unwrap_or_default().trim();
    let mut page = UsePage {
        choice: choice.to_owned(),
        other: other.to_owned(),
        ..use_page(&state, &visit, visit.csrf(&csrf))
    };
    if !USES.iter().any(|(value, _, _)| *value == choice) {
        page.choice_error = Some("Choose what you will use the server for.".into());
    } else if choice == "other" {
        if other.is_empty() {
            page.other_error = Some("Tell us in a few words what you will use it for.".into());
        } else if other.chars().count() > MAX_OTHER {
            page.other_error = Some(format!("Keep it to {MAX_OTHER} characters or fewer."));
        } else if other.chars().any(char::is_control) {
            page.other_error = Some("Write it on one line, without control characters.".into());
        }
    }
    if page.choice_error.is_some() || page.other_error.is_some() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, visit.cookie, page).into_response());
    }
    let sandbox_fits = matches!(choice, "testing" | "learning");
    if sandbox_fits && form.confirm_sandbox.as_deref() != Some("yes") {
        page.suggest_sandbox = true;
        return Ok((visit.cookie, page).into_response());
    }
    let other = (choice == "other").then_some(other);
    state
        .site
        .accounts
        .store()
        .set_signup_use(&visit.wizard.id, choice, other)
        .await?;
    Ok(go(visit.cookie, Step::Subdomain))
}

// ---- step 3: subdomain -----------------------------------------------------------------

fn subdomain_page(state: &PortalState, visit: &Visit, csrf: String) -> SubdomainPage {
    SubdomainPage {
        frame: Frame::new(&visit.gate, Step::Subdomain, csrf),
        chrome: visit.chrome(),
        value: visit.wizard.record.subdomain.clone().unwrap_or_default(),
        verdict: None,
        scheme: state.site.public_scheme.to_string(),
        base_domain: state.site.base_domain.to_string(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SubdomainQuery {
    /// Set when step 5 lost a race for this subdomain: show it as taken, with suggestions.
    pub taken: Option<String>,
}

pub async fn choose_subdomain(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
    Query(query): Query<SubdomainQuery>,
) -> Result<Response, PageError> {
    let visit = match show(&state, &headers, login, Step::Subdomain).await? {
        Ok(visit) => visit,
        Err(redirect) => return Ok(redirect),
    };
    let mut page = subdomain_page(&state, &visit, visit.csrf(&csrf));
    if let Some(taken) = query.taken.filter(|t| subdomain::check_rules(t).is_ok()) {
        let verdict = check(&state, &taken).await?;
        page.value = taken;
        page.verdict = Some(Verdict {
            message: format!(
                "Someone took {} a moment ago. Choose another address; these are free:",
                page.value
            ),
            ..verdict
        });
    }
    Ok((visit.cookie, page).into_response())
}

async fn check(state: &PortalState, typed: &str) -> Result<Verdict, PageError> {
    Ok(subdomain::check(
        state.site.accounts.store(),
        typed,
        &state.site.public_scheme,
        &state.site.base_domain,
    )
    .await?)
}

#[derive(Debug, Deserialize)]
pub struct SubdomainForm {
    pub csrf: Option<String>,
    pub subdomain: Option<String>,
    /// A suggestion's button: takes precedence over the text field.
    pub pick: Option<String>,
}

pub async fn save_subdomain(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
    Form(form): Form<SubdomainForm>,
) -> Result<Response, PageError> {
    let visit = match Visit::for_post(
        &state,
        &headers,
        login,
        form.csrf.as_deref(),
        Step::Subdomain,
    )
    .await?
    {
        Ok(visit) => visit,
        Err(redirect) => return Ok(redirect),
    };
    let typed = form
        .pick
        .or(form.subdomain)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let verdict = check(&state, &typed).await?;
    if !verdict.available() {
        let page = SubdomainPage {
            value: typed,
            verdict: Some(verdict),
            ..subdomain_page(&state, &visit, visit.csrf(&csrf))
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, visit.cookie, page).into_response());
    }
    state
        .site
        .accounts
        .store()
        .set_signup_subdomain(&visit.wizard.id, &typed)
        .await?;
    Ok(go(visit.cookie, Step::Terms))
}

#[derive(Debug, Deserialize)]
pub struct CheckQuery {
    #[serde(default)]
    pub name: String,
}

/// `GET /signup/subdomain/check?name=…`: the live check as JSON (for `app.js`).
pub async fn check_subdomain(
    State(state): State<PortalState>,
    Query(query): Query<CheckQuery>,
) -> Result<Response, PageError> {
    // Long inputs are invalid anyway; do not echo megabytes back.
    let typed: String = query.name.chars().take(100).collect();
    Ok(axum::Json(check(&state, &typed).await?).into_response())
}

// ---- step 4: terms ---------------------------------------------------------------------

fn terms_page(visit: &Visit, csrf: String) -> TermsPage {
    TermsPage {
        frame: Frame::new(&visit.gate, Step::Terms, csrf),
        chrome: visit.chrome(),
        error: None,
        terms: TERMS,
    }
}

pub async fn terms(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visit = match show(&state, &headers, login, Step::Terms).await? {
        Ok(visit) => visit,
        Err(redirect) => return Ok(redirect),
    };
    let page = terms_page(&visit, visit.csrf(&csrf));
    Ok((visit.cookie, page).into_response())
}

#[derive(Debug, Deserialize)]
pub struct TermsForm {
    pub csrf: Option<String>,
    pub accept: Option<String>,
}

pub async fn accept_terms(
    State(state): State<PortalState>,
    CurrentUser(login): CurrentUser,
    csrf: accounts::CsrfToken,
    headers: HeaderMap,
    Form(form): Form<TermsForm>,
) -> Result<Response, PageError> {
    let visit =
        match Visit::for_post(&state, &headers, login, form.csrf.as_deref(), Step::Terms).await? {
            Ok(visit) => visit,
            Err(redirect) => return Ok(redirect),
        };
    if form.accept.as_deref() != Some("yes") {
        let page = TermsPage {
            error: Some(
                "Tick the box to accept the terms; we cannot set up a server without it.".into(),
            ),
            ..terms_page(&visit, visit.csrf(&csrf))
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, visit.cookie, page).into_response());
    }
    state
        .site
        .accounts
        .store()
        .accept_signup_terms(&visit.wizard.id)
        .await?;
    Ok(go(visit.cookie, Step::Deploy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_sentences() {
        assert_eq!(
            sentence("must be at least 10 characters"),
            "Must be at least 10 characters."
        );
        assert_eq!(sentence("Done."), "Done.");
    }

    #[test]
    fn password_rules_read_as_one_sentence() {
        let errors = accounts::password::check("short", "a@b.io", "password").unwrap_err();
        let words = password_words(&errors);
        assert!(
            words.starts_with("The password must be at least 10 characters"),
            "{words}"
        );
        assert!(words.ends_with('.'));
    }
}
