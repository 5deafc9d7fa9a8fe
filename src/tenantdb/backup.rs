//! `pg_dump` of one tenant schema into the backup directory.
//!
//! # Guarantees
//!
//! - A file named `<tenant name>-<uid>-<UTC timestamp>.dump` exists only once
//!   it is complete: `pg_dump` writes `.<that name>.partial`, which is
//!   fsynced and then renamed, and the directory is fsynced after the rename.
//! - Backups are private: the directory is created 0700, the file 0600.
//! - `pg_dump` runs without a shell, its arguments built from validated
//!   names; the connection comes from the pool's options through `PG*`
//!   environment variables (inherited `PG*` variables are removed first), so
//!   the password is never on a command line.
//! - Cancelling the future kills `pg_dump`.
//!
//! # Caveats
//!
//! - A cancelled or crashed backup can leave a `.partial` file behind; it
//!   never looks like a finished backup.
//! - TLS settings other than `sslmode` (root certificate, client key) are not
//!   passed on: sqlx does not expose them.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::names::{Uid, quote_ident};
use super::observe::Ownership;
use super::{Error, ObjectKind, Result, TenantDb};

impl TenantDb {
    /// Dumps the tenant's schema (`pg_dump --format=custom`) into
    /// [`TenantDbConfig::backup_dir`](super::TenantDbConfig::backup_dir) and
    /// returns the finished file's path.
    ///
    /// # Guarantees
    ///
    /// See the module docs: atomic, private, no shell, no password in argv.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidUid`] or [`Error::InvalidTenantName`] before anything runs.
    /// - [`Error::SchemaMissing`] or [`Error::Foreign`] unless the schema is ours.
    /// - [`Error::FindPgDump`], [`Error::CreateBackupFile`], [`Error::SpawnPgDump`].
    /// - [`Error::PgDump`] with `pg_dump`'s stderr if it fails.
    /// - [`Error::FinishBackup`] if the file cannot be synced or renamed.
    pub async fn backup(&self, uid: &str, tenant_name: &str) -> Result<PathBuf> {
        let uid = Uid::parse(uid)?;
        if !is_rfc1123_label(tenant_name) {
            return Err(Error::InvalidTenantName {
                name: tenant_name.to_owned(),
            });
        }
        let schema = uid.schema();
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|source| Error::CheckBackup {
                schema: schema.clone(),
                source,
            })?;
        let probe = self
            .probe(&mut conn, uid)
            .await
            .map_err(|source| Error::CheckBackup {
                schema: schema.clone(),
                source,
            })?;
        drop(conn);
        match probe.schema {
            Ownership::Missing => return Err(Error::SchemaMissing { schema }),
            Ownership::Foreign => {
                return Err(Error::Foreign {
                    kind: ObjectKind::Schema,
                    name: schema,
                });
            }
            Ownership::Ours => {}
        }
        let pg_dump = find_pg_binary("pg_dump").ok_or(Error::FindPgDump)?;

