//! The environment variables editor of the tenant detail page: one row per variable (name,
//! value, a "remove" checkbox), a blank row to add one, saved as a spec update
//! (`POST /dashboard/tenants/{name}/env`).
//!
//! Rows are posted as `env-<i>-name`, `env-<i>-value` and `env-<i>-remove`, so a row keeps
//! its fields together without JavaScript (an unchecked checkbox sends nothing).
//!
//! # Guarantees
//! - A refused form changes nothing: every error (an empty or duplicate name, and every rule
//!   of [`resource::validate`], such as names tenantd injects or reserves) is shown next to
//!   the row that caused it, with the rows as they were posted.
//! - The save is the API's own update ([`crate::api::tenants::update`]) with the
//!   `resourceVersion` the page was rendered from: if someone else changed the tenant in the
//!   meantime, the page says so and shows the current variables instead of overwriting them.
//! - Someone else's tenant is a 404; a forged CSRF token is a 403; neither changes anything.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::detail::{self, Notice};
use super::{PortalState, not_found};
use crate::accounts::RequireUser;
use crate::api::auth::Principal;
use crate::api::tenants::{update, visible};
use crate::resource::{self, ValidationErrors};
use crate::store::ApplyOutcome;

/// The most rows a form may post; a spec allows 200 variables, so this leaves room for
/// removed and blank rows while bounding the work a forged form can cause.
const MAX_ROWS: usize = 400;

/// One row of the editor, as shown and as posted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvRow {
    pub name: String,
    pub value: String,
    /// "Remove" was checked: the variable is left out on save.
    pub remove: bool,
    /// What is wrong with this row, shown next to it.
    pub error: Option<String>,
}

impl EnvRow {
    fn is_blank(&self) -> bool {
        self.name.trim().is_empty() && self.value.is_empty()
    }
}

/// The editor's state: the rows, the version they were read at, and errors about the whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvForm {
    pub rows: Vec<EnvRow>,
    /// The tenant's `metadata.resourceVersion` when the form was rendered.
    pub resource_version: String,
    /// Errors that belong to no single row (too many variables, a conflict).
    pub errors: Vec<String>,
}

impl EnvForm {
    /// The form for a stored spec: its variables in name order, then one blank row to add one.
    pub fn of_spec(env: &BTreeMap<String, String>, resource_version: &str) -> EnvForm {
        let mut form = EnvForm {
            rows: env
                .iter()
                .map(|(name, value)| EnvRow {
                    name: name.clone(),
                    value: value.clone(),
                    ..EnvRow::default()
                })
                .collect(),
            resource_version: resource_version.to_owned(),
            errors: Vec::new(),
        };
        form.ensure_blank_row();
        form
    }

    /// The posted form. Unknown fields are ignored (the CSRF token is checked elsewhere).
    pub fn parse(pairs: &[(String, String)]) -> EnvForm {
        let mut rows: BTreeMap<usize, EnvRow> = BTreeMap::new();
        let mut resource_version = String::new();
        let mut too_many = false;
        for (key, value) in pairs {
            if key == "resource_version" {
                resource_version = value.trim().to_owned();
                continue;
            }
            let Some((index, part)) = key
                .strip_prefix("env-")
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(index, part)| Some((index.parse::<usize>().ok()?, part)))
            else {
                continue;
            };
            if index >= MAX_ROWS {
                too_many = true;
                continue;
            }
            let row = rows.entry(index).or_default();
            match part {
                "name" => row.name = value.clone(),
                "value" => row.value = value.clone(),
                "remove" => row.remove = true,
                _ => {}
            }
        }
        let mut form = EnvForm {
            rows: rows.into_values().collect(),
            resource_version,
            errors: Vec::new(),
        };
        if too_many {
            form.errors.push(format!(
                "the form has more than {MAX_ROWS} rows; save fewer at once"
            ));
        }
        form
    }

    /// The variables to save, or `None` when a row is wrong (its error is set). Blank and
    /// removed rows are left out; names are trimmed (surrounding spaces are never meant).
    pub fn env(&mut self) -> Option<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        let mut ok = self.errors.is_empty();
        for row in &mut self.rows {
            row.error = None;
            if row.remove || row.is_blank() {
                continue;
            }
            let name = row.name.trim().to_owned();
            if name.is_empty() {
                row.error = Some("give this variable a name, or clear its value".into());
                ok = false;
                continue;
            }
            match env.entry(name) {
                Entry::Occupied(taken) => {
                    row.error = Some(format!(
                        "{} is already set above; keep one of them",
                        taken.key()
                    ));
                    ok = false;
                }
                Entry::Vacant(free) => {
                    free.insert(row.value.clone());
                }
            }
        }
        ok.then_some(env)
    }

    /// Puts each validation error next to the row whose variable caused it; errors about no
    /// row become errors of the whole form.
    pub fn show_errors(&mut self, errors: &ValidationErrors) {
        let mut placed = BTreeSet::new();
        for row in &mut self.rows {
            if row.remove || row.is_blank() {
                continue;
            }
            let field = resource::env_field(row.name.trim());
            let messages: Vec<&str> = errors
                .for_field(&field)
                .map(|e| e.message.as_str())
                .collect();
            if !messages.is_empty() {
                row.error = Some(messages.join("; "));
                placed.insert(field);
            }
        }
        for error in &errors.0 {
            if !placed.contains(&error.field) {
                let field = error
                    .field
                    .strip_prefix("spec.env")
                    .map_or_else(|| error.field.clone(), |_| "Environment".to_owned());
                self.errors.push(format!("{field}: {}", error.message));
            }
        }
    }

    /// Whether any row or the whole form has an error.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.rows.iter().any(|r| r.error.is_some())
    }

    /// Adds a blank row at the end unless the last row already is one.
    pub fn ensure_blank_row(&mut self) {
        if self.rows.last().is_none_or(|r| !r.is_blank() || r.remove) {
            self.rows.push(EnvRow::default());
        }
    }
}

