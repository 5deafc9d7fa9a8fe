//! Real-world tests of `tenantd::tenantdb` against a live PostgreSQL server.
//!
//! They need a superuser URL of a scratch database in
//! `TENANTD_TEST_DATABASE_URL` (`./scripts/test` starts a throwaway cluster and
//! sets it) and fail without one, never skip. Tenant logins go over TCP with
//! the tenants' own passwords, as a tenant container's would.
//!
//! Every test makes fresh random uids, so tests run in parallel with each
//! other and with anything else in the database, and a guard drops what a
//! test made even when the test panics.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tenantd::tenantdb::{
    DATABASE_ACL_LOCK, DbCallStats, Error, ObjectKind, TenantDb, TenantDbConfig, find_pg_binary,
    generate_password, role_name, schema_name, scram_verifier,
};

/// SQLSTATE `insufficient_privilege`.
const DENIED: &str = "42501";
/// SQLSTATE `invalid_password`.
const BAD_PASSWORD: &str = "28P01";
/// SQLSTATE `too_many_connections`.
const TOO_MANY_CONNECTIONS: &str = "53300";
/// SQLSTATE `query_canceled`, what a `statement_timeout` raises.
const CANCELED: &str = "57014";

fn database_url() -> String {
    std::env::var("TENANTD_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TENANTD_TEST_DATABASE_URL is not set: the tenantdb tests need the URL of a \
             PostgreSQL superuser on a scratch database. ./scripts/test starts a throwaway \
             cluster and provides it; run the tests through it."
        )
    })
}

async fn superuser_pool() -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect(&database_url())
        .await
        .expect("TENANTD_TEST_DATABASE_URL must reach a running PostgreSQL as a superuser")
}

/// A fresh random uid: 16 random bytes as lowercase hex.
fn new_uid() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Runs trusted test SQL (built from uids this file generated) as superuser.
async fn exec(pool: &PgPool, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("test setup statement {sql:?} must succeed: {e}"));
}

/// One test's world: a superuser pool, a [`TenantDb`] on the hardened
/// database, and a guard that removes the test's objects on drop.
struct Harness {
    pool: PgPool,
    db: TenantDb,
    guard: Guard,
}

impl Harness {
    async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    async fn with_config(adjust: impl FnOnce(&mut TenantDbConfig)) -> Self {
        let pool = superuser_pool().await;
        let backup_dir = std::env::temp_dir().join(format!("tenantdb-test-{}", new_uid()));
        let mut config = TenantDbConfig::new(&backup_dir);
        adjust(&mut config);
        let db = TenantDb::new(pool.clone(), config);
        db.prepare_database()
            .await
            .expect("prepare_database must succeed on a superuser pool");
        Self {
            pool,
            db,
            guard: Guard {
                uids: Vec::new(),
                sql: Vec::new(),
                backup_dir,
            },
        }
    }

    /// A new uid, cleaned up at the end of the test.
    fn uid(&mut self) -> String {
        let uid = new_uid();
        self.guard.uids.push(uid.clone());
        uid
    }

    /// Creates a tenant's role and schema through tenantdb.
    async fn provision(&mut self) -> Tenant {
        let uid = self.uid();
        let password = generate_password();
        let verifier = scram_verifier(&password);
        self.db
            .create_role(&uid, &verifier)
            .await
            .expect("create_role must succeed for a fresh uid");
        self.db
            .create_schema(&uid)
            .await
            .expect("create_schema must succeed once the role exists");
        Tenant {
            uid,
            password,
            verifier,
        }
    }

    /// Stand-ins for the platform's own tables: one in a superuser-owned
    /// schema `tenantd`, one in `public`. Returns their qualified names.
    async fn platform_tables(&mut self) -> [String; 2] {
        let suffix = &new_uid()[..12];
        let mut tx = self.pool.begin().await.expect("begin must succeed");
        // Concurrent `CREATE SCHEMA IF NOT EXISTS` can still collide; the
        // advisory lock queues the tests instead.
        sqlx::query("SELECT pg_advisory_xact_lock(7431)")
            .execute(&mut *tx)
            .await
            .expect("advisory lock must succeed");
        sqlx::raw_sql("CREATE SCHEMA IF NOT EXISTS tenantd")
            .execute(&mut *tx)
            .await
            .expect("the superuser must be able to create schema tenantd");
        tx.commit().await.expect("commit must succeed");
        let tables = [
            format!("tenantd.platform_secret_{suffix}"),
            format!("public.platform_secret_{suffix}"),
        ];
        for table in &tables {
            exec(
                &self.pool,
                format!(
                    "CREATE TABLE {table} (secret text); INSERT INTO {table} VALUES ('s3cret')"
                ),
            )
            .await;
            self.guard.sql.push(format!("DROP TABLE IF EXISTS {table}"));
        }
        tables
    }

