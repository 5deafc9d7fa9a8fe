//! A container's output (stdout and stderr) from Docker's logs endpoint, as a stream of
//! chunks the caller can forward as they come.
//!
//! # Guarantees
//! - Every call is counted as the read operation `logs`.
//! - The stream owns everything it needs (`'static`): dropping it closes the engine
//!   connection, so a client that goes away stops the read.
//! - With `follow`, the engine ends the stream when the container stops or is removed.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures::{Stream, StreamExt};

use super::{Engine, Error, Result, engine_message, status_code};

/// What to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRequest {
    /// Keep the stream open and send new output as it is written.
    pub follow: bool,
    /// Only the last this many lines (of those since `since`); all when `None`.
    pub tail: Option<u32>,
    /// Only output written at or after this Unix time (seconds).
    pub since: Option<i32>,
    /// Prefix every line with the engine's RFC 3339 timestamp.
    pub timestamps: bool,
}

/// Which of the container's outputs a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Stdout,
    Stderr,
}

impl LogSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
        }
    }
}

/// One piece of output; for containers without a TTY, one line including its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub source: LogSource,
    pub bytes: Vec<u8>,
}

impl Engine {
    /// The output of container `id` (an id from the cache).
    ///
    /// # Errors
    /// Items are [`Error::NoSuchContainer`] when the engine does not know the id (the first
    /// item), [`Error::Read`] for other failures; the stream ends after an error.
    pub fn logs(
        &self,
        id: &str,
        request: &LogRequest,
    ) -> impl Stream<Item = Result<LogChunk>> + Send + use<> {
        self.count("logs", false);
        let options = LogsOptions {
            follow: request.follow,
            stdout: true,
            stderr: true,
            since: request.since.unwrap_or(0),
            until: 0,
            timestamps: request.timestamps,
            tail: request
                .tail
                .map_or_else(|| "all".to_owned(), |n| n.to_string()),
        };
        let id = id.to_owned();
        self.docker
            .logs(&id, Some(options))
            .filter_map(|item| async move {
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        Some(Ok(LogChunk {
                            source: LogSource::Stdout,
                            bytes: message.to_vec(),
                        }))
                    }
                    Ok(LogOutput::StdErr { message }) => Some(Ok(LogChunk {
                        source: LogSource::Stderr,
                        bytes: message.to_vec(),
                    })),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .map(move |item| {
                item.map_err(|e| match status_code(&e) {
                    Some(404) => Error::NoSuchContainer { id: id.clone() },
                    _ => Error::Read {
                        what: "logs",
                        id: id.clone(),
                        message: engine_message(&e),
                    },
                })
            })
            // Stop after the first error instead of passing on whatever follows it.
            .scan(false, |failed, item| {
                let next = (!*failed).then(|| {
                    *failed = item.is_err();
                    item
                });
                futures::future::ready(next)
            })
    }
}