/// `POST /dashboard/tenants/{name}/env`.
pub async fn save(
    State(state): State<PortalState>,
    RequireUser(session): RequireUser,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if let Err(e) = state
        .site
        .accounts
        .verify_csrf(Some(&session), &headers, csrf)
    {
        return e.into_response();
    }
    let principal = Principal::of_session(&session);
    let tenant = match visible(&state.api, &principal, &name).await {
        Ok(tenant) => tenant,
        Err(e) if e.status == StatusCode::NOT_FOUND => return not_found(&session),
        Err(e) => return e.into_response(),
    };
    let mut form = EnvForm::parse(&pairs);
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    if tenant.metadata.deletion_timestamp.is_some() {
        // The store would refuse it too, but as a version conflict; say what it is.
        form.errors
            .push("this study server is being deleted; its variables can no longer change".into());
        return detail::render(&state, &session, tenant, form, None, StatusCode::CONFLICT).await;
    }
    let Some(env) = form.env() else {
        form.ensure_blank_row();
        return detail::render(&state, &session, tenant, form, None, invalid).await;
    };
    let mut candidate = tenant.clone();
    candidate.spec.env = env;
    candidate.status = None;
    candidate.metadata.resource_version = Some(form.resource_version.clone());
    if let Err(errors) = resource::validate(&candidate, state.api.host_cpus) {
        form.show_errors(&errors);
        form.ensure_blank_row();
        return detail::render(&state, &session, tenant, form, None, invalid).await;
    }
    match update(&state.api, &principal, candidate).await {
        Ok((outcome, _)) => {
            let saved = match outcome {
                ApplyOutcome::Unchanged => "unchanged",
                _ => "env",
            };
            Redirect::to(&format!(
                "/dashboard/tenants/{name}?saved={saved}#environment"
            ))
            .into_response()
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found(&session),
        Err(e) if e.body.field.as_deref() == Some("metadata.resourceVersion") => {
            // Someone else wrote first: show what is stored now, not the stale edit.
            let current = match visible(&state.api, &principal, &name).await {
                Ok(current) => current,
                Err(e) if e.status == StatusCode::NOT_FOUND => return not_found(&session),
                Err(e) => return e.into_response(),
            };
            let version = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            let mut fresh = EnvForm::of_spec(&current.spec.env, &version);
            fresh.errors.push(
                "this study server was changed by someone else while you edited it; the form \
                 now shows the current variables, so make your change again"
                    .into(),
            );
            detail::render(
                &state,
                &session,
                current,
                fresh,
                Some(Notice::conflict()),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) if e.status.is_client_error() => {
            form.errors.push(e.body.message);
            form.ensure_blank_row();
            let status = e.status;
            detail::render(&state, &session, tenant, form, None, status).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::FieldError;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_spec_becomes_rows_in_name_order_and_one_blank_row() {
        let env = BTreeMap::from([
            ("B".to_owned(), "2".to_owned()),
            ("A".to_owned(), "1".to_owned()),
        ]);
        let form = EnvForm::of_spec(&env, "7");
        let names: Vec<&str> = form.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["A", "B", ""]);
        assert_eq!(form.resource_version, "7");
        assert_eq!(EnvForm::of_spec(&BTreeMap::new(), "1").rows.len(), 1);
    }

    #[test]
    fn posted_rows_keep_their_fields_together_by_index() {
        let form = EnvForm::parse(&pairs(&[
            ("csrf", "t"),
            ("resource_version", " 12 "),
            ("env-1-name", "B"),
            ("env-0-name", "A"),
            ("env-0-value", "x=y&z"),
            ("env-1-value", "2"),
            ("env-1-remove", "on"),
            ("env-x-name", "ignored"),
            ("env-2-colour", "ignored"),
        ]));
        assert_eq!(form.resource_version, "12");
        assert_eq!(form.rows.len(), 3);
        assert_eq!(
            (form.rows[0].name.as_str(), form.rows[0].value.as_str()),
            ("A", "x=y&z")
        );
        assert!(!form.rows[0].remove);
        assert!(form.rows[1].remove);
    }

    #[test]
    fn blank_and_removed_rows_are_left_out_and_names_trimmed() {
        let mut form = EnvForm::parse(&pairs(&[
            ("env-0-name", " KEEP "),
            ("env-0-value", " spaced value "),
            ("env-1-name", "GONE"),
            ("env-1-remove", "on"),
            ("env-2-name", ""),
            ("env-2-value", ""),
        ]));
        let env = form.env().expect("valid rows");
        assert_eq!(
            env,
            BTreeMap::from([("KEEP".into(), " spaced value ".into())])
        );
    }

    #[test]
    fn an_empty_name_with_a_value_and_a_duplicate_are_errors_on_their_rows() {
        let mut form = EnvForm::parse(&pairs(&[
            ("env-0-name", "A"),
            ("env-1-name", ""),
            ("env-1-value", "orphan"),
            ("env-2-name", "A"),
        ]));
        assert_eq!(form.env(), None);
        assert_eq!(form.rows[0].error, None);
        assert!(
            form.rows[1]
                .error
                .as_deref()
                .unwrap()
                .contains("give this variable a name")
        );
        assert!(
            form.rows[2]
                .error
                .as_deref()
                .unwrap()
                .contains("A is already set above")
        );
        assert!(form.has_errors());
    }

    #[test]
    fn a_removed_duplicate_is_no_duplicate() {
        let mut form = EnvForm::parse(&pairs(&[
            ("env-0-name", "A"),
            ("env-1-name", "A"),
            ("env-1-remove", "on"),
        ]));
        assert!(form.env().is_some());
    }

    #[test]
    fn validation_errors_land_on_the_row_of_their_variable() {
        let mut form = EnvForm::parse(&pairs(&[
            ("env-0-name", "GOOD"),
            ("env-1-name", "bad name"),
            ("env-2-name", "DATABASE_URL"),
        ]));
        let env = form.env().unwrap();
        let mut tenant = crate::resource::Tenant {
            api_version: resource::API_VERSION.into(),
            kind: resource::KIND.into(),
            metadata: resource::ObjectMeta {
                name: "acme".into(),
                ..Default::default()
            },
            spec: Default::default(),
            status: None,
        };
        tenant.spec.env = env;
        let errors = resource::validate(&tenant, 2.0).expect_err("two bad names");
        form.show_errors(&errors);
        assert_eq!(form.rows[0].error, None);
        assert!(
            form.rows[1]
                .error
                .as_deref()
                .unwrap()
                .contains("variable name contains ' '"),
            "{:?}",
            form.rows[1]
        );
        assert!(
            form.rows[2]
                .error
                .as_deref()
                .unwrap()
                .contains("set by tenantd")
        );
        assert!(form.errors.is_empty(), "{:?}", form.errors);
    }

    #[test]
    fn errors_about_no_single_row_are_errors_of_the_whole_form() {
        let mut form = EnvForm::default();
        form.show_errors(&ValidationErrors(vec![FieldError {
            field: "spec.env".into(),
            rule: "max-entries".into(),
            message: "has 201 variables; at most 200 are allowed".into(),
        }]));
        assert_eq!(
            form.errors,
            ["Environment: has 201 variables; at most 200 are allowed"]
        );
    }

    #[test]
    fn rows_beyond_the_limit_are_refused_as_a_whole() {
        let key = format!("env-{MAX_ROWS}-name");
        let mut form = EnvForm::parse(&pairs(&[(&key, "A")]));
        assert!(form.rows.is_empty());
        assert_eq!(form.env(), None);
        assert!(form.errors[0].contains("more than"));
    }

    #[test]
    fn a_blank_row_is_added_only_when_missing() {
        let mut form = EnvForm::of_spec(&BTreeMap::new(), "1");
        form.ensure_blank_row();
        assert_eq!(form.rows.len(), 1);
        form.rows[0].name = "A".into();
        form.ensure_blank_row();
        assert_eq!(form.rows.len(), 2);
    }
}