        let dir = &self.config.backup_dir;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| Error::CreateBackupFile {
                path: dir.clone(),
                source,
            })?;
        let timestamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let name = format!("{tenant_name}-{}-{timestamp}.dump", uid.as_str());
        let path = dir.join(&name);
        let partial = dir.join(format!(".{name}.partial"));

        // Created here, 0600, so that the dump is never readable by others
        // even for a moment; pg_dump truncates and fills it.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|source| Error::CreateBackupFile {
                path: partial.clone(),
                source,
            })?;

        let result = self.run_pg_dump(&pg_dump, &schema, &partial).await;
        let result = match result {
            Ok(()) => finish(&partial, &path).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Best effort: a leftover `.partial` is harmless but untidy.
            let _ = tokio::fs::remove_file(&partial).await;
        } else {
            tracing::info!(path = %path.display(), %schema, "backed up tenant schema");
        }
        result.map(|()| path)
    }

    /// Runs `pg_dump` for `schema` into `file`.
    async fn run_pg_dump(&self, pg_dump: &Path, schema: &str, file: &Path) -> Result<()> {
        let options = self.pool.connect_options();
        let mut command = tokio::process::Command::new(pg_dump);
        // Inherited PG* variables (PGSERVICE, PGOPTIONS, ...) could point the
        // dump elsewhere or change its session; only ours may apply.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                command.env_remove(key);
            }
        }
        command
            .envs(connection_env(&options))
            .env("PGAPPNAME", "tenantd-backup")
            .arg("--format=custom")
            // A double-quoted pattern matches the name literally; with
            // --strict-names a missing schema is an error, not an empty dump.
            .arg(format!("--schema={}", quote_ident(schema)))
            .arg("--strict-names")
            .arg("--no-password")
            .arg("--file")
            .arg(file)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = command
            .output()
            .await
            .map_err(|source| Error::SpawnPgDump {
                program: pg_dump.to_owned(),
                source,
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::PgDump {
                schema: schema.to_owned(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }
}

/// Makes the finished dump durable and gives it its final name.
async fn finish(partial: &Path, path: &Path) -> Result<()> {
    let failed = |source| Error::FinishBackup {
        path: path.to_owned(),
        source,
    };
    tokio::fs::File::open(partial)
        .await
        .map_err(failed)?
        .sync_all()
        .await
        .map_err(failed)?;
    tokio::fs::rename(partial, path).await.map_err(failed)?;
    if let Some(dir) = path.parent() {
        tokio::fs::File::open(dir)
            .await
            .map_err(failed)?
            .sync_all()
            .await
            .map_err(failed)?;
    }
    Ok(())
}

/// libpq environment variables for the pool's connection.
fn connection_env(options: &PgConnectOptions) -> Vec<(&'static str, OsString)> {
    let host: OsString = match options.get_socket() {
        // sqlx's socket is the directory holding `.s.PGSQL.<port>`, which is
        // what libpq's PGHOST means for a path too.
        Some(dir) => dir.clone().into_os_string(),
        None => options.get_host().into(),
    };
    let mut env = vec![
        ("PGHOST", host),
        ("PGPORT", options.get_port().to_string().into()),
        ("PGUSER", options.get_username().into()),
        (
            "PGSSLMODE",
            match options.get_ssl_mode() {
                PgSslMode::Disable => "disable",
                PgSslMode::Allow => "allow",
                PgSslMode::Prefer => "prefer",
                PgSslMode::Require => "require",
                PgSslMode::VerifyCa => "verify-ca",
                PgSslMode::VerifyFull => "verify-full",
            }
            .into(),
        ),
    ];
    if let Some(database) = options.get_database() {
        env.push(("PGDATABASE", database.into()));
    }
    // sqlx has no getter for the password; its URL form carries it
    // percent-encoded.
    if let Some(password) = options.to_url_lossy().password() {
        env.push(("PGPASSWORD", percent_decode(password).into()));
    }
    env
}

/// Decodes `%XX` escapes; anything else is kept as it is.
fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits are at most 0xff.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `name` is an RFC 1123 label (the tenant name's format), so it can
/// go into a file name without escaping or path tricks.
fn is_rfc1123_label(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| alnum(b) || b == b'-')
        && name.bytes().next().is_some_and(alnum)
        && name.bytes().last().is_some_and(alnum)
}

/// Finds a PostgreSQL client program: first in `PATH`, then in the newest
/// `/usr/lib/postgresql/<major>/bin` (Debian's layout, where `PATH` often has
/// only a wrapper or nothing).
pub fn find_pg_binary(name: &str) -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate));
    in_path.or_else(|| {
        let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = entry
                    .file_name()
                    .to_str()?
                    .split('.')
                    .map(str::parse)
                    .collect::<Result<Vec<u32>, _>>()
                    .ok()?;
                Some((version, entry.path().join("bin").join(name)))
            })
            .filter(|(_, candidate)| is_executable(candidate))
            .collect();
        versions.sort();
        versions.pop().map(|(_, candidate)| candidate)
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_should_undo_url_encoding() {
        assert_eq!(percent_decode("abc"), "abc");
        assert_eq!(percent_decode("a%40b%2Fc%25"), "a@b/c%");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
    }

    #[test]
    fn connection_env_should_carry_the_password_decoded() {
        let options = PgConnectOptions::new_without_pgpass()
            .host("db.internal")
            .port(5433)
            .username("tenantd")
            .password("p@ss w/%rd")
            .database("platform");
        let env = connection_env(&options);
        let get = |key: &str| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("PGHOST").as_deref(), Some("db.internal"));
        assert_eq!(get("PGPORT").as_deref(), Some("5433"));
        assert_eq!(get("PGUSER").as_deref(), Some("tenantd"));
        assert_eq!(get("PGPASSWORD").as_deref(), Some("p@ss w/%rd"));
        assert_eq!(get("PGDATABASE").as_deref(), Some("platform"));
    }

    #[test]
    fn tenant_names_should_be_rfc1123_labels() {
        for good in ["acme-lab", "a", "0", "a-b-c"] {
            assert!(is_rfc1123_label(good), "{good:?}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "../x",
            "a/b",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(!is_rfc1123_label(bad), "{bad:?}");
        }
    }
}
