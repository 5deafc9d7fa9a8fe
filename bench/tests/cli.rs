//! The harness's command line as `./scripts/bench` and people call it: a `--help` that names
//! the sizes, scenarios and contenders, and bad options refused, naming the choices, before
//! anything touches Docker or Postgres.
//!
//! Being an integration test, this also makes `cargo test --workspace` build the harness's
//! binary, which `./scripts/test` then hands to `./scripts/bench --prebuilt` for the smoke run.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantd-bench"))
        .args(args)
        // Required by the harness; never connected to by these runs.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/unused")
        .output()
        .expect("running tenantd-bench")
}

#[test]
fn help_names_the_sizes_scenarios_and_contenders() {
    let out = bench(&["--help"]);
    assert!(out.status.success(), "--help exits 0");
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "smoke",
        "small",
        "medium",
        "full",
        "--scenarios",
        "--contenders",
        "--scale",
        "--runs",
        "converge",
        "heal",
        "compose",
        "swarm",
        "floor",
    ] {
        assert!(help.contains(word), "--help mentions {word}:\n{help}");
    }
}

#[test]
fn an_unknown_size_is_refused_with_the_possible_values() {
    let out = bench(&["--size", "huge"]);
    assert!(!out.status.success(), "an unknown size fails");
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(
        error.contains("huge") && error.contains("small") && error.contains("full"),
        "the error names the value and the choices:\n{error}"
    );
}

#[test]
fn an_unknown_scenario_is_refused_with_the_possible_values() {
    let out = bench(&["--scenarios", "converge,teleport"]);
    assert!(!out.status.success(), "an unknown scenario fails");
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(
        error.contains("teleport") && error.contains("noop"),
        "the error names the value and the choices:\n{error}"
    );
}
