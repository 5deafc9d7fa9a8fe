//! The app's tenant database: one short-lived connection per request to the
//! `DATABASE_URL` it was given, and the `probe` table in its own schema.
//!
//! A connection per request is slow but truthful: a request made after the
//! role's password was rotated or its schema dropped fails at once, instead
//! of succeeding on a connection opened earlier.

use std::env;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use serde_json::{Value, json};

/// Serialises `CREATE TABLE IF NOT EXISTS`: two of them racing in one
/// database can both pass the existence check and one then fails on the
/// catalog's unique index.
static CREATE_LOCK: Mutex<()> = Mutex::new(());

/// An error message for the JSON `error` field.
pub type Error = String;

/// Who the app is connected as; reported even when a later step fails.
pub struct Identity {
    pub user: String,
    /// `current_schema()`: the first schema of the role's search_path that
    /// exists, or `None` if none does.
    pub schema: Option<String>,
    pub database: String,
}

/// Connects with `DATABASE_URL`.
///
/// # Errors
/// Fails when the variable is unset or unparsable, or the connection or
/// authentication fails (5 s connect timeout unless the URL sets one).
pub fn connect() -> Result<Client, Error> {
    let url = env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set".to_owned())?;
    let mut config =
        Config::from_str(&url).map_err(|e| format!("bad DATABASE_URL: {}", chain(&e)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_application_name().is_none() {
        config.application_name("tenantd-testapp");
    }
    config
        .connect(NoTls)
        .map_err(|e| format!("connect: {}", chain(&e)))
}

/// Reports the connection's user, schema and database.
pub fn identity(client: &mut Client) -> Result<Identity, Error> {
    let row = client
        .query_one(
            "SELECT current_user::text, current_schema()::text, current_database()::text",
            &[],
        )
        .map_err(|e| format!("identity: {}", chain(&e)))?;
    Ok(Identity {
        user: row.get(0),
        schema: row.get(1),
        database: row.get(2),
    })
}

/// Creates `probe` in the current schema if it is not there yet.
pub fn ensure_table(client: &mut Client) -> Result<(), Error> {
    let _guard = CREATE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS probe (\
                id serial PRIMARY KEY, \
                note text, \
                at timestamptz DEFAULT now())",
        )
        .map_err(|e| format!("create table probe: {}", chain(&e)))
}

/// The number of rows in `probe`.
pub fn count_rows(client: &mut Client) -> Result<i64, Error> {
    let row = client
        .query_one("SELECT count(*) FROM probe", &[])
        .map_err(|e| format!("count rows: {}", chain(&e)))?;
    Ok(row.get(0))
}

/// Inserts a row and returns its id.
pub fn insert_row(client: &mut Client, note: Option<&str>) -> Result<i32, Error> {
    let row = client
        .query_one(
            "INSERT INTO probe (note) VALUES ($1) RETURNING id",
            &[&note],
        )
        .map_err(|e| format!("insert row: {}", chain(&e)))?;
    Ok(row.get(0))
}

/// All rows of `probe`, oldest first, as `[{"id","note","at"}]`.
pub fn list_rows(client: &mut Client) -> Result<Value, Error> {
    let rows = client
        .query("SELECT id, note, at::text FROM probe ORDER BY id", &[])
        .map_err(|e| format!("list rows: {}", chain(&e)))?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: i32 = r.get(0);
            let note: Option<String> = r.get(1);
            let at: Option<String> = r.get(2);
            json!({"id": id, "note": note, "at": at})
        })
        .collect())
}

/// The error and its sources, joined with `: ` (postgres' own `Display`
/// omits the server's message for some kinds).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
