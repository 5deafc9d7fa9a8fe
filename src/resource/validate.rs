//! The rules a stored `Tenant` must satisfy, checked all at once.
//!
//! # Guarantees
//! - [`validate`] reports every broken rule, not just the first, each with the field's path
//!   (`spec.env.DATABASE_URL`), a short rule name and a message that says what to do.
//! - Messages never contain control characters or unbounded echoes of the input, so every
//!   error is one readable line.
//! - A name or subdomain that passes is a lowercase ASCII RFC 1123 label of at most
//!   [`MAX_NAME_LEN`] characters that is not reserved: safe in host names, container names,
//!   labels and Postgres comments.
//!
//! # Assumptions
//! - Only what the writer stored is checked. Defaults (image, resources) come from the
//!   platform's config and are checked where the config is loaded.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod image;

use super::{API_VERSION, KIND, ResourceSpec, Tenant, TenantSpec};

/// Names that may be neither a tenant name nor a subdomain: they are, or could pass for,
/// the platform's own hosts and pages, mail and DNS infrastructure, or common environments.
#[rustfmt::skip] // One line per kind of name reads better than one name per line.
pub const RESERVED_NAMES: &[&str] = &[
    // The platform's own hosts and pages.
    "www", "api", "app", "admin", "administrator", "dashboard", "console", "portal", "tenantd",
    "traefik", "status", "static", "assets", "cdn", "media", "files", "registry", "metrics",
    "health", "healthz", "docs", "blog", "help", "support", "billing", "security", "system",
    "default", "internal", "root", "localhost",
    // Accounts and sign-in, where a look-alike page would phish best.
    "auth", "login", "logout", "signin", "signup", "register", "account", "accounts",
    // Mail and DNS infrastructure, including names certificate authorities trust.
    "mail", "email", "webmail", "smtp", "imap", "pop", "pop3", "mx", "dns", "ns", "ns1", "ns2",
    "ns3", "autoconfig", "autodiscover", "postmaster", "hostmaster", "webmaster", "abuse",
    "noreply", "no-reply", "ftp", "sftp", "ssh",
    // Environments and databases people expect to be the platform's.
    "test", "dev", "stage", "staging", "prod", "production", "sandbox", "demo", "db",
    "database", "postgres",
];

/// Environment variables tenantd sets in every tenant's container; a spec may not set them.
pub const INJECTED_ENV_KEYS: &[&str] = &["DATABASE_URL", "DATABASE_SCHEMA", "PUBLIC_URL"];

/// Environment variables with this prefix are kept for tenantd's own future use.
pub const RESERVED_ENV_PREFIX: &str = "TENANTD_";

/// The longest tenant name or subdomain. RFC 1123 allows 63; 40 leaves room for the
/// prefixes and suffixes tenantd adds when it derives container and network names.
pub const MAX_NAME_LEN: usize = 40;

const MIN_MEMORY_BYTES: u64 = 64 << 20;
const PIDS: RangeInclusive<i64> = 16..=4096;
const MAX_ENV_ENTRIES: usize = 200;
const MAX_ENV_KEY_LEN: usize = 128;
const MAX_ENV_VALUE_BYTES: usize = 32 * 1024;
const MAX_RESTARTED_AT_LEN: usize = 64;
const MAX_OWNER_LEN: usize = 254;
const MAX_LABEL_NAME_LEN: usize = 63;
const MAX_LABEL_PREFIX_LEN: usize = 253;
/// How much of a user's value is quoted back in a field path or message.
const MAX_ECHO_CHARS: usize = 64;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the offending field, such as `spec.resources.memory` or `metadata.labels.plan`.
    pub field: String,
    /// Short, stable name of the rule, such as `reserved` or `minimum`, for programs.
    pub rule: String,
    /// For a person: what is wrong and what to do about it.
    pub message: String,
}

/// Every rule a tenant broke. Never empty when returned by [`validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The errors about `field` exactly.
    pub fn for_field<'a>(&'a self, field: &'a str) -> impl Iterator<Item = &'a FieldError> {
        self.0.iter().filter(move |e| e.field == field)
    }
}