    /// Logs in as the tenant over TCP with `password`.
    async fn connect_as(&self, uid: &str, password: &str) -> Result<PgConnection, sqlx::Error> {
        let options = (*self.pool.connect_options())
            .clone()
            .username(&role_name(uid).expect("test uids are valid"))
            .password(password);
        PgConnection::connect_with(&options).await
    }

    async fn connect_tenant(&self, tenant: &Tenant) -> PgConnection {
        self.connect_as(&tenant.uid, &tenant.password)
            .await
            .expect("a provisioned tenant must be able to log in with its password")
    }

    /// Writes since `before`.
    fn writes_since(&self, before: DbCallStats) -> u64 {
        self.db.stats().writes - before.writes
    }
}

struct Tenant {
    uid: String,
    password: String,
    verifier: String,
}

impl Tenant {
    fn schema(&self) -> String {
        schema_name(&self.uid).expect("test uids are valid")
    }
}

/// Drops a test's tenant objects (ours or hand-made), extra objects and
/// backup directory, on a thread of its own so it also runs during a panic.
struct Guard {
    uids: Vec<String>,
    sql: Vec<String>,
    backup_dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let uids = std::mem::take(&mut self.uids);
        let sql = std::mem::take(&mut self.sql);
        let _ = std::fs::remove_dir_all(&self.backup_dir);
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a cleanup runtime must build");
            runtime.block_on(async move {
                let pool = superuser_pool().await;
                for statement in sql {
                    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(statement.clone()))
                        .execute(&pool)
                        .await
                    {
                        eprintln!("cleanup statement {statement:?} failed: {e}");
                    }
                }
                for uid in uids {
                    if let Err(e) = drop_by_hand(&pool, &uid).await {
                        eprintln!("cleanup of tenant {uid} failed: {e}");
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Drops a tenant's schema and role whether or not they carry the marker.
/// Holds [`DATABASE_ACL_LOCK`] like tenantdb does, since `DROP OWNED`
/// rewrites the database ACL.
async fn drop_by_hand(pool: &PgPool, uid: &str) -> Result<(), sqlx::Error> {
    let schema = schema_name(uid).expect("test uids are valid");
    let role = role_name(uid).expect("test uids are valid");
    let mut tx = pool.begin().await?;
    // The guard runs while a panicking test's runtime is blocked, perhaps
    // with a transaction of that test still open; waiting for its locks
    // would hang the test instead of failing it.
    sqlx::raw_sql("SET LOCAL lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    lock_database_acl(&mut tx).await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut *tx)
    .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&role)
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

async fn lock_database_acl(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DATABASE_ACL_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// The SQLSTATE of a database error, or a panic naming the unexpected error.
fn sqlstate(result: Result<impl std::fmt::Debug, sqlx::Error>, what: &str) -> String {
    match result {
        Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => panic!("{what}: expected a database error, got {other:?}"),
    }
}

/// Asserts that `sql`, run by a tenant, fails with "insufficient privilege".
async fn assert_denied(conn: &mut PgConnection, sql: &str) {
    let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await;
    assert_eq!(
        sqlstate(result, sql),
        DENIED,
        "a tenant must not be allowed to run {sql:?}"
    );
}

async fn scalar_text(conn: &mut PgConnection, sql: &'static str) -> String {
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql:?} must succeed: {e}"))
}

/// Creates a role and a schema, sees them, finds a second pass changes
/// nothing, drops them and finds dropping again changes nothing.
#[tokio::test]
async fn lifecycle_should_create_observe_converge_and_drop() {
    let mut h = Harness::new().await;
    let tenant = h.provision().await;

    let seen = h.db.observe().await.expect("observe must succeed");
    let schema = &seen.schemas[&tenant.uid];
    assert_eq!(schema.owner, role_name(&tenant.uid).unwrap());
    assert!(schema.owned_by_tenant_role);
    let role = &seen.roles[&tenant.uid];
    assert!(role.can_login && role.has_connect && role.search_path_ok);
    assert!(role.attributes_ok && role.statement_timeout_ok);
    assert_eq!(role.verifier.as_deref(), Some(tenant.verifier.as_str()));
    assert!(role.is_converged(&tenant.verifier));
    assert!(!seen.foreign.iter().any(|name| name.contains(&tenant.uid)));

    // A converged tenant: observing again sees the same, and creating again
    // issues no write.
    let before = h.db.stats();
    h.db.create_role(&tenant.uid, &tenant.verifier)
        .await
        .unwrap();
    h.db.create_schema(&tenant.uid).await.unwrap();
    let again = h.db.observe().await.unwrap();
    assert_eq!(
        again.schemas.get(&tenant.uid),
        seen.schemas.get(&tenant.uid)
    );
    assert_eq!(again.roles.get(&tenant.uid), seen.roles.get(&tenant.uid));
    assert_eq!(
        h.writes_since(before),
        0,
        "a converged tenant needs no write"
    );

    h.db.drop_tenant(&tenant.uid)
        .await
        .expect("drop_tenant must succeed");
    let gone = h.db.observe().await.unwrap();
    assert!(!gone.schemas.contains_key(&tenant.uid));
    assert!(!gone.roles.contains_key(&tenant.uid));
    assert!(!gone.foreign.iter().any(|name| name.contains(&tenant.uid)));

    let before = h.db.stats();
    h.db.drop_tenant(&tenant.uid)
        .await
        .expect("dropping a dropped tenant must succeed");
    assert_eq!(h.writes_since(before), 0, "dropping nothing needs no write");
}

/// Three tenants, each logged in with its own password over TCP: each can
/// use its own schema and nothing else — not the others' schemas, not the
/// platform's tables, not `public`, not TEMP, not roles or databases.
#[tokio::test]
async fn tenants_should_be_isolated_from_each_other_and_the_platform() {
    let mut h = Harness::new().await;
    let [platform_table, public_table] = h.platform_tables().await;
    let tenants = [
        h.provision().await,
        h.provision().await,
        h.provision().await,
    ];

    // Each tenant creates and fills a table in its own schema, unqualified:
    // the search_path must lead there.
    for tenant in &tenants {
        let mut conn = h.connect_tenant(tenant).await;
        assert_eq!(
            scalar_text(&mut conn, "SHOW search_path").await,
            tenant.schema()
        );
        assert_eq!(
            scalar_text(&mut conn, "SELECT current_schema()::text").await,
            tenant.schema()
        );
        sqlx::raw_sql(
            "CREATE TABLE notes (id int PRIMARY KEY, body text); \
             INSERT INTO notes VALUES (1, 'mine'); UPDATE notes SET body = 'still mine'; \
             CREATE INDEX notes_body ON notes (body); CREATE VIEW v AS SELECT * FROM notes",
        )
        .execute(&mut conn)
        .await
        .expect("a tenant must be able to create, write and index tables in its own schema");
        let body: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT body FROM \"{}\".notes WHERE id = 1",
            tenant.schema()
        )))
        .fetch_one(&mut conn)
        .await
        .expect("a tenant must be able to read its own schema");
        assert_eq!(body, "still mine");
    }

    for (i, tenant) in tenants.iter().enumerate() {
        let mut conn = h.connect_tenant(tenant).await;
        for (j, other) in tenants.iter().enumerate() {
            if i == j {
                continue;
            }
            let other = other.schema();
            assert_denied(&mut conn, &format!("SELECT * FROM \"{other}\".notes")).await;
            assert_denied(
                &mut conn,
                &format!("INSERT INTO \"{other}\".notes VALUES (2, 'x')"),
            )
            .await;
            assert_denied(&mut conn, &format!("DELETE FROM \"{other}\".notes")).await;
            assert_denied(
                &mut conn,
                &format!("CREATE TABLE \"{other}\".planted (id int)"),
            )
            .await;
            assert_denied(&mut conn, &format!("DROP TABLE \"{other}\".notes")).await;
            assert_denied(&mut conn, &format!("DROP SCHEMA \"{other}\" CASCADE")).await;
            let other_role = format!("tenant_user_{}", &other["tenant_".len()..]);
            assert_denied(&mut conn, &format!("SET ROLE \"{other_role}\"")).await;
            assert_denied(
                &mut conn,
                &format!("ALTER ROLE \"{other_role}\" PASSWORD 'x'"),
            )
            .await;
        }
        // The platform's tables, in its own schema and in public.
        assert_denied(&mut conn, &format!("SELECT * FROM {platform_table}")).await;
        assert_denied(&mut conn, &format!("SELECT * FROM {public_table}")).await;
        assert_denied(
            &mut conn,
            &format!("INSERT INTO {public_table} VALUES ('x')"),
        )
        .await;
        assert_denied(&mut conn, "CREATE TABLE tenantd.planted (id int)").await;
        // No new objects outside its schema, no TEMP, no escalation.
        assert_denied(&mut conn, "CREATE TABLE public.planted (id int)").await;
        assert_denied(
            &mut conn,
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        )
        .await;
        assert_denied(&mut conn, "CREATE TEMP TABLE scratch (id int)").await;
        assert_denied(&mut conn, "CREATE SCHEMA planted").await;
        assert_denied(&mut conn, "CREATE ROLE planted").await;
        assert_denied(&mut conn, "CREATE DATABASE planted").await;
        assert_denied(&mut conn, "ALTER ROLE CURRENT_USER SUPERUSER").await;
        assert_denied(&mut conn, "ALTER ROLE CURRENT_USER CONNECTION LIMIT -1").await;
        assert_denied(&mut conn, "COPY (SELECT 1) TO PROGRAM 'true'").await;
        assert_denied(&mut conn, "SELECT pg_read_file('PG_VERSION')").await;
        let (superuser, create_role, create_db, inherit): (bool, bool, bool, bool) =
            sqlx::query_as(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolinherit \
                 FROM pg_roles WHERE rolname = current_user",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(!superuser && !create_role && !create_db && !inherit);
    }

    // Nothing any tenant tried landed anywhere.
    let planted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname IN ('planted', 'scratch')")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(planted, 0);
    for tenant in &tenants {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{}\".notes",
            tenant.schema()
        )))
        .fetch_one(&h.pool)
        .await
        .unwrap();
        assert_eq!(
            rows,
            1,
            "no other tenant may have changed {}",
            tenant.schema()
        );
    }
}

