//! `tenantd-testapp`: the tenant app that tenantd's real-world tests run, one
//! container per tenant, from the `FROM scratch` image `tenantd-testapp`.
//!
//! Usage: `testapp` serves HTTP on `0.0.0.0:$PORT` (default 8080);
//! `testapp healthcheck` asks `http://127.0.0.1:$PORT/healthz` and exits 0
//! if it answered 200, 1 otherwise (the image's `HEALTHCHECK`);
//! `testapp version` prints the version (a smoke test of the image).
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 `ok`, without touching the database |
//! | `GET /status` | creates `probe` if needed; `{"ok":true,"user","schema","database","rows","env":{..}}`, or 500 `{"ok":false,"error",..}` |
//! | `POST /rows?note=TEXT` | inserts a row; `{"ok":true,"id":N}` |
//! | `GET /rows` | `{"ok":true,"rows":[{"id","note","at"}]}` |
//! | `GET /env?key=NAME` | 200 with the variable's value, 404 if unset |
//!
//! It logs one line at start (`testapp listening on ...`) and one per request
//! to stdout (except the image's own health checks: `/healthz` from
//! loopback), and exits 0 at once on SIGTERM or SIGINT.
//!
//! The binary is linked statically against glibc (see
//! `scripts/build-test-image`). glibc warns at link time that a static
//! `getaddrinfo` needs its shared NSS libraries at run time, but with
//! glibc 2.36 (Debian 12) in the scratch image every form of DATABASE_URL
//! host was seen to work: an IP address (parsed without a lookup), a name
//! from the container's `/etc/hosts` (`--add-host`, including
//! `host.docker.internal:host-gateway`), and a container name answered by
//! Docker's embedded DNS on a user-defined network.

mod db;
mod http;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use std::{env, thread};

use serde_json::json;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::http::{Request, Response};

const DEFAULT_PORT: u16 = 8080;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let port = match port() {
        Ok(port) => port,
        Err(msg) => {
            eprintln!("testapp: {msg}");
            return ExitCode::from(2);
        }
    };
    match env::args().nth(1).as_deref() {
        None | Some("serve") => serve(port),
        Some("healthcheck") => healthcheck(port),
        Some("version") => {
            println!("tenantd-testapp {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!(
                "testapp: unknown subcommand {other:?}; usage: testapp [serve|healthcheck|version]"
            );
            ExitCode::from(2)
        }
    }
}

/// `$PORT`, or [`DEFAULT_PORT`] when unset or empty.
fn port() -> Result<u16, String> {
    match env::var("PORT") {
        Ok(p) if !p.is_empty() => p
            .parse()
            .map_err(|_| format!("PORT={p:?} is not a port number")),
        _ => Ok(DEFAULT_PORT),
    }
}

fn healthcheck(port: u16) -> ExitCode {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match http::get_status(addr, "/healthz", Duration::from_secs(2)) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("healthcheck: /healthz answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(port: u16) -> ExitCode {
    // As PID 1 the process has no default action for SIGTERM/SIGINT, so
    // without this `docker stop` would wait out its grace period and SIGKILL.
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("testapp: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = if signal == SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            println!("testapp got {name}, exiting");
            std::process::exit(0);
        }
    });

    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = match TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("testapp: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("testapp listening on {addr} (pid {})", std::process::id());

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || handle_connection(stream));
            }
            Err(e) => eprintln!("testapp: accept: {e}"),
        }
    }
    ExitCode::SUCCESS
}

fn handle_connection(stream: TcpStream) {
    let started = Instant::now();
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    // Errors here only affect this one request: log them and go on.
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let request = match http::read_request(&stream) {
        Ok(request) => request,
        Err(e) => {
            println!("bad request from {peer}: {e}");
            let _ =
                http::write_response(&stream, &Response::text(400, format!("bad request: {e}")));
            return;
        }
    };
    let response = route(&request);
    // The image's HEALTHCHECK asks every 2 s from inside the container; its
    // lines would bury the ones the tests look for.
    let is_healthcheck =
        request.path == "/healthz" && stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    if !is_healthcheck {
        println!(
            "{} {} -> {} ({} ms) from {peer}",
            request.method,
            request.path,
            response.status,
            started.elapsed().as_millis()
        );
    }
    if let Err(e) = http::write_response(&stream, &response) {
        println!("write response to {peer}: {e}");
    }
}

fn route(req: &Request) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/healthz") => Response::text(200, "ok"),
        ("GET", "/status") => status(),
        ("POST", "/rows") => insert_row(req.param("note")),
        ("GET", "/rows") => list_rows(),
        ("GET", "/env") => env_var(req.param("key")),
        (_, "/healthz" | "/status" | "/rows" | "/env") => Response::text(405, "method not allowed"),
        _ => Response::text(404, "not found"),
    }
}

fn status() -> Response {
    let env = json!({
        "DATABASE_SCHEMA": env::var("DATABASE_SCHEMA").ok(),
        "PUBLIC_URL": env::var("PUBLIC_URL").ok(),
    });
    let mut client = match db::connect() {
        Ok(client) => client,
        Err(error) => return Response::json(500, json!({"ok": false, "error": error, "env": env})),
    };
    let me = match db::identity(&mut client) {
        Ok(me) => me,
        Err(error) => return Response::json(500, json!({"ok": false, "error": error, "env": env})),
    };
    let rows = db::ensure_table(&mut client).and_then(|()| db::count_rows(&mut client));
    match rows {
        Ok(rows) => Response::json(
            200,
            json!({
                "ok": true,
                "user": me.user,
                "schema": me.schema,
                "database": me.database,
                "rows": rows,
                "env": env,
            }),
        ),
        Err(error) => Response::json(
            500,
            json!({
                "ok": false,
                "error": error,
                "user": me.user,
                "schema": me.schema,
                "database": me.database,
                "env": env,
            }),
        ),
    }
}

fn insert_row(note: Option<&str>) -> Response {
    let result = db::connect().and_then(|mut client| {
        db::ensure_table(&mut client)?;
        db::insert_row(&mut client, note)
    });
    match result {
        Ok(id) => Response::json(200, json!({"ok": true, "id": id})),
        Err(error) => Response::json(500, json!({"ok": false, "error": error})),
    }
}

fn list_rows() -> Response {
    let result = db::connect().and_then(|mut client| {
        db::ensure_table(&mut client)?;
        db::list_rows(&mut client)
    });
    match result {
        Ok(rows) => Response::json(200, json!({"ok": true, "rows": rows})),
        Err(error) => Response::json(500, json!({"ok": false, "error": error})),
    }
}

fn env_var(key: Option<&str>) -> Response {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Response::text(400, "missing query parameter: key");
    };
    match env::var_os(key) {
        Some(value) => Response::text(200, value.to_string_lossy()),
        None => Response::text(404, format!("{key} is not set")),
    }
}