impl fmt::Display for ValidationErrors {
    /// One line per error: `spec.resources.memory: must be at least 64Mi (got 10Mi)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Checks every rule on the fields `tenant` has; `host_cpus` is the CPU count of the Docker
/// host, the upper bound for `spec.resources.cpus`.
///
/// # Assumptions
/// - `host_cpus` is positive and finite (the engine reports it); a NaN bound rejects nothing.
///
/// # Errors
/// All broken rules at once, in field order.
pub fn validate(tenant: &Tenant, host_cpus: f64) -> Result<(), ValidationErrors> {
    let mut errors = Errors::default();
    if tenant.api_version != API_VERSION {
        let got = echo(&tenant.api_version);
        errors.push(
            "apiVersion",
            "api-version",
            format!("must be {API_VERSION} (got {got})"),
        );
    }
    if tenant.kind != KIND {
        errors.push(
            "kind",
            "kind",
            format!("must be {KIND} (got {})", echo(&tenant.kind)),
        );
    }
    let meta = &tenant.metadata;
    check_name(&mut errors, "metadata.name", &meta.name);
    for (key, value) in &meta.labels {
        check_label(&mut errors, key, value);
    }
    if let Some(owner) = &meta.owner {
        check_owner(&mut errors, owner);
    }
    let spec = &tenant.spec;
    // A reserved name is caught on `metadata.name` even when the subdomain defaults to it.
    if let Some(subdomain) = &spec.subdomain {
        check_name(&mut errors, "spec.subdomain", subdomain);
    }
    if let Some(image) = &spec.image
        && let Err(problem) = image::check_reference(image)
    {
        let message = format!(
            "is not a valid image reference: {problem}; write it like \
             registry.example.com/team/app:1.2 or app@sha256:<64 hex digits>"
        );
        errors.push("spec.image", "image-reference", message);
    }
    check_resources(&mut errors, &spec.resources, host_cpus);
    check_env(&mut errors, spec);
    if let Some(restarted_at) = &spec.restarted_at {
        check_restarted_at(&mut errors, restarted_at);
    }
    errors.finish()
}

/// Collects errors in the order the rules are checked.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: impl Into<String>, rule: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            rule: rule.to_owned(),
            message: message.into(),
        });
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

/// The problems of `name` as a tenant name or subdomain, reported on `field` (the web wizard
/// checks a subdomain alone, with the same rules as a whole resource).
pub fn name_errors(field: &str, name: &str) -> Vec<FieldError> {
    let mut errors = Errors::default();
    check_name(&mut errors, field, name);
    errors.0
}

/// A tenant name or subdomain: a lowercase ASCII RFC 1123 label, not reserved.
fn check_name(errors: &mut Errors, field: &str, name: &str) {
    const ALLOWED: &str = "only lowercase letters a-z, digits 0-9 and '-' are allowed";
    if name.is_empty() {
        let message = format!("must not be empty; {ALLOWED}, up to {MAX_NAME_LEN} characters");
        errors.push(field, "required", message);
        return;
    }
    let length = name.chars().count();
    if length > MAX_NAME_LEN {
        let message = format!("must be at most {MAX_NAME_LEN} characters (got {length})");
        errors.push(field, "max-length", message);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        let message = if !c.is_ascii() {
            // Look-alike letters from other scripts (Cyrillic 'а') would let one tenant
            // impersonate another, so say plainly that only ASCII is accepted.
            format!(
                "contains {}, which is not an ASCII letter; {ALLOWED}",
                quote_char(c)
            )
        } else if c.is_ascii_uppercase() {
            format!("contains {}; use lowercase: {ALLOWED}", quote_char(c))
        } else {
            format!("contains {}; {ALLOWED}", quote_char(c))
        };
        errors.push(field, "charset", message);
    }
    if name.starts_with('-') || name.ends_with('-') {
        errors.push(
            field,
            "rfc1123",
            "must start and end with a letter or digit",
        );
    }
    if name.get(2..4) == Some("--") {
        // RFC 5891 reserves "??--" for encodings such as punycode ("xn--"), which browsers
        // show as non-ASCII text: a way to impersonate another tenant.
        let message = "must not have \"--\" as its third and fourth characters; \
                       that form is reserved for internationalised domain names";
        errors.push(field, "idna", message);
    }
    if RESERVED_NAMES.contains(&name) {
        let message = format!("{name:?} is reserved for the platform; choose another name");
        errors.push(field, "reserved", message);
    }
}