/// The role's connection limit and statement timeout are in force, not just
/// recorded.
#[tokio::test]
async fn connection_limit_and_statement_timeout_should_be_enforced() {
    let mut h = Harness::with_config(|config| {
        config.connection_limit = 2;
        config.statement_timeout = Duration::from_secs(1);
    })
    .await;
    let tenant = h.provision().await;

    let mut first = h.connect_tenant(&tenant).await;
    let _second = h.connect_tenant(&tenant).await;
    let third = h.connect_as(&tenant.uid, &tenant.password).await;
    assert_eq!(
        sqlstate(third, "a third connection"),
        TOO_MANY_CONNECTIONS,
        "the role's connection limit of 2 must refuse a third session"
    );

    assert_eq!(
        scalar_text(&mut first, "SHOW statement_timeout").await,
        "1s"
    );
    let started = Instant::now();
    let slow = sqlx::query("SELECT pg_sleep(10)").execute(&mut first).await;
    assert_eq!(sqlstate(slow, "pg_sleep(10)"), CANCELED);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "statement_timeout must cancel the query after about 1 s"
    );
}

/// A schema and a role named like a tenant's but made by hand, without the
/// marker (or with another uid's marker), are reported and never touched.
#[tokio::test]
async fn foreign_objects_should_be_reported_and_left_alone() {
    let mut h = Harness::new().await;
    let uid = h.uid();
    let other_uid = new_uid();
    let schema = schema_name(&uid).unwrap();
    let role = role_name(&uid).unwrap();
    exec(&h.pool, format!("CREATE ROLE \"{role}\" LOGIN")).await;
    exec(
        &h.pool,
        format!(
            "CREATE SCHEMA \"{schema}\" AUTHORIZATION \"{role}\"; \
             CREATE TABLE \"{schema}\".precious (id int); \
             COMMENT ON SCHEMA \"{schema}\" IS 'tenantd:managed uid={other_uid}'"
        ),
    )
    .await;

    let seen = h.db.observe().await.unwrap();
    assert!(seen.foreign.contains(&schema), "{:?}", seen.foreign);
    assert!(seen.foreign.contains(&role), "{:?}", seen.foreign);
    assert!(!seen.schemas.contains_key(&uid) && !seen.roles.contains_key(&uid));

    let before = h.db.stats();
    let verifier = scram_verifier(&generate_password());
    let refusals = [
        h.db.create_role(&uid, &verifier).await,
        h.db.set_password(&uid, &verifier).await,
        h.db.create_schema(&uid).await,
        h.db.drop_tenant(&uid).await,
    ];
    for refusal in refusals {
        assert!(
            matches!(
                refusal,
                Err(Error::Foreign { kind: ObjectKind::Role | ObjectKind::Schema, ref name })
                    if *name == role || *name == schema
            ),
            "tenantdb must refuse foreign objects, got {refusal:?}"
        );
    }
    assert_eq!(h.writes_since(before), 0, "refusals must not write");

    let (schema_comment, role_comment, can_login, precious): (
        Option<String>,
        Option<String>,
        bool,
        bool,
    ) = sqlx::query_as(
        "SELECT obj_description(to_regnamespace($1)::oid, 'pg_namespace'), \
                shobj_description(r.oid, 'pg_authid'), r.rolcanlogin, \
                to_regclass(quote_ident($1) || '.precious') IS NOT NULL \
         FROM pg_roles r WHERE r.rolname = $2",
    )
    .bind(&schema)
    .bind(&role)
    .fetch_one(&h.pool)
    .await
    .expect("the foreign role must still exist");
    assert_eq!(
        schema_comment,
        Some(format!("tenantd:managed uid={other_uid}"))
    );
    assert_eq!(role_comment, None);
    assert!(can_login, "the foreign role must be unchanged");
    assert!(
        precious,
        "the foreign schema and its table must still exist"
    );
}

