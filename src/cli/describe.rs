//! `tenantd describe NAME`: one tenant for a person — spec, status, conditions and the most
//! recent events of its deployment log.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::client::{Client, Event};
use super::get::phase;
use super::output::{Paint, Table, age};
use crate::resource::{ConditionStatus, Tenant};

pub async fn run(client: &Client, name: &str, events: u32) -> anyhow::Result<()> {
    let tenant = client.get(name).await?;
    let events = client.events(name, events).await?;
    print!("{}", render(&tenant, &events, Utc::now(), Paint::stdout()));
    Ok(())
}

/// The description as text.
pub fn render(tenant: &Tenant, events: &[Event], now: DateTime<Utc>, paint: Paint) -> String {
    let mut out = String::new();
    let meta = &tenant.metadata;
    let spec = &tenant.spec;
    let when = |t: DateTime<Utc>| {
        format!(
            "{} ({} ago)",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            age(t, now)
        )
    };
    let field = |out: &mut String, indent: &str, label: &str, value: &str| {
        // Values line up whatever the indentation.
        let width = 22 - indent.len();
        let _ = writeln!(out, "{indent}{:<width$}{value}", format!("{label}:"));
    };
    field(&mut out, "", "Name", &meta.name);
    let labels: Vec<String> = meta
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    field(
        &mut out,
        "",
        "Labels",
        &if labels.is_empty() {
            "<none>".to_owned()
        } else {
            labels.join(", ")
        },
    );
    field(&mut out, "", "UID", meta.uid.as_deref().unwrap_or("<none>"));
    if let Some(created) = meta.creation_timestamp {
        field(&mut out, "", "Created", &when(created));
    }
    let observed = tenant.status.as_ref().map(|s| s.observed_generation);
    field(
        &mut out,
        "",
        "Generation",
        &format!(
            "{} (status is for {})",
            meta.generation.unwrap_or(0),
            observed.map_or("none yet".to_owned(), |o| o.to_string())
        ),
    );
    if let Some(source) = &meta.source {
        field(
            &mut out,
            "",
            "Managed by",
            &format!(
                "{} (the specs/ directory; edit the file to change it)",
                source.trim_start_matches("file:")
            ),
        );
    }
    if let Some(owner) = &meta.owner {
        field(&mut out, "", "Owner", owner);
    }
    if let Some(deleting) = meta.deletion_timestamp {
        field(&mut out, "", "Deletion requested", &when(deleting));
    }

    let _ = writeln!(out, "{}", paint.bold("Spec:"));
    let subdomain = match &spec.subdomain {
        Some(s) => s.clone(),
        None => format!("{} (the name)", meta.name),
    };
    field(&mut out, "  ", "Subdomain", &subdomain);
    field(
        &mut out,
        "  ",
        "Image",
        spec.image.as_deref().unwrap_or("<the platform default>"),
    );
    field(
        &mut out,
        "  ",
        "Image pull policy",
        &format!("{:?}", spec.image_pull_policy),
    );
    field(&mut out, "  ", "State", &format!("{:?}", spec.state));
    let resources = &spec.resources;
    let or_default = |v: Option<String>| v.unwrap_or_else(|| "default".to_owned());
    field(
        &mut out,
        "  ",
        "Resources",
        &format!(
            "memory {}, cpus {}, pids {}",
            or_default(resources.memory.as_ref().map(|m| m.to_string())),
            or_default(resources.cpus.as_ref().map(|c| c.to_string())),
            or_default(resources.pids.map(|p| p.to_string()))
        ),
    );
    if spec.env.is_empty() {
        field(&mut out, "  ", "Env", "<none>");
    } else {
        let _ = writeln!(out, "  Env:");
        for (key, value) in &spec.env {
            let _ = writeln!(out, "    {key}={value}");
        }
    }
    field(
        &mut out,
        "  ",
        "Deletion policy",
        &format!("{:?}", spec.database.deletion_policy),
    );
    if let Some(restarted) = &spec.restarted_at {
        field(&mut out, "  ", "Restarted at", restarted);
    }

    let _ = writeln!(out, "{}", paint.bold("Status:"));
    match &tenant.status {
        None => {
            let _ = writeln!(out, "  Not reconciled yet (phase Pending).");
        }
        Some(status) => {
            let shown = phase(tenant);
            let stale = if Some(status.observed_generation) != meta.generation {
                format!(
                    " (of generation {}: the reconciler has not acted on the latest spec yet)",
                    status.observed_generation
                )
            } else {
                String::new()
            };
            field(
                &mut out,
                "  ",
                "Phase",
                &format!("{}{stale}", paint.phase(&shown)),
            );
            if let Some(url) = &status.url {
                field(&mut out, "  ", "URL", url);
            }
            if let Some(id) = &status.container_id {
                field(&mut out, "  ", "Container", &id[..id.len().min(12)]);
            }
            if let Some(image) = &status.image_id {
                field(&mut out, "  ", "Image ID", image);
            }
        }
    }

    let _ = writeln!(out, "{}", paint.bold("Conditions:"));
    match tenant.status.as_ref().filter(|s| !s.conditions.is_empty()) {
        None => {
            let _ = writeln!(out, "  <none>");
        }
        Some(status) => {
            let mut table = Table::new(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]);
            for c in &status.conditions {
                let state = format!("{:?}", c.status);
                let shown = match c.status {
                    ConditionStatus::True => paint.green(&state),
                    _ => paint.yellow(&state),
                };
                table.styled_row(vec![
                    plain(&c.type_),
                    (state, shown),
                    plain(&c.reason),
                    plain(&age(c.last_transition_time, now)),
                    plain(&c.message),
                ]);
            }
            indent(&mut out, &table.render());
        }
    }

    let _ = writeln!(out, "{}", paint.bold("Events:"));
    if events.is_empty() {
        let _ = writeln!(out, "  <none>");
    } else {
        let mut table = Table::new(&["LAST SEEN", "TYPE", "ACTION", "MESSAGE"]);
        // Oldest first, like a log.
        for event in events.iter().rev() {
            let last = if event.count > 1 {
                format!(
                    "{} (x{} over {})",
                    age(event.last_at, now),
                    event.count,
                    age(event.first_at, event.last_at)
                )
            } else {
                age(event.last_at, now)
            };
            let shown = if event.outcome == "Warning" {
                paint.red(&event.outcome)
            } else {
                event.outcome.clone()
            };
            // Progress events repeat the action as their reason; failures name their own.
            let action = if event.reason == event.action || event.reason.is_empty() {
                event.action.clone()
            } else {
                format!("{} ({})", event.action, event.reason)
            };
            table.styled_row(vec![
                plain(&last),
                (event.outcome.clone(), shown),
                plain(&action),
                plain(&event.message),
            ]);
        }
        indent(&mut out, &table.render());
    }
    out
}

fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

fn plain(text: &str) -> (String, String) {
    (text.to_owned(), text.to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::resource::{Condition, Phase, TenantStatus, parse_documents};

    #[test]
    fn describe_shows_spec_status_conditions_and_events_oldest_first() {
        let now = Utc::now();
        let mut tenant = parse_documents(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: acme, labels: {plan: gold}}\n\
             spec: {image: 'app:1', env: {GREETING: hello}, resources: {memory: 96Mi}}\n",
        )
        .unwrap()
        .remove(0);
        tenant.metadata.generation = Some(2);
        tenant.status = Some(TenantStatus {
            phase: Phase::Ready,
            observed_generation: 2,
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ConditionStatus::True,
                reason: "Ready".into(),
                message: "the database and the container are ready".into(),
                last_transition_time: now - Duration::seconds(30),
            }],
            url: Some("http://acme.tenants.test".into()),
            ..TenantStatus::default()
        });
        let event = |action: &str, ago: i64| Event {
            action: action.into(),
            outcome: "Normal".into(),
            reason: action.into(),
            message: format!("{action} done"),
            count: 1,
            first_at: now - Duration::seconds(ago),
            last_at: now - Duration::seconds(ago),
        };
        let mut failed = event("PullImage", 70);
        failed.outcome = "Warning".into();
        failed.reason = "ImagePullFailed".into();
        failed.count = 3;
        let events = [event("StartContainer", 10), event("CreateRole", 50), failed];
        let text = render(&tenant, &events, now, Paint::plain());
        assert!(text.contains("Name:                 acme\n"), "{text}");
        assert!(text.contains("Labels:               plan=gold\n"), "{text}");
        assert!(
            text.contains("Generation:           2 (status is for 2)"),
            "{text}"
        );
        assert!(
            text.contains("  Image pull policy:  IfNotPresent\n"),
            "{text}"
        );
        assert!(text.contains("    GREETING=hello\n"), "{text}");
        assert!(
            text.contains("memory 96Mi, cpus default, pids default"),
            "{text}"
        );
        assert!(text.contains("  Phase:              Ready\n"), "{text}");
        assert!(
            text.contains(
                "  Ready   True     Ready    30s     the database and the container are ready"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  70s (x3 over 0s)   Warning   PullImage (ImagePullFailed)   PullImage done\n"
            ),
            "{text}"
        );
        let create = text.find("CreateRole done").unwrap();
        let start = text.find("StartContainer done").unwrap();
        assert!(create < start, "events are shown oldest first:\n{text}");
    }
}
