//! `tenantd get`: tenants as an aligned table, or as YAML/JSON that `apply` takes back.
//!
//! # Guarantees
//! - `-o yaml` prints complete Tenant documents (`---`-separated for a list) and `-o json` a
//!   Tenant or a `TenantList`; `apply -f` of either changes nothing (`unchanged`).

use chrono::Utc;

use super::OutputFormat;
use super::client::Client;
use super::output::{Paint, Table, age};
use crate::resource::{self, Tenant, condition};

/// Which tenants.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub name: Option<String>,
    pub selector: Option<String>,
    pub phase: Option<String>,
}

pub async fn run(
    client: &Client,
    query: &Query,
    output: Option<OutputFormat>,
) -> anyhow::Result<()> {
    let tenants = match &query.name {
        Some(name) => {
            if query.selector.is_some() || query.phase.is_some() {
                anyhow::bail!(
                    "give a NAME or filters (-l, --phase), not both; `tenantd get -l ...` lists \
                     the matching tenants"
                );
            }
            vec![client.get(name).await?]
        }
        None => {
            client
                .list(query.selector.as_deref(), query.phase.as_deref())
                .await?
        }
    };
    let single = query.name.is_some();
    match output {
        Some(OutputFormat::Yaml) => print!("{}", yaml(&tenants)),
        Some(OutputFormat::Json) => println!("{}", json(&tenants, single)),
        wide => {
            if tenants.is_empty() {
                eprintln!("No tenants found.");
                return Ok(());
            }
            let wide = wide == Some(OutputFormat::Wide);
            print!("{}", table(&tenants, wide, Paint::stdout()));
        }
    }
    Ok(())
}

/// Tenants as `---`-separated YAML documents.
pub fn yaml(tenants: &[Tenant]) -> String {
    tenants
        .iter()
        .map(resource::to_yaml)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// One Tenant, or a `TenantList` of all of them.
pub fn json(tenants: &[Tenant], single: bool) -> String {
    let value = match (single, tenants) {
        (true, [tenant]) => serde_json::to_value(tenant),
        _ => serde_json::to_value(serde_json::json!({
            "apiVersion": resource::API_VERSION,
            "kind": "TenantList",
            "items": tenants,
        })),
    }
    .expect("tenants always serialize");
    serde_json::to_string_pretty(&value).expect("JSON values always serialize")
}

/// NAME, PHASE, STATE, SUBDOMAIN, IMAGE, AGE; wide adds URL, LABELS and why it is not ready.
pub fn table(tenants: &[Tenant], wide: bool, paint: Paint) -> String {
    let mut header = vec!["NAME", "PHASE", "STATE", "SUBDOMAIN", "IMAGE", "AGE"];
    if wide {
        header.extend(["URL", "LABELS", "REASON"]);
    }
    let mut table = Table::new(&header);
    let now = Utc::now();
    for tenant in tenants {
        let phase = phase(tenant);
        let mut cells = vec![
            plain(&tenant.metadata.name),
            (phase.clone(), paint.phase(&phase)),
            plain(&format!("{:?}", tenant.spec.state)),
            plain(tenant.spec.subdomain_or(&tenant.metadata.name)),
            plain(tenant.spec.image.as_deref().unwrap_or("<default>")),
            plain(
                &tenant
                    .metadata
                    .creation_timestamp
                    .map_or("<unknown>".to_owned(), |t| age(t, now)),
            ),
        ];
        if wide {
            let status = tenant.status.as_ref();
            let labels: Vec<String> = tenant
                .metadata
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let reason = status
                .and_then(|s| s.condition(condition::READY))
                .filter(|c| c.status != resource::ConditionStatus::True)
                .map(|c| c.reason.clone());
            cells.extend([
                plain(status.and_then(|s| s.url.as_deref()).unwrap_or("<none>")),
                plain(&if labels.is_empty() {
                    "<none>".to_owned()
                } else {
                    labels.join(",")
                }),
                plain(reason.as_deref().unwrap_or("<none>")),
            ]);
        }
        table.styled_row(cells);
    }
    table.render()
}

/// The phase shown: Pending until the reconciler wrote a status, Terminating once deleting.
pub fn phase(tenant: &Tenant) -> String {
    match (&tenant.status, tenant.metadata.deletion_timestamp) {
        (_, Some(_)) => "Terminating".into(),
        (Some(status), None) => status.phase.as_str().into(),
        (None, None) => "Pending".into(),
    }
}

fn plain(text: &str) -> (String, String) {
    (text.to_owned(), text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::parse_documents;

    fn tenants() -> Vec<Tenant> {
        parse_documents(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: acme-lab, labels: {plan: gold}}\n\
             spec: {image: 'app:1', state: Stopped}\n---\n\
             apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: b}\nspec: {subdomain: bee}\n",
        )
        .unwrap()
    }

    #[test]
    fn the_table_is_aligned_with_the_required_columns() {
        let text = table(&tenants(), false, Paint::plain());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME       PHASE     STATE     SUBDOMAIN   IMAGE       AGE"
        );
        assert_eq!(
            lines[1],
            "acme-lab   Pending   Stopped   acme-lab    app:1       <unknown>"
        );
        assert_eq!(
            lines[2],
            "b          Pending   Running   bee         <default>   <unknown>"
        );
    }

    #[test]
    fn wide_adds_url_labels_and_reason() {
        let text = table(&tenants(), true, Paint::plain());
        let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAME",
                "PHASE",
                "STATE",
                "SUBDOMAIN",
                "IMAGE",
                "AGE",
                "URL",
                "LABELS",
                "REASON"
            ]
        );
        assert!(text.contains("plan=gold"), "{text}");
    }

    #[test]
    fn yaml_and_json_parse_back_to_the_same_tenants() {
        let tenants = tenants();
        assert_eq!(parse_documents(&yaml(&tenants)).unwrap(), tenants);
        let list: serde_json::Value = serde_json::from_str(&json(&tenants, false)).unwrap();
        assert_eq!(list["kind"], "TenantList");
        let one: Tenant = serde_json::from_str(&json(&tenants[..1], true)).unwrap();
        assert_eq!(one, tenants[0]);
    }
}