/// A tenant that rewrites its own schema's comment turns the schema foreign;
/// tenantd then refuses to drop it rather than guess.
#[tokio::test]
async fn tenant_rewriting_its_marker_should_make_drop_refuse_not_destroy() {
    let mut h = Harness::new().await;
    let tenant = h.provision().await;
    let mut conn = h.connect_tenant(&tenant).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "COMMENT ON SCHEMA \"{}\" IS 'mine now'",
        tenant.schema()
    )))
    .execute(&mut conn)
    .await
    .expect("a schema owner can comment on its schema (the documented caveat)");
    drop(conn);

    let seen = h.db.observe().await.unwrap();
    assert!(seen.foreign.contains(&tenant.schema()));
    assert!(seen.roles.contains_key(&tenant.uid));
    let refusal = h.db.drop_tenant(&tenant.uid).await;
    assert!(matches!(
        refusal,
        Err(Error::Foreign {
            kind: ObjectKind::Schema,
            ..
        })
    ));
    let seen = h.db.observe().await.unwrap();
    assert!(
        seen.roles.contains_key(&tenant.uid),
        "the role must not be dropped either"
    );
}

/// A password changed behind tenantd's back shows as a different verifier;
/// `set_password` restores the stored one and the original password works.
#[tokio::test]
async fn password_drift_should_be_observed_and_repaired() {
    let mut h = Harness::new().await;
    let tenant = h.provision().await;
    let role = role_name(&tenant.uid).unwrap();

    exec(
        &h.pool,
        format!("ALTER ROLE \"{role}\" PASSWORD 'changed-by-hand'"),
    )
    .await;
    let seen = h.db.observe().await.unwrap();
    let drifted = seen.roles[&tenant.uid].verifier.as_deref();
    assert!(drifted.is_some(), "a superuser pool must read pg_authid");
    assert_ne!(drifted, Some(tenant.verifier.as_str()));
    assert!(!seen.roles[&tenant.uid].is_converged(&tenant.verifier));
    let refused = h.connect_as(&tenant.uid, &tenant.password).await;
    assert_eq!(
        sqlstate(refused, "login with the original password"),
        BAD_PASSWORD
    );

    h.db.set_password(&tenant.uid, &tenant.verifier)
        .await
        .expect("set_password must succeed on our role");
    let seen = h.db.observe().await.unwrap();
    assert_eq!(
        seen.roles[&tenant.uid].verifier.as_deref(),
        Some(tenant.verifier.as_str())
    );
    let mut conn = h.connect_tenant(&tenant).await;
    assert_eq!(
        scalar_text(&mut conn, "SELECT current_user::text").await,
        role
    );
}

