//! `tenantd logs NAME [-f] [--tail N] [--since D]`: the tenant container's output, copied to
//! standard output as the server streams it.

use std::io::Write;

use super::client::Client;

/// Which lines.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Keep streaming until the container stops or the user interrupts.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u64>,
    /// Only output since then: a duration back from now (`10m`) or an RFC 3339 time.
    pub since: Option<String>,
}

impl Query {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(tail) = self.tail {
            params.push(("tail", tail.to_string()));
        }
        if let Some(since) = &self.since {
            params.push(("since", since.clone()));
        }
        if self.follow {
            params.push(("follow", "true".to_owned()));
        }
        params
    }
}

pub async fn run(client: &Client, name: &str, query: &Query) -> anyhow::Result<()> {
    let path = format!("/tenants/{}/logs", name);
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        anyhow::bail!("{name:?} is not a tenant name; `tenantd get` lists the tenants");
    }
    let mut response = client.stream(&path, &query.params()).await?;
    let mut stdout = std::io::stdout().lock();
    while let Some(bytes) = client.chunk(&mut response).await? {
        if let Err(e) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
            // The reader went away (`tenantd logs x | head`): that is the end, not an error.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_options_are_sent() {
        assert!(Query::default().params().is_empty());
        let query = Query {
            follow: true,
            tail: Some(10),
            since: Some("5m".into()),
        };
        assert_eq!(
            query.params(),
            [
                ("tail", "10".to_owned()),
                ("since", "5m".to_owned()),
                ("follow", "true".to_owned())
            ]
        );
    }
}