/// A label in Kubernetes syntax: `[prefix/]name` and a value that is empty or a name.
fn check_label(errors: &mut Errors, key: &str, value: &str) {
    let field = path("metadata.labels", key);
    if let Err(problem) = check_label_key(key) {
        let message = format!(
            "label key {problem}; write a name of at most {MAX_LABEL_NAME_LEN} characters, \
             optionally after a DNS prefix and '/', such as plan or example.com/plan"
        );
        errors.push(field.clone(), "label-key", message);
    }
    if let Err(problem) = check_label_name(value) {
        let message = format!(
            "label value {problem}; write at most {MAX_LABEL_NAME_LEN} letters, digits, \
             '-', '_' or '.', starting and ending with a letter or digit, or leave it empty"
        );
        errors.push(field, "label-value", message);
    }
}

fn check_label_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        None => key,
        Some((prefix, name)) => {
            check_dns_subdomain(prefix).map_err(|problem| format!("prefix {problem}"))?;
            name
        }
    };
    if name.is_empty() {
        return Err("must have a name".into());
    }
    check_label_name(name)
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters; empty is allowed.
fn check_label_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_LABEL_NAME_LEN {
        return Err(format!("is {} characters long", name.chars().count()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("contains {}", quote_char(c)));
    }
    let edge_ok = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("must start and end with a letter or digit".into());
    }
    Ok(())
}

/// Lowercase RFC 1123 labels separated by dots, at most 253 characters.
fn check_dns_subdomain(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_LABEL_PREFIX_LEN {
        return Err(format!("must be 1 to {MAX_LABEL_PREFIX_LEN} characters"));
    }
    for label in prefix.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err("must be a lowercase DNS name such as example.com".into());
        }
    }
    Ok(())
}

fn check_resources(errors: &mut Errors, resources: &ResourceSpec, host_cpus: f64) {
    if let Some(memory) = &resources.memory
        && memory.bytes() < MIN_MEMORY_BYTES
    {
        let message = format!("must be at least 64Mi (got {memory})");
        errors.push("spec.resources.memory", "minimum", message);
    }
    if let Some(cpus) = resources.cpus {
        if cpus.millis() == 0 {
            let message = "must be more than 0; write a CPU count such as 0.5 or 500m";
            errors.push("spec.resources.cpus", "minimum", message);
        } else if cpus.as_f64() > host_cpus {
            let message = format!(
                "must be at most {host_cpus}, the number of CPUs on this host (got {cpus})"
            );
            errors.push("spec.resources.cpus", "maximum", message);
        }
    }
    if let Some(pids) = resources.pids
        && !PIDS.contains(&pids)
    {
        let message = format!(
            "must be between {} and {} (got {pids})",
            PIDS.start(),
            PIDS.end()
        );
        errors.push("spec.resources.pids", "range", message);
    }
}