/// Settings a tenant or an operator changed (search_path, statement
/// timeout, connection limit, CONNECT, the schema's owner) are seen as drift
/// and repaired by calling create_* again.
#[tokio::test]
async fn drifted_role_settings_and_schema_owner_should_be_repaired() {
    let mut h = Harness::new().await;
    let tenant = h.provision().await;
    let role = role_name(&tenant.uid).unwrap();
    let schema = tenant.schema();

    // A tenant may change its own role defaults; the rest needs a superuser.
    let mut conn = h.connect_tenant(&tenant).await;
    sqlx::raw_sql(
        "ALTER ROLE CURRENT_USER SET statement_timeout = 0; \
         ALTER ROLE CURRENT_USER SET search_path = public",
    )
    .execute(&mut conn)
    .await
    .expect("a role can change its own defaults (which is why drift is checked)");
    drop(conn);
    let db: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    let mut tx = h.pool.begin().await.unwrap();
    lock_database_acl(&mut tx).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER ROLE \"{role}\" CONNECTION LIMIT 99 CREATEDB; \
         REVOKE CONNECT ON DATABASE \"{db}\" FROM \"{role}\"; \
         ALTER SCHEMA \"{schema}\" OWNER TO CURRENT_USER"
    )))
    .execute(&mut *tx)
    .await
    .expect("an operator's changes must apply");
    tx.commit().await.unwrap();

    let seen = h.db.observe().await.unwrap();
    let observed = &seen.roles[&tenant.uid];
    assert!(!observed.statement_timeout_ok && !observed.search_path_ok);
    assert!(!observed.attributes_ok && !observed.has_connect);
    assert!(!seen.schemas[&tenant.uid].owned_by_tenant_role);

    h.db.create_role(&tenant.uid, &tenant.verifier)
        .await
        .unwrap();
    h.db.create_schema(&tenant.uid).await.unwrap();
    let seen = h.db.observe().await.unwrap();
    assert!(seen.roles[&tenant.uid].is_converged(&tenant.verifier));
    assert!(seen.schemas[&tenant.uid].owned_by_tenant_role);
    let mut conn = h.connect_tenant(&tenant).await;
    assert_eq!(scalar_text(&mut conn, "SHOW search_path").await, schema);
    assert_eq!(
        scalar_text(&mut conn, "SHOW statement_timeout").await,
        "30s"
    );
}

