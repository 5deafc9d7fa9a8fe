//! Platform configuration: a YAML file, overridden field by field by `TENANTD_*` environment variables.
//!
//! # Guarantees
//! - [`Config::load`] either returns a config whose every field is usable (durations parsed,
//!   defaults valid under the resource rules) or an error that names the field and its source.
//! - Secrets (database URL password, registry password) are never printed by `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::resource::{Cpus, Memory};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("config field {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything `tenantd serve` needs to know about its surroundings.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct Config {
    /// The platform database (superuser or a role with CREATEROLE that can read `pg_authid`).
    pub database_url: Option<String>,
    /// Names this installation; its containers carry it in a label, and containers of other
    /// instances on the same engine are never touched.
    pub instance: String,
    /// Docker endpoint (`unix:///var/run/docker.sock`, `tcp://…`); `DOCKER_HOST` when unset.
    pub docker_host: Option<String>,
    /// The Docker network every tenant container joins; created when missing.
    pub network: String,
    /// Tenants are served at `<subdomain>.<base_domain>`.
    pub base_domain: String,
    /// Scheme of the tenants' public URLs (`https` behind Traefik with TLS, `http` in development).
    pub public_scheme: String,
    /// Image for tenants whose spec names none.
    pub default_image: String,
    /// Resource defaults for tenants whose spec leaves them out.
    pub default_resources: DefaultResources,
    /// The port the tenant application listens on inside its container (Traefik routes to it).
    pub container_port: u16,
    /// Host name or IP under which containers reach Postgres; the network's gateway when unset.
    pub tenant_database_host: Option<String>,
    /// Port under which containers reach Postgres; the platform URL's port when unset.
    pub tenant_database_port: Option<u16>,
    /// Per-tenant role limits.
    pub tenant_connection_limit: i32,
    #[serde(deserialize_with = "duration")]
    pub tenant_statement_timeout: Duration,
    /// Where `BackupThenDelete` writes `pg_dump` files.
    pub backup_dir: PathBuf,
    /// How many tenants reconcile at once.
    pub concurrency: usize,
    /// Every tenant is reconciled at least this often (jittered by up to 10%), from the
    /// observed-state caches that Docker events keep current.
    #[serde(deserialize_with = "duration")]
    pub resync_period: Duration,
    /// How often the engine cache is replaced by a full relist (jittered by up to 10%), the
    /// safety net under Docker's event stream; a broken stream relists at once anyway.
    #[serde(deserialize_with = "duration")]
    pub relist_period: Duration,
    /// How often the tenant schemas and roles are re-read from the catalog (Postgres sends no events).
    #[serde(deserialize_with = "duration")]
    pub database_observe_period: Duration,
    /// How long a container gets between SIGTERM and SIGKILL.
    #[serde(deserialize_with = "duration")]
    pub stop_grace_period: Duration,
    /// Container health check; the image's own `HEALTHCHECK` command when `test` is unset.
    pub healthcheck: HealthcheckConfig,
    /// Credentials for image pulls, if the registry needs them.
    pub registry_auth: Option<RegistryAuth>,
    /// Extra labels put on every tenant container (e.g. Traefik entrypoints or TLS resolvers).
    pub extra_labels: BTreeMap<String, String>,
    /// Address of the HTTP listener (API, `/healthz`, `/readyz`, `/metrics`).
    pub listen: SocketAddr,
    /// Bearer tokens that may use the API as admins (compared in constant time).
    pub admin_tokens: Vec<String>,
    /// Largest request body the API accepts.
    pub api_body_limit_bytes: usize,
    /// A request whose response has not started by then gets 408.
    #[serde(deserialize_with = "duration")]
    pub api_request_timeout: Duration,
    /// Writes per second each caller may make (a token bucket), and the burst it may save up.
    pub api_write_rate: f64,
    pub api_write_burst: f64,
    /// Whether web cookies are `Secure` (and `__Host-` prefixed); when unset, true exactly
    /// when `public_scheme` is `https`.
    pub web_cookie_secure: Option<bool>,
    /// Take the client address for login rate limits from the last `X-Forwarded-For` entry;
    /// set only when a trusted proxy (Traefik) is in front, else clients could pick their own.
    pub web_trust_forwarded_for: bool,
    /// The public Fresco sandbox the signup wizard suggests to people who only want to test
    /// features or learn the platform (an `http(s)://` URL).
    pub web_sandbox_url: String,
    /// The site's own public address (pages, login), for links in mails; when unset,
    /// `<public_scheme>://<base_domain>`.
    pub web_public_url: Option<String>,
    /// Emails of accounts that get the admin role at startup (only once their address is
    /// verified; see `accounts::admins`). Normalized and lowercased by [`Config::check`].
    pub web_admins: Vec<String>,
    /// Where mails (email verification) are written as RFC 5322 `.eml` files; there is no
    /// SMTP: a relay or a person picks them up.
    pub mail_outbox_dir: PathBuf,
    /// The `From` of every mail; when unset, `tenantd <no-reply@<base_domain>>`.
    pub mail_from: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// How often every running tenant container's CPU, memory and network are sampled for the
    /// API's metrics history (one stats call per container per period); `0s` turns it off.
    #[serde(deserialize_with = "duration")]
    pub metrics_sample_period: Duration,
    /// A folder of `*.yaml`/`*.yml` tenant files that `serve` watches and applies; off when unset.
    pub specs_dir: Option<PathBuf>,
    /// Delete tenants whose specs file was removed or no longer defines them.
    pub specs_prune: bool,
    /// The specs folder is scanned this often even when no change was noticed.
    #[serde(deserialize_with = "duration")]
    pub specs_rescan_period: Duration,
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultResources {
    pub memory: Memory,
    pub cpus: Cpus,
    pub pids: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthcheckConfig {
    /// Docker's `Test` array (`["CMD", "/app", "healthcheck"]`); inherit the image's when unset.
    pub test: Option<Vec<String>>,
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub start_period: Duration,
    pub retries: i64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuth {
    pub server: String,
    pub username: String,
    pub password: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for DefaultResources {
    fn default() -> Self {
        DefaultResources {
            memory: "256Mi"
                .parse()
                .expect("the default memory is a valid quantity"),
            cpus: "0.5".parse().expect("the default cpus is a valid quantity"),
            pids: 256,
        }
    }
}

impl Default for HealthcheckConfig {
    fn default() -> Self {
        HealthcheckConfig {
            test: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            start_period: Duration::from_secs(2),
            retries: 3,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            docker_host: None,
            instance: "default".into(),
            network: "tenantd".into(),
            base_domain: "tenants.localhost".into(),
            public_scheme: "http".into(),
            default_image: "ghcr.io/complexdatacollective/fresco:latest".into(),
            default_resources: DefaultResources::default(),
            container_port: 3000,
            tenant_database_host: None,
            tenant_database_port: None,
            tenant_connection_limit: 10,
            tenant_statement_timeout: Duration::from_secs(30),
            backup_dir: PathBuf::from("backups"),
            // Engine calls wait on runc and the network, not on our CPU: ./scripts/bench found
            // 16 parallel creates about a quarter faster than 8 on 2 cores, 32 barely faster.
            concurrency: 16,
            resync_period: Duration::from_secs(60),
            // Events keep the cache current; a relist lists every container (0.27 s of the
            // engine's time at 1000 tenants), so it is the rare safety net, as in kube-runtime
            // and client-go, whose resyncs replay their caches instead of listing again.
            relist_period: Duration::from_secs(600),
            database_observe_period: Duration::from_secs(5),
            stop_grace_period: Duration::from_secs(10),
            healthcheck: HealthcheckConfig::default(),
            registry_auth: None,
            extra_labels: BTreeMap::new(),
            listen: "127.0.0.1:8080".parse().expect("a literal socket address"),
            admin_tokens: Vec::new(),
            api_body_limit_bytes: 256 * 1024,
            api_request_timeout: Duration::from_secs(30),
            api_write_rate: 20.0,
            api_write_burst: 40.0,
            log_format: LogFormat::Text,
            metrics_sample_period: Duration::from_secs(15),
            specs_dir: None,
            specs_prune: false,
            specs_rescan_period: Duration::from_secs(30),
            web_cookie_secure: None,
            web_trust_forwarded_for: false,
            web_sandbox_url: "https://fresco-sandbox.networkcanvas.com".into(),
            web_public_url: None,
            web_admins: Vec::new(),
            mail_outbox_dir: PathBuf::from(".dev/mail-outbox"),
            mail_from: None,
        }
    }
}

impl Config {
    /// Reads `path` (when given), then applies `TENANTD_*` environment overrides, then checks.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.check()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|e| Error::ParseFile {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Overrides from the environment; `lookup` is injectable so tests need not mutate the process env.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parsed<T: std::str::FromStr>(var: &'static str, value: String) -> Result<T>
        where
            T::Err: fmt::Display,
        {
            value.parse().map_err(|e: T::Err| Error::Env {
                var,
                message: e.to_string(),
            })
        }
        fn duration_var(var: &'static str, value: String) -> Result<Duration> {
            humantime::parse_duration(&value).map_err(|e| Error::Env {
                var,
                message: format!("{e} (write it like 30s, 5m or 1h)"),
            })
        }
        fn bool_var(var: &'static str, value: &str) -> Result<bool> {
            match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" | "" => Ok(false),
                _ => Err(Error::Env {
                    var,
                    message: format!("must be true or false, got `{value}`"),
                }),
            }
        }
        // DATABASE_URL is honoured as the conventional name, TENANTD_DATABASE_URL wins over it.
        if let Some(v) = lookup("DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = lookup("TENANTD_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = lookup("TENANTD_DOCKER_HOST") {
            self.docker_host = Some(v);
        }
        if let Some(v) = lookup("TENANTD_INSTANCE") {
            self.instance = v;
        }
        if let Some(v) = lookup("TENANTD_NETWORK") {
            self.network = v;
        }
        if let Some(v) = lookup("TENANTD_BASE_DOMAIN") {
            self.base_domain = v;
        }
        if let Some(v) = lookup("TENANTD_PUBLIC_SCHEME") {
            self.public_scheme = v;
        }
        if let Some(v) = lookup("TENANTD_DEFAULT_IMAGE") {
            self.default_image = v;
        }
        if let Some(v) = lookup("TENANTD_DEFAULT_MEMORY") {
            self.default_resources.memory = parsed("TENANTD_DEFAULT_MEMORY", v)?;
        }
        if let Some(v) = lookup("TENANTD_DEFAULT_CPUS") {
            self.default_resources.cpus = parsed("TENANTD_DEFAULT_CPUS", v)?;
        }
        if let Some(v) = lookup("TENANTD_DEFAULT_PIDS") {
            self.default_resources.pids = parsed("TENANTD_DEFAULT_PIDS", v)?;
        }
        if let Some(v) = lookup("TENANTD_CONTAINER_PORT") {
            self.container_port = parsed("TENANTD_CONTAINER_PORT", v)?;
        }
        if let Some(v) = lookup("TENANTD_TENANT_DATABASE_HOST") {
            self.tenant_database_host = Some(v);
        }
        if let Some(v) = lookup("TENANTD_BACKUP_DIR") {
            self.backup_dir = PathBuf::from(v);
        }
        if let Some(v) = lookup("TENANTD_CONCURRENCY") {
            self.concurrency = parsed("TENANTD_CONCURRENCY", v)?;
        }
        if let Some(v) = lookup("TENANTD_RESYNC_PERIOD") {
            self.resync_period = duration_var("TENANTD_RESYNC_PERIOD", v)?;
        }
        if let Some(v) = lookup("TENANTD_RELIST_PERIOD") {
            self.relist_period = duration_var("TENANTD_RELIST_PERIOD", v)?;
        }
        if let Some(v) = lookup("TENANTD_DATABASE_OBSERVE_PERIOD") {
            self.database_observe_period = duration_var("TENANTD_DATABASE_OBSERVE_PERIOD", v)?;
        }
        if let Some(v) = lookup("TENANTD_STOP_GRACE_PERIOD") {
            self.stop_grace_period = duration_var("TENANTD_STOP_GRACE_PERIOD", v)?;
        }
        if let Some(v) = lookup("TENANTD_HEALTHCHECK_INTERVAL") {
            self.healthcheck.interval = duration_var("TENANTD_HEALTHCHECK_INTERVAL", v)?;
        }
        if let Some(v) = lookup("TENANTD_LISTEN") {
            self.listen = parsed("TENANTD_LISTEN", v)?;
        }
        if let Some(v) = lookup("TENANTD_ADMIN_TOKENS") {
            self.admin_tokens = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = lookup("TENANTD_API_WRITE_RATE") {
            self.api_write_rate = parsed("TENANTD_API_WRITE_RATE", v)?;
        }
        if let Some(v) = lookup("TENANTD_API_WRITE_BURST") {
            self.api_write_burst = parsed("TENANTD_API_WRITE_BURST", v)?;
        }
        if let Some(v) = lookup("TENANTD_API_BODY_LIMIT_BYTES") {
            self.api_body_limit_bytes = parsed("TENANTD_API_BODY_LIMIT_BYTES", v)?;
        }
        if let Some(v) = lookup("TENANTD_SPECS_DIR") {
            self.specs_dir = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(v) = lookup("TENANTD_SPECS_PRUNE") {
            self.specs_prune = bool_var("TENANTD_SPECS_PRUNE", &v)?;
        }
        if let Some(v) = lookup("TENANTD_WEB_COOKIE_SECURE") {
            self.web_cookie_secure = Some(bool_var("TENANTD_WEB_COOKIE_SECURE", &v)?);
        }
        if let Some(v) = lookup("TENANTD_WEB_TRUST_FORWARDED_FOR") {
            self.web_trust_forwarded_for = bool_var("TENANTD_WEB_TRUST_FORWARDED_FOR", &v)?;
        }
        if let Some(v) = lookup("TENANTD_WEB_SANDBOX_URL") {
            self.web_sandbox_url = v;
        }
        if let Some(v) = lookup("TENANTD_WEB_PUBLIC_URL") {
            self.web_public_url = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = lookup("TENANTD_WEB_ADMINS") {
            self.web_admins =
                crate::accounts::admins::parse_list(&v).map_err(|message| Error::Env {
                    var: "TENANTD_WEB_ADMINS",
                    message,
                })?;
        }
        if let Some(v) = lookup("TENANTD_MAIL_OUTBOX_DIR") {
            self.mail_outbox_dir = PathBuf::from(v);
        }
        if let Some(v) = lookup("TENANTD_MAIL_FROM") {
            self.mail_from = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = lookup("TENANTD_SPECS_RESCAN_PERIOD") {
            self.specs_rescan_period = duration_var("TENANTD_SPECS_RESCAN_PERIOD", v)?;
        }
        if let Some(v) = lookup("TENANTD_METRICS_SAMPLE_PERIOD") {
            self.metrics_sample_period = duration_var("TENANTD_METRICS_SAMPLE_PERIOD", v)?;
        }
        if let Some(v) = lookup("TENANTD_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(Error::Env {
                        var: "TENANTD_LOG_FORMAT",
                        message: format!("must be `text` or `json`, got `{v}`"),
                    });
                }
            };
        }
        Ok(())
    }

    /// Whether web cookies carry `Secure`: as configured, else when served over https.
    pub fn web_cookie_secure(&self) -> bool {
        self.web_cookie_secure
            .unwrap_or(self.public_scheme == "https")
    }

    /// The site's public address without a trailing slash: as configured, else
    /// `<public_scheme>://<base_domain>`.
    pub fn web_public_url(&self) -> String {
        match &self.web_public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("{}://{}", self.public_scheme, self.base_domain),
        }
    }

    /// The `From` of mails: as configured, else `tenantd <no-reply@<base_domain>>`.
    pub fn mail_from(&self) -> String {
        self.mail_from
            .clone()
            .unwrap_or_else(|| format!("tenantd <no-reply@{}>", self.base_domain))
    }

    /// Rejects values that would only fail later, deep inside a reconcile.
    pub fn check(&self) -> Result<()> {
        // Named so error messages can say which field is wrong.
        let invalid = |field, message: &str| {
            Err(Error::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        if self.concurrency == 0 {
            return invalid("concurrency", "must be at least 1");
        }
        if self.resync_period < Duration::from_secs(1) {
            return invalid("resync_period", "must be at least 1s");
        }
        if self.relist_period < Duration::from_secs(1) {
            return invalid("relist_period", "must be at least 1s");
        }
        if self.database_observe_period < Duration::from_millis(200) {
            return invalid("database_observe_period", "must be at least 200ms");
        }
        if self.instance.is_empty()
            || self.instance.len() > 63
            || !self
                .instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return invalid("instance", "must be 1-63 letters, digits, - _ .");
        }
        if self.network.is_empty()
            || !self
                .network
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return invalid(
                "network",
                "must be a Docker network name: letters, digits, - _ .",
            );
        }
        let domain_ok = !self.base_domain.is_empty()
            && self.base_domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !domain_ok {
            return invalid(
                "base_domain",
                "must be a lowercase DNS name such as tenants.example.com",
            );
        }
        if self.public_scheme != "http" && self.public_scheme != "https" {
            return invalid("public_scheme", "must be http or https");
        }
        // It is shown as a link: only a plain web address, nothing a browser would run.
        let sandbox = &self.web_sandbox_url;
        if !(sandbox.starts_with("https://") || sandbox.starts_with("http://"))
            || sandbox
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"')
        {
            return invalid(
                "web_sandbox_url",
                "must be an http:// or https:// URL without spaces or quotes",
            );
        }
        // Put into mails as the start of a link: a plain web address without a query.
        if let Some(url) = &self.web_public_url
            && (!(url.starts_with("https://") || url.starts_with("http://"))
                || url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"<>?#".contains(c)))
        {
            return invalid(
                "web_public_url",
                "must be an http:// or https:// URL without spaces, quotes, ? or #",
            );
        }
        if let Err(message) =
            crate::accounts::admins::normalize_list(self.web_admins.iter().map(String::as_str))
        {
            return invalid("web_admins", &message);
        }
        // A mail header: one line, and an address in it.
        if let Some(from) = &self.mail_from
            && (from.chars().any(char::is_control) || !from.contains('@'))
        {
            return invalid(
                "mail_from",
                "must be one line with an address, like `tenantd <no-reply@example.org>`",
            );
        }
        if self.default_resources.memory.bytes() < 64 * 1024 * 1024 {
            return invalid("default_resources.memory", "must be at least 64Mi");
        }
        if !(16..=4096).contains(&self.default_resources.pids) {
            return invalid("default_resources.pids", "must be between 16 and 4096");
        }
        if self.admin_tokens.iter().any(|t| t.len() < 16) {
            return invalid("admin_tokens", "each token must be at least 16 characters");
        }
        if self.api_write_rate <= 0.0 || self.api_write_burst < 1.0 {
            return invalid(
                "api_write_rate",
                "the rate must be above 0 and the burst at least 1",
            );
        }
        if self.tenant_connection_limit < 1 {
            return invalid("tenant_connection_limit", "must be at least 1");
        }
        // Each period costs a stats call per running container; faster than once a second
        // would load the engine for little insight.
        if !self.metrics_sample_period.is_zero()
            && self.metrics_sample_period < Duration::from_secs(1)
        {
            return invalid("metrics_sample_period", "must be 0s (off) or at least 1s");
        }
        if self.specs_rescan_period < Duration::from_millis(100) {
            return invalid("specs_rescan_period", "must be at least 100ms");
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("docker_host", &self.docker_host)
            .field("network", &self.network)
            .field("base_domain", &self.base_domain)
            .field("default_image", &self.default_image)
            .field("container_port", &self.container_port)
            .field("concurrency", &self.concurrency)
            .field("resync_period", &self.resync_period)
            .field("relist_period", &self.relist_period)
            .field("listen", &self.listen)
            .field("specs_dir", &self.specs_dir)
            .field("specs_prune", &self.specs_prune)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("{e} (write it like 30s, 5m or 1h)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values_and_names_the_bad_variable() {
        let mut config = Config::default();
        let env = |name: &str| match name {
            "TENANTD_NETWORK" => Some("tenants-net".to_owned()),
            "TENANTD_RESYNC_PERIOD" => Some("soon".to_owned()),
            _ => None,
        };
        let err = config.apply_env(env).unwrap_err();
        assert_eq!(config.network, "tenants-net");
        assert!(err.to_string().contains("TENANTD_RESYNC_PERIOD"), "{err}");
    }

    #[test]
    fn a_config_file_sets_nested_fields_and_durations() {
        let dir = std::env::temp_dir().join(format!("tenantd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tenantd.yaml");
        std::fs::write(
            &path,
            "network: tenants\nresync_period: 2m\ndefault_resources:\n  memory: 512Mi\n  cpus: \"1\"\n  pids: 100\nhealthcheck:\n  test: [CMD, /app, health]\n  interval: 3s\n",
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        assert_eq!(config.network, "tenants");
        assert_eq!(config.resync_period, Duration::from_secs(120));
        assert_eq!(config.default_resources.memory.bytes(), 512 << 20);
        assert_eq!(config.healthcheck.interval, Duration::from_secs(3));
        assert_eq!(
            config.healthcheck.retries, 3,
            "unset nested fields keep their defaults"
        );
        std::fs::write(&path, "netwrok: typo\n").unwrap();
        let err = Config::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("netwrok"), "unknown fields are errors: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_specs_folder_settings_come_from_the_environment() {
        let mut config = Config::default();
        assert_eq!(
            (
                &config.specs_dir,
                config.specs_prune,
                config.specs_rescan_period
            ),
            (&None, false, Duration::from_secs(30)),
            "the sync is off by default"
        );
        let env = |name: &str| match name {
            "TENANTD_SPECS_DIR" => Some("/srv/specs".to_owned()),
            "TENANTD_SPECS_PRUNE" => Some("true".to_owned()),
            "TENANTD_SPECS_RESCAN_PERIOD" => Some("2m".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.specs_dir, Some(PathBuf::from("/srv/specs")));
        assert!(config.specs_prune);
        assert_eq!(config.specs_rescan_period, Duration::from_secs(120));
        let err = config
            .apply_env(|name| (name == "TENANTD_SPECS_PRUNE").then(|| "maybe".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("TENANTD_SPECS_PRUNE"), "{err}");
    }

    #[test]
    fn the_metrics_sample_period_is_15s_by_default_and_0_turns_it_off() {
        let mut config = Config::default();
        assert_eq!(config.metrics_sample_period, Duration::from_secs(15));
        config
            .apply_env(|name| (name == "TENANTD_METRICS_SAMPLE_PERIOD").then(|| "0".to_owned()))
            .unwrap();
        assert_eq!(config.metrics_sample_period, Duration::ZERO);
        config.check().expect("0 means off");
        config
            .apply_env(|name| (name == "TENANTD_METRICS_SAMPLE_PERIOD").then(|| "500ms".to_owned()))
            .unwrap();
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("metrics_sample_period"), "{err}");
    }

    #[test]
    fn web_cookies_are_secure_when_served_over_https_unless_configured() {
        let mut config = Config::default();
        assert!(!config.web_cookie_secure(), "http by default");
        config.public_scheme = "https".into();
        assert!(config.web_cookie_secure());
        config
            .apply_env(|name| (name == "TENANTD_WEB_COOKIE_SECURE").then(|| "false".to_owned()))
            .unwrap();
        assert!(!config.web_cookie_secure(), "an explicit setting wins");
    }

    #[test]
    fn mail_links_default_to_the_base_domain_and_admins_come_from_a_comma_list() {
        let mut config = Config::default();
        assert_eq!(config.web_public_url(), "http://tenants.localhost");
        assert_eq!(config.mail_from(), "tenantd <no-reply@tenants.localhost>");
        assert_eq!(config.mail_outbox_dir, PathBuf::from(".dev/mail-outbox"));
        let env = |name: &str| match name {
            "TENANTD_WEB_PUBLIC_URL" => Some("https://portal.example.org/".to_owned()),
            "TENANTD_WEB_ADMINS" => Some("Ada@Example.org, bob@example.org".to_owned()),
            "TENANTD_MAIL_OUTBOX_DIR" => Some("/var/spool/tenantd".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        config.check().unwrap();
        assert_eq!(config.web_public_url(), "https://portal.example.org");
        assert_eq!(config.web_admins, ["ada@example.org", "bob@example.org"]);
        assert_eq!(config.mail_outbox_dir, PathBuf::from("/var/spool/tenantd"));
        let err = config
            .apply_env(|name| (name == "TENANTD_WEB_ADMINS").then(|| "ada, bob@x.org".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("TENANTD_WEB_ADMINS"), "{err}");
        config.web_public_url = Some("javascript:alert(1)".into());
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("web_public_url"), "{err}");
        config.web_public_url = None;
        config.web_admins = vec!["not an email".into()];
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("web_admins"), "{err}");
    }

    #[test]
    fn default_config_passes_its_own_checks() {
        Config::default().check().expect("defaults must be valid");
    }

    #[test]
    fn check_rejects_a_base_domain_with_uppercase() {
        let config = Config {
            base_domain: "Tenants.example.com".into(),
            ..Config::default()
        };
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("base_domain"), "{err}");
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://tenantd:s3cret@127.0.0.1:5432/tenantd"),
            "postgres://tenantd:***@127.0.0.1:5432/tenantd"
        );
        assert_eq!(
            redact_url("postgres://localhost/db"),
            "postgres://localhost/db"
        );
    }
}