fn check_env(errors: &mut Errors, spec: &TenantSpec) {
    if spec.env.len() > MAX_ENV_ENTRIES {
        let message = format!(
            "has {} variables; at most {MAX_ENV_ENTRIES} are allowed",
            spec.env.len()
        );
        errors.push("spec.env", "max-entries", message);
    }
    for (key, value) in &spec.env {
        let field = path("spec.env", key);
        if let Err(problem) = check_env_key(key) {
            let message = format!(
                "variable name {problem}; use letters, digits and '_', not starting with a \
                 digit, at most {MAX_ENV_KEY_LEN} characters (such as API_TOKEN)"
            );
            errors.push(field.clone(), "env-key", message);
        } else if INJECTED_ENV_KEYS.contains(&key.as_str()) {
            let message = format!("{key} is set by tenantd for every tenant; remove it");
            errors.push(field.clone(), "injected", message);
        } else if key.starts_with(RESERVED_ENV_PREFIX) {
            let message = format!(
                "names starting with {RESERVED_ENV_PREFIX} are reserved for tenantd; rename it"
            );
            errors.push(field.clone(), "reserved-prefix", message);
        }
        if value.len() > MAX_ENV_VALUE_BYTES {
            let message = format!(
                "must be at most 32 KiB (got {} bytes); mount large values as files instead",
                value.len()
            );
            errors.push(field.clone(), "max-length", message);
        }
        if value.contains('\0') {
            // The kernel passes the environment as C strings, so a NUL would cut the value.
            let message = "must not contain a NUL character (\\0)";
            errors.push(field, "nul", message);
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters: a name every shell can expand.
fn check_env_key(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if c.is_ascii_digit() => return Err(format!("starts with the digit {c:?}")),
        _ => {}
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!("contains {}", quote_char(c)));
    }
    if key.len() > MAX_ENV_KEY_LEN {
        return Err(format!("is {} characters long", key.len()));
    }
    Ok(())
}

fn check_restarted_at(errors: &mut Errors, restarted_at: &str) {
    const FIELD: &str = "spec.restartedAt";
    const HINT: &str = "set it to a new value such as the current time, 2025-01-31T12:00:00Z";
    if restarted_at.is_empty() {
        errors.push(FIELD, "required", format!("must not be empty; {HINT}"));
        return;
    }
    let length = restarted_at.chars().count();
    if length > MAX_RESTARTED_AT_LEN {
        let message = format!("must be at most {MAX_RESTARTED_AT_LEN} characters (got {length})");
        errors.push(FIELD, "max-length", message);
    }
    // It becomes a container label and an input of the spec hash, so keep it plain text.
    if let Some(c) = restarted_at.chars().find(|c| !matches!(c, ' '..='~')) {
        let message = format!(
            "contains {}; use printable ASCII only; {HINT}",
            quote_char(c)
        );
        errors.push(FIELD, "printable-ascii", message);
    }
}

fn check_owner(errors: &mut Errors, owner: &str) {
    const FIELD: &str = "metadata.owner";
    let length = owner.chars().count();
    if length == 0 {
        errors.push(
            FIELD,
            "required",
            "must not be empty; leave it out for no owner",
        );
    } else if length > MAX_OWNER_LEN {
        let message = format!("must be at most {MAX_OWNER_LEN} characters (got {length})");
        errors.push(FIELD, "max-length", message);
    }
    if let Some(c) = owner.chars().find(|c| c.is_control()) {
        let message = format!(
            "contains the control character {}; remove it",
            quote_char(c)
        );
        errors.push(FIELD, "control-characters", message);
    }
}

/// The field path [`validate`] reports an env variable's errors under (`spec.env.API_TOKEN`),
/// so a form can show each error next to the row that caused it.
pub fn env_field(key: &str) -> String {
    path("spec.env", key)
}

/// `prefix.key`, with the key quoted and cut short when printing it raw would be unreadable.
fn path(prefix: &str, key: &str) -> String {
    let plain = key.chars().count() <= MAX_ECHO_CHARS
        && !key.is_empty()
        && key.chars().all(|c| c.is_ascii_graphic());
    if plain {
        format!("{prefix}.{key}")
    } else {
        format!("{prefix}.{}", echo(key))
    }
}

/// A user's value in quotes, escaped and cut to [`MAX_ECHO_CHARS`] characters.
fn echo(value: &str) -> String {
    let mut cut: String = value.chars().take(MAX_ECHO_CHARS).collect();
    if cut.len() < value.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// A character as `'x'`, or with its code point when it is invisible or not ASCII.
fn quote_char(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("{c:?}")
    } else {
        format!("{:?} (U+{:04X})", c, u32::from(c))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::resource::ObjectMeta;

    const HOST_CPUS: f64 = 4.0;

    fn tenant() -> Tenant {
        Tenant {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ObjectMeta {
                name: "acme-lab".into(),
                ..ObjectMeta::default()
            },
            spec: TenantSpec::default(),
            status: None,
        }
    }

    fn errors_of(tenant: &Tenant) -> Vec<FieldError> {
        match validate(tenant, HOST_CPUS) {
            Ok(()) => vec![],
            Err(ValidationErrors(errors)) => errors,
        }
    }

    /// The rules broken on `field`, in order.
    fn rules(tenant: &Tenant, field: &str) -> Vec<String> {
        errors_of(tenant)
            .into_iter()
            .filter(|e| e.field == field)
            .map(|e| e.rule)
            .collect()
    }

    fn with_name(name: &str) -> Tenant {
        let mut t = tenant();
        t.metadata.name = name.into();
        t
    }

    fn with_image(image: &str) -> Tenant {
        let mut t = tenant();
        t.spec.image = Some(image.into());
        t
    }

    fn with_env(key: &str, value: &str) -> Tenant {
        let mut t = tenant();
        t.spec.env.insert(key.into(), value.into());
        t
    }

    fn with_label(key: &str, value: &str) -> Tenant {
        let mut t = tenant();
        t.metadata.labels.insert(key.into(), value.into());
        t
    }

    #[test]
    fn a_minimal_tenant_is_valid() {
        assert_eq!(validate(&tenant(), HOST_CPUS), Ok(()));
    }

    #[test]
    fn a_fully_specified_valid_tenant_is_valid() {
        let mut t = tenant();
        t.metadata.labels = BTreeMap::from([
            ("plan".into(), "standard".into()),
            ("tenantd.io/team".into(), "".into()),
            ("Billing.Code_2".into(), "A-1.b_2".into()),
        ]);
        t.metadata.owner = Some("ana@example.test".into());
        t.spec.subdomain = Some("acme".into());
        t.spec.image = Some("ghcr.io/complexdatacollective/fresco:latest".into());
        t.spec.resources.memory = Some("64Mi".parse().unwrap());
        t.spec.resources.cpus = Some("4".parse().unwrap());
        t.spec.resources.pids = Some(16);
        t.spec.env = BTreeMap::from([
            ("_PRIVATE".into(), "x".into()),
            ("API_TOKEN".into(), "".into()),
        ]);
        t.spec.restarted_at = Some("2025-01-31T12:00:00Z".into());
        assert_eq!(errors_of(&t), vec![]);
    }

    #[test]
    fn api_version_and_kind_must_match_this_build() {
        let mut t = tenant();
        t.api_version = "tenantd/v2".into();
        t.kind = "Tenants".into();
        assert_eq!(rules(&t, "apiVersion"), ["api-version"]);
        assert_eq!(rules(&t, "kind"), ["kind"]);
        let shown = validate(&t, HOST_CPUS).unwrap_err().to_string();
        assert!(
            shown.contains("apiVersion: must be tenantd/v1 (got \"tenantd/v2\")"),
            "{shown}"
        );
    }

    #[test]
    fn names_must_be_lowercase_rfc1123_labels() {
        for good in [
            "a",
            "acme",
            "acme-lab",
            "a1",
            "1a",
            "0",
            "a-b-c",
            &"a".repeat(40),
        ] {
            assert_eq!(
                rules(&with_name(good), "metadata.name"),
                Vec::<String>::new(),
                "{good:?}"
            );
        }
        assert_eq!(rules(&with_name(""), "metadata.name"), ["required"]);
        assert_eq!(rules(&with_name("Acme"), "metadata.name"), ["charset"]);
        assert_eq!(rules(&with_name("acme_lab"), "metadata.name"), ["charset"]);
        assert_eq!(rules(&with_name("acme.lab"), "metadata.name"), ["charset"]);
        assert_eq!(rules(&with_name("acme lab"), "metadata.name"), ["charset"]);
        assert_eq!(rules(&with_name("-acme"), "metadata.name"), ["rfc1123"]);
        assert_eq!(rules(&with_name("acme-"), "metadata.name"), ["rfc1123"]);
        assert_eq!(
            rules(&with_name(&"a".repeat(41)), "metadata.name"),
            ["max-length"]
        );
        assert_eq!(
            rules(&with_name("-Bad-"), "metadata.name"),
            ["charset", "rfc1123"]
        );
    }

    #[test]
    fn names_with_unicode_look_alikes_are_rejected_with_a_clear_message() {
        // "аcme" starts with CYRILLIC SMALL LETTER A.
        let errors = errors_of(&with_name("\u{430}cme"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].rule, "charset");
        assert!(
            errors[0].message.contains("U+0430"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[0]
                .message
                .contains("only lowercase letters a-z, digits 0-9 and '-'")
        );
    }

    #[test]
    fn names_in_punycode_form_are_rejected() {
        assert_eq!(
            rules(&with_name("xn--80ak6aa92e"), "metadata.name"),
            ["idna"]
        );
        assert_eq!(rules(&with_name("ab--cd"), "metadata.name"), ["idna"]);
        assert_eq!(
            rules(&with_name("a--b"), "metadata.name"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn reserved_names_are_rejected_even_without_a_subdomain() {
        for reserved in ["admin", "www", "api", "tenantd", "localhost", "traefik"] {
            assert_eq!(
                rules(&with_name(reserved), "metadata.name"),
                ["reserved"],
                "{reserved}"
            );
        }
        let message = &errors_of(&with_name("admin"))[0].message;
        assert!(message.contains("choose another name"), "{message}");
    }

    #[test]
    fn every_reserved_name_is_itself_a_valid_label() {
        // Otherwise it could never be reached and would hide a typo in the list.
        for name in RESERVED_NAMES {
            assert_eq!(
                rules(&with_name(name), "metadata.name"),
                ["reserved"],
                "{name}"
            );
        }
    }

    #[test]
    fn subdomains_follow_the_name_rules_when_set() {
        let mut t = tenant();
        t.spec.subdomain = Some("Www".into());
        assert_eq!(rules(&t, "spec.subdomain"), ["charset"]);
        t.spec.subdomain = Some("www".into());
        assert_eq!(rules(&t, "spec.subdomain"), ["reserved"]);
        t.spec.subdomain = Some("".into());
        assert_eq!(rules(&t, "spec.subdomain"), ["required"]);
        t.spec.subdomain = Some("acme".into());
        assert_eq!(errors_of(&t), vec![]);
    }

    #[test]
    fn label_keys_follow_kubernetes_syntax() {
        for good in [
            "plan",
            "a",
            "A_b.c-d",
            "example.com/plan",
            "tenantd.io/x",
            &"k".repeat(63),
        ] {
            assert_eq!(errors_of(&with_label(good, "v")), vec![], "{good:?}");
        }
        for bad in [
            "",
            "-plan",
            "plan-",
            "pl an",
            "plän",
            "/plan",
            "example.com/",
            "Example.com/plan",
            "a/b/c",
            "ex_ample.com/plan",
            &"k".repeat(64),
        ] {
            let field = path("metadata.labels", bad);
            assert_eq!(
                rules(&with_label(bad, "v"), &field),
                ["label-key"],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn label_values_follow_kubernetes_syntax() {
        for good in ["", "standard", "A-1.b_2", &"v".repeat(63)] {
            assert_eq!(errors_of(&with_label("plan", good)), vec![], "{good:?}");
        }
        for bad in ["-x", "x.", "a b", "a/b", "ünï", &"v".repeat(64)] {
            assert_eq!(
                rules(&with_label("plan", bad), "metadata.labels.plan"),
                ["label-value"],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn image_references_are_checked_when_set() {
        let good = with_image("ghcr.io/complexdatacollective/fresco:latest");
        assert_eq!(errors_of(&good), vec![]);
        for bad in ["Nginx", "nginx;id", "-nginx", "nginx:"] {
            assert_eq!(
                rules(&with_image(bad), "spec.image"),
                ["image-reference"],
                "{bad:?}"
            );
        }
        let message = &errors_of(&with_image("nginx$(id)"))[0].message;
        assert!(
            message.contains("'$'") && message.contains("write it like"),
            "{message}"
        );
    }

    #[test]
    fn memory_must_be_at_least_64mi() {
        let mut t = tenant();
        t.spec.resources.memory = Some("10Mi".parse().unwrap());
        let errors = validate(&t, HOST_CPUS).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "spec.resources.memory: must be at least 64Mi (got 10Mi)"
        );
        assert_eq!(errors.0[0].rule, "minimum");
        t.spec.resources.memory = Some("64Mi".parse().unwrap());
        assert_eq!(validate(&t, HOST_CPUS), Ok(()));
    }

    #[test]
    fn cpus_must_be_positive_and_at_most_the_hosts_count() {
        let mut t = tenant();
        t.spec.resources.cpus = Some("0".parse().unwrap());
        assert_eq!(rules(&t, "spec.resources.cpus"), ["minimum"]);
        t.spec.resources.cpus = Some("4.001".parse().unwrap());
        assert_eq!(rules(&t, "spec.resources.cpus"), ["maximum"]);
        let shown = validate(&t, HOST_CPUS).unwrap_err().to_string();
        assert!(
            shown.contains("at most 4, the number of CPUs on this host (got 4.001)"),
            "{shown}"
        );
        t.spec.resources.cpus = Some("1m".parse().unwrap());
        assert_eq!(validate(&t, HOST_CPUS), Ok(()));
        t.spec.resources.cpus = Some("1.5".parse().unwrap());
        assert_eq!(validate(&t, 1.5), Ok(()));
    }

    #[test]
    fn pids_must_be_between_16_and_4096() {
        let mut t = tenant();
        for (pids, ok) in [
            (15, false),
            (16, true),
            (4096, true),
            (4097, false),
            (-1, false),
            (0, false),
        ] {
            t.spec.resources.pids = Some(pids);
            assert_eq!(validate(&t, HOST_CPUS).is_ok(), ok, "pids {pids}");
        }
        t.spec.resources.pids = Some(5);
        assert_eq!(
            validate(&t, HOST_CPUS).unwrap_err().to_string(),
            "spec.resources.pids: must be between 16 and 4096 (got 5)"
        );
    }

    #[test]
    fn env_keys_must_be_shell_identifiers() {
        for good in ["A", "_", "a_b", "API_TOKEN2", &"K".repeat(128)] {
            assert_eq!(errors_of(&with_env(good, "v")), vec![], "{good:?}");
        }
        for bad in ["", "1A", "A-B", "A B", "A.B", "Ä", "A=B", &"K".repeat(129)] {
            let field = path("spec.env", bad);
            assert_eq!(rules(&with_env(bad, "v"), &field), ["env-key"], "{bad:?}");
        }
    }

    #[test]
    fn env_keys_that_tenantd_injects_are_rejected() {
        for key in INJECTED_ENV_KEYS {
            let field = format!("spec.env.{key}");
            let errors = errors_of(&with_env(key, "postgres://evil"));
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(
                (errors[0].field.as_str(), errors[0].rule.as_str()),
                (field.as_str(), "injected")
            );
            assert!(
                errors[0].message.contains("set by tenantd"),
                "{}",
                errors[0].message
            );
        }
    }

    #[test]
    fn env_keys_with_the_tenantd_prefix_are_reserved() {
        assert_eq!(
            rules(&with_env("TENANTD_MODE", "x"), "spec.env.TENANTD_MODE"),
            ["reserved-prefix"]
        );
        assert_eq!(
            errors_of(&with_env("tenantd_mode", "x")),
            vec![],
            "env names are case-sensitive"
        );
    }

    #[test]
    fn env_values_are_limited_to_32_kib_without_nul() {
        let at_limit = "x".repeat(32 * 1024);
        assert_eq!(errors_of(&with_env("BIG", &at_limit)), vec![]);
        let over = format!("{at_limit}x");
        assert_eq!(
            rules(&with_env("BIG", &over), "spec.env.BIG"),
            ["max-length"]
        );
        assert_eq!(rules(&with_env("NUL", "a\0b"), "spec.env.NUL"), ["nul"]);
        assert_eq!(
            errors_of(&with_env("LINES", "a\nb\tc")),
            vec![],
            "other control characters are fine"
        );
    }

    #[test]
    fn at_most_200_env_variables_are_allowed() {
        let mut t = tenant();
        t.spec.env = (0..200).map(|i| (format!("V{i}"), String::new())).collect();
        assert_eq!(validate(&t, HOST_CPUS), Ok(()));
        t.spec.env.insert("V200".into(), String::new());
        assert_eq!(rules(&t, "spec.env"), ["max-entries"]);
    }

    #[test]
    fn restarted_at_must_be_short_printable_ascii() {
        let mut t = tenant();
        for (value, expected) in [
            ("2025-01-31T12:00:00Z", vec![]),
            ("any printable text ~!", vec![]),
            ("", vec!["required"]),
            (&"1".repeat(65), vec!["max-length"]),
            ("2025\n", vec!["printable-ascii"]),
            ("ünïcode", vec!["printable-ascii"]),
        ] {
            t.spec.restarted_at = Some(value.into());
            assert_eq!(rules(&t, "spec.restartedAt"), expected, "{value:?}");
        }
    }

    #[test]
    fn owner_must_be_1_to_254_characters_without_control_characters() {
        let mut t = tenant();
        for (value, expected) in [
            ("ana@example.test", vec![]),
            ("Ana Lúcia", vec![]),
            ("", vec!["required"]),
            (&"o".repeat(255), vec!["max-length"]),
            ("ana\u{1b}[31m", vec!["control-characters"]),
        ] {
            t.metadata.owner = Some(value.into());
            assert_eq!(rules(&t, "metadata.owner"), expected, "{value:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut t = with_name("Admin");
        t.kind = "Tennant".into();
        t.spec.image = Some("Bad Image".into());
        t.spec.resources.memory = Some("1Mi".parse().unwrap());
        t.spec.resources.pids = Some(1);
        t.spec.env.insert("DATABASE_URL".into(), "x".into());
        let errors = validate(&t, HOST_CPUS).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "kind",
                "metadata.name",
                "spec.image",
                "spec.resources.memory",
                "spec.resources.pids",
                "spec.env.DATABASE_URL"
            ]
        );
        assert_eq!(errors.to_string().lines().count(), 6);
        assert_eq!(errors.for_field("spec.image").count(), 1);
    }

    #[test]
    fn errors_stay_on_one_line_whatever_the_input() {
        let mut t = with_env("BAD\nKEY", "v");
        t.metadata.labels.insert("x\ny".into(), "a\u{7}b".into());
        t.spec.subdomain = Some("evil\r\nname".into());
        t.metadata.name = "\u{1b}[2J".into();
        let errors = validate(&t, HOST_CPUS).unwrap_err();
        assert_eq!(
            errors.to_string().lines().count(),
            errors.0.len(),
            "{errors}"
        );
        for error in &errors.0 {
            assert!(
                !error.to_string().chars().any(char::is_control),
                "{error:?}"
            );
        }
    }

    #[test]
    fn long_keys_are_cut_short_in_field_paths() {
        let key = "K".repeat(1000);
        let errors = errors_of(&with_env(&key, "v"));
        assert!(errors[0].field.len() < 100, "{}", errors[0].field);
    }

    /// A form finds the row of an env error by this path, whatever the key looks like.
    #[test]
    fn env_field_is_the_path_errors_are_reported_under() {
        for key in ["DATABASE_URL", "BAD KEY", "9LIVES", &"K".repeat(300), ""] {
            let errors = errors_of(&with_env(key, "v"));
            assert!(!errors.is_empty(), "{key:?} breaks a rule");
            assert!(
                errors.iter().all(|e| e.field == env_field(key)),
                "{key:?}: {errors:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn an_accepted_name_is_a_short_lowercase_ascii_label(
            name in prop_oneof![
                "[a-z0-9\\-]{0,45}",
                "[a-zA-Z0-9\\-_. \u{430}\u{435}\u{43e}é]{0,45}",
                any::<String>(),
            ]
        ) {
            let t = with_name(&name);
            if rules(&t, "metadata.name").is_empty() {
                prop_assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN, "{:?}", name);
                prop_assert!(
                    name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{:?}", name
                );
                prop_assert!(!name.starts_with('-') && !name.ends_with('-'), "{:?}", name);
                prop_assert!(!RESERVED_NAMES.contains(&name.as_str()));
            }
        }

        #[test]
        fn every_unreserved_short_label_is_accepted(name in "[a-z0-9]([a-z0-9\\-]{0,38}[a-z0-9])?") {
            prop_assume!(!RESERVED_NAMES.contains(&name.as_str()) && name.get(2..4) != Some("--"));
            prop_assert_eq!(rules(&with_name(&name), "metadata.name"), Vec::<String>::new());
        }

        #[test]
        fn validate_never_panics_on_any_image(image in "\\PC{0,80}") {
            let _ = validate(&with_image(&image), HOST_CPUS);
        }
    }
}