/// A backup is a complete custom-format dump that `pg_restore --list` reads,
/// under its final name only, private to its owner.
#[tokio::test]
async fn backup_should_write_a_custom_format_dump_that_pg_restore_reads() {
    let mut h = Harness::new().await;
    let tenant = h.provision().await;
    let mut conn = h.connect_tenant(&tenant).await;
    sqlx::raw_sql(
        "CREATE TABLE interviews (id int, answer text); \
         INSERT INTO interviews SELECT g, 'answer ' || g FROM generate_series(1, 500) g",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);

    let path =
        h.db.backup(&tenant.uid, "acme-lab")
            .await
            .expect("backup must succeed");
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(path.parent(), Some(h.guard.backup_dir.as_path()));
    assert!(
        name.starts_with(&format!("acme-lab-{}-", tenant.uid)) && name.ends_with("Z.dump"),
        "{name}"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.starts_with(b"PGDMP"),
        "a custom-format dump starts with PGDMP"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = std::fs::read_dir(&h.guard.backup_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|file| file.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let pg_restore = find_pg_binary("pg_restore").expect("pg_restore must be installed");
    let listing = tokio::process::Command::new(pg_restore)
        .arg("--list")
        .arg(&path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.status.success(),
        "pg_restore --list failed: {}",
        String::from_utf8_lossy(&listing.stderr)
    );
    assert!(
        stdout.contains(&format!("TABLE DATA {} interviews", tenant.schema())),
        "{stdout}"
    );

    let missing = h.db.backup(&new_uid(), "acme-lab").await;
    assert!(
        matches!(missing, Err(Error::SchemaMissing { .. })),
        "{missing:?}"
    );
    let bad_name = h.db.backup(&tenant.uid, "../etc").await;
    assert!(
        matches!(bad_name, Err(Error::InvalidTenantName { .. })),
        "{bad_name:?}"
    );
}

/// Observing writes nothing; the counters see every write.
#[tokio::test]
async fn stats_should_count_writes_and_observe_should_write_nothing() {
    let mut h = Harness::new().await;
    let db = TenantDb::new(h.pool.clone(), h.db.config().clone());
    assert_eq!(db.stats(), DbCallStats::default());
    db.observe().await.unwrap();
    db.observe().await.unwrap();
    let after_observe = db.stats();
    assert_eq!(after_observe.writes, 0, "observe must not write");
    assert_eq!(
        after_observe.reads, 5,
        "one session query, then two per observe"
    );

    db.prepare_database().await.unwrap();
    assert_eq!(
        db.stats().writes,
        0,
        "a hardened database needs no hardening"
    );

    let uid = h.uid();
    let verifier = scram_verifier(&generate_password());
    db.create_role(&uid, &verifier).await.unwrap();
    db.create_schema(&uid).await.unwrap();
    let created = db.stats().writes;
    assert_eq!(
        created, 7,
        "five statements for the role, two for the schema"
    );
    db.drop_tenant(&uid).await.unwrap();
    assert!(db.stats().writes > created);
}

/// Dropping a tenant ends its open sessions instead of waiting on them.
#[tokio::test]
async fn drop_tenant_should_end_open_tenant_sessions() {
    let mut h = Harness::new().await;
    let tenant = h.provision().await;
    let mut conn = h.connect_tenant(&tenant).await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql("CREATE TABLE held (id int); LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();

    let started = Instant::now();
    h.db.drop_tenant(&tenant.uid)
        .await
        .expect("drop_tenant must not be blocked by the tenant's own sessions");
    assert!(started.elapsed() < Duration::from_secs(8));
    let dead = sqlx::query("SELECT 1").execute(&mut *tx).await;
    assert!(
        dead.is_err(),
        "the tenant's session must have been terminated"
    );
    let seen = h.db.observe().await.unwrap();
    assert!(!seen.roles.contains_key(&tenant.uid) && !seen.schemas.contains_key(&tenant.uid));
}

/// Parallel reconciles of different tenants all grant and revoke CONNECT on
/// the same database; none of them may fail for it.
#[tokio::test]
async fn parallel_tenants_should_not_conflict_on_the_database_acl() {
    let mut h = Harness::new().await;
    let uids: Vec<String> = (0..8).map(|_| h.uid()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for uid in uids.clone() {
        let db = h.db.clone();
        tasks.spawn(async move {
            let verifier = scram_verifier(&generate_password());
            db.create_role(&uid, &verifier).await?;
            db.create_schema(&uid).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("parallel creates must all succeed");
    }
    let seen = h.db.observe().await.unwrap();
    for uid in &uids {
        assert!(seen.roles[uid].has_connect && seen.schemas.contains_key(uid));
    }
    for uid in uids.clone() {
        let db = h.db.clone();
        tasks.spawn(async move { db.drop_tenant(&uid).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("parallel drops must all succeed");
    }
    let seen = h.db.observe().await.unwrap();
    assert!(uids.iter().all(|uid| !seen.roles.contains_key(uid)));
}

/// Bad input is refused before any query reaches the server.
#[tokio::test]
async fn invalid_input_should_be_refused_before_any_query() {
    let h = Harness::new().await;
    let db = TenantDb::new(h.pool.clone(), h.db.config().clone());
    let verifier = scram_verifier("pw");
    for bad in [
        "",
        "UPPERCASE0123456789ABCDEF0123456",
        "x\"; DROP ROLE tenantd; --",
    ] {
        assert!(matches!(
            db.create_role(bad, &verifier).await,
            Err(Error::InvalidUid { .. })
        ));
        assert!(matches!(
            db.create_schema(bad).await,
            Err(Error::InvalidUid { .. })
        ));
        assert!(matches!(
            db.drop_tenant(bad).await,
            Err(Error::InvalidUid { .. })
        ));
        assert!(matches!(
            db.backup(bad, "a").await,
            Err(Error::InvalidUid { .. })
        ));
    }
    let plain = db.create_role(&new_uid(), "a plain password").await;
    assert!(matches!(plain, Err(Error::InvalidVerifier)), "{plain:?}");
    assert_eq!(db.stats(), DbCallStats::default());
}
