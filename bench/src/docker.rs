//! What every contender shares on the engine side: one way to wait for "N containers running
//! and healthy", label-scoped removal of containers and networks, and running the real tools
//! (`docker`, `docker-compose`) as child processes with argument vectors (never a shell).
//!
//! # Guarantees
//! - The waiter is the same for every contender: one `list_containers` call per poll, filtered
//!   by a label and by `health=healthy`, so waiting costs every contender the same.
//! - [`StartWatch`] times "all started" from the event stream, the same for every contender
//!   and without polling.
//! - Removal only ever targets containers carrying a given label and networks whose name
//!   starts with [`crate::workload::NAME_PREFIX`].

use std::collections::HashMap;
use std::ffi::OsStr;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerSummary;
use bollard::query_parameters::{
    EventsOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use futures::StreamExt;

use crate::workload::NAME_PREFIX;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the Docker engine: {0}")]
    Connect(#[source] bollard::errors::Error),
    #[error("listing {what} failed: {source}")]
    List {
        what: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("only {healthy} of {wanted} containers labelled {label} were healthy after {waited:?}")]
    NotHealthy {
        label: String,
        wanted: usize,
        healthy: usize,
        waited: Duration,
    },
    #[error("cannot run {program}: {source} (is it installed? ./scripts/bench installs it)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program} {args}` did not finish within {waited:?}; killed it")]
    Hung {
        program: String,
        args: String,
        waited: Duration,
    },
    #[error("`{program} {args}` failed ({status}): {stderr}")]
    Tool {
        program: String,
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many of a failed tool's last stderr lines its error keeps: the cause is at the end,
/// and `docker-compose up` of 500 services prints a line per container before it.
const TOOL_ERROR_LINES: usize = 8;

/// The last `keep` non-empty lines of `text`, after a line saying how many were left out.
fn tail_of(text: &str, keep: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let skipped = lines.len().saturating_sub(keep);
    let tail = lines[skipped..].join("\n");
    if skipped == 0 {
        tail
    } else {
        format!("({skipped} earlier lines left out)\n{tail}")
    }
}

/// The longest one CLI call (`docker-compose up`, `docker service create`) may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(600);

/// How often the waiter lists containers.
const POLL: Duration = Duration::from_millis(100);

pub async fn connect() -> Result<Docker> {
    Docker::connect_with_defaults()
        .map_err(Error::Connect)?
        // The engine here may be older than bollard's default API version.
        .negotiate_version()
        .await
        .map_err(Error::Connect)
}

fn label_filter(label: &str, extra: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    let mut filters = HashMap::from([("label".to_owned(), vec![label.to_owned()])]);
    for (key, value) in extra {
        filters
            .entry((*key).to_owned())
            .or_default()
            .push((*value).to_owned());
    }
    filters
}

/// Containers (running or not) carrying `label`.
pub async fn container_ids(docker: &Docker, label: &str) -> Result<Vec<String>> {
    let list = list_labelled(docker, label, true, &[]).await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Running containers carrying `label` whose health check passed.
pub async fn count_healthy(docker: &Docker, label: &str) -> Result<usize> {
    let healthy = [("health", "healthy"), ("status", "running")];
    Ok(list_labelled(docker, label, false, &healthy).await?.len())
}

/// One `list_containers` call for `label` (`key=value` or `key`) and `extra` filters (a
/// further `("label", …)` narrows by that label too); `all` includes containers that are not
/// running.
pub async fn list_labelled(
    docker: &Docker,
    label: &str,
    all: bool,
    extra: &[(&str, &str)],
) -> Result<Vec<ContainerSummary>> {
    let options = ListContainersOptions {
        all,
        filters: Some(label_filter(label, extra)),
        ..Default::default()
    };
    docker
        .list_containers(Some(options))
        .await
        .map_err(|source| Error::List {
            what: "containers",
            source,
        })
}

/// Times, from Docker's event stream, when `wanted` distinct containers labelled `label` have
/// started: converge's "all running", apart from the wait for the first health check (Docker
/// 20.10 runs it one interval after the start, and the interval grows with N). Events cost no
/// polling, so watching changes nothing for the contender being watched.
pub struct StartWatch {
    task: tokio::task::JoinHandle<Option<Duration>>,
}

impl StartWatch {
    /// Starts watching; call it right before the contender's first write. Events from the
    /// current second on are replayed (`since`), so a start that beats the subscription counts.
    pub fn start(docker: &Docker, label: &str, wanted: usize) -> StartWatch {
        let started = Instant::now();
        let since = chrono::Utc::now().timestamp();
        let options = EventsOptions {
            since: Some(since.to_string()),
            filters: Some(HashMap::from([
                ("type".to_owned(), vec!["container".to_owned()]),
                ("event".to_owned(), vec!["start".to_owned()]),
                ("label".to_owned(), vec![label.to_owned()]),
            ])),
            ..Default::default()
        };
        let docker = docker.clone();
        let task = tokio::spawn(async move {
            let mut events = docker.events(Some(options));
            let mut seen = std::collections::HashSet::new();
            while let Some(Ok(event)) = events.next().await {
                if let Some(id) = event.actor.and_then(|a| a.id) {
                    seen.insert(id);
                }
                if seen.len() >= wanted {
                    return Some(started.elapsed());
                }
            }
            None
        });
        StartWatch { task }
    }

    /// When the `wanted`th container started, or `None` if that was not seen within a second
    /// of the caller's converge finishing (the stream broke, or fewer started).
    pub async fn finish(self) -> Option<Duration> {
        let abort = self.task.abort_handle();
        match tokio::time::timeout(Duration::from_secs(1), self.task).await {
            Ok(Ok(took)) => took,
            _ => {
                abort.abort();
                None
            }
        }
    }
}

/// Polls until at least `wanted` containers labelled `label` run and are healthy.
pub async fn wait_healthy(
    docker: &Docker,
    label: &str,
    wanted: usize,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut progress = Progress::new();
    loop {
        let healthy = count_healthy(docker, label).await?;
        if healthy >= wanted {
            return Ok(());
        }
        progress.tick(healthy, wanted, "healthy");
        if started.elapsed() > timeout {
            return Err(Error::NotHealthy {
                label: label.to_owned(),
                wanted,
                healthy,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A line on stderr every [`Progress::EVERY`] while a long wait goes on, so a run of
/// hundreds of tenants is visibly alive.
pub struct Progress {
    started: Instant,
    last: Instant,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(10);

    pub fn new() -> Progress {
        let now = Instant::now();
        Progress {
            started: now,
            last: now,
        }
    }

    pub fn tick(&mut self, done: usize, wanted: usize, what: &str) {
        if self.last.elapsed() >= Self::EVERY {
            self.last = Instant::now();
            eprintln!(
                "    … {done} of {wanted} {what} after {:.0} s",
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Force-removes every container carrying `label`, a few at a time. Idempotent; errors of
/// single removals are ignored (a container may vanish meanwhile), the listing's are not.
pub async fn remove_containers(docker: &Docker, label: &str) -> Result<usize> {
    let ids = container_ids(docker, label).await?;
    let removed = ids.len();
    futures::stream::iter(ids)
        .for_each_concurrent(8, |id| async move {
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            let _ = docker.remove_container(&id, Some(options)).await;
        })
        .await;
    Ok(removed)
}

/// Removes networks whose name starts with `prefix`, which must itself start with
/// [`NAME_PREFIX`]: the harness never removes a network it did not name. Returns the names
/// of those the engine kept (it still held endpoints on them after about 20 s).
pub async fn remove_networks(docker: &Docker, prefix: &str) -> Result<Vec<String>> {
    assert!(
        prefix.starts_with(NAME_PREFIX),
        "only the harness's own networks are removed"
    );
    let options = ListNetworksOptions {
        filters: Some(HashMap::from([(
            "name".to_owned(),
            vec![prefix.to_owned()],
        )])),
    };
    let networks = docker
        .list_networks(Some(options))
        .await
        .map_err(|source| Error::List {
            what: "networks",
            source,
        })?;
    let mut kept = Vec::new();
    for network in networks {
        // The name filter matches substrings; check the prefix, and remove by id (engines
        // before API 1.44 allow two networks with one name).
        let (Some(name), Some(id)) = (network.name, network.id) else {
            continue;
        };
        if name.starts_with(prefix) && !remove_network_by_id(docker, &id).await {
            kept.push(name);
        }
    }
    Ok(kept)
}

/// Removes the network named exactly `name` (one of the harness's), if it exists. Returns
/// whether it is gone (false: the engine still held endpoints on it after about 20 s).
pub async fn remove_network(docker: &Docker, name: &str) -> Result<bool> {
    assert!(
        name.starts_with(NAME_PREFIX),
        "only the harness's own networks are removed"
    );
    let options = ListNetworksOptions {
        filters: Some(HashMap::from([("name".to_owned(), vec![name.to_owned()])])),
    };
    let networks = docker
        .list_networks(Some(options))
        .await
        .map_err(|source| Error::List {
            what: "networks",
            source,
        })?;
    let mut gone = true;
    for network in networks {
        if let (Some(found), Some(id)) = (network.name, network.id)
            && found == name
        {
            gone &= remove_network_by_id(docker, &id).await;
        }
    }
    Ok(gone)
}

/// Removes a network, waiting out "has active endpoints": a busy engine detaches the
/// containers just removed a little later. Gives up after about 20 s and returns false (the
/// sweep at the end tries again); true when it is removed or was not there.
async fn remove_network_by_id(docker: &Docker, id: &str) -> bool {
    for _ in 0..40 {
        match docker.remove_network(id).await {
            Err(e) if e.to_string().contains("active endpoints") => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => return true,
        }
    }
    false
}

/// Runs `program` with `args` and returns its stdout; a failure carries its stderr.
pub async fn run_tool<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_tool_with_env(program, args, &[]).await
}

/// [`run_tool`] with `env` added to the harness's environment.
pub async fn run_tool_with_env<I, S>(
    program: &str,
    args: I,
    env: &[(&str, String)],
) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let joined = || {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let running = tokio::process::Command::new(program)
        .args(&args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        // On timeout the future is dropped, and with it the child.
        .kill_on_drop(true)
        .output();
    // docker-compose 1.29 deadlocked in `up -d` of 100 services (all its threads waiting on
    // a futex for 14 minutes; see compose::parallel_limit): a tool that hangs fails the
    // attempt, not the run.
    let output = tokio::time::timeout(TOOL_TIMEOUT, running)
        .await
        .map_err(|_| Error::Hung {
            program: program.to_owned(),
            args: joined(),
            waited: TOOL_TIMEOUT,
        })?
        .map_err(|source| Error::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Tool {
            program: program.to_owned(),
            args: joined(),
            status: output.status,
            stderr: tail_of(&String::from_utf8_lossy(&output.stderr), TOOL_ERROR_LINES),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_tool_keeps_its_last_lines_and_says_how_many_it_left_out() {
        let output = "Creating t0 ...\n\nCreating t1 ...\nERROR: read timed out\nhint: raise it\n";
        assert_eq!(
            tail_of(output, 2),
            "(2 earlier lines left out)\nERROR: read timed out\nhint: raise it"
        );
        assert_eq!(tail_of("one\ntwo", 8), "one\ntwo");
    }
}
