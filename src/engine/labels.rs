//! The labels that prove a container is tenantd's, and read its identity back.
//!
//! # Guarantees
//! - A container is ours only if it carries `tenantd.managed=true`, this tenantd instance's
//!   name and a tenant name label; nothing else (its name included) is taken as proof.
//!   The instance label lets several tenantd installations (or parallel test runs) share one
//!   Docker engine without ever touching each other's containers (compare Compose's project label).

use std::collections::HashMap;

/// Present with value `true` on everything tenantd creates.
pub const MANAGED: &str = "tenantd.managed";
/// The tenantd installation that owns it (config `instance`).
pub const INSTANCE: &str = "tenantd.instance";
/// The tenant's name.
pub const TENANT: &str = "tenantd.tenant";
/// The tenant's opaque uid (a tenant re-created under the same name has another one).
pub const UID: &str = "tenantd.uid";
/// Hash of everything the container was created from; a mismatch means recreate.
pub const SPEC_HASH: &str = "tenantd.spec-hash";

/// The Docker list filter that selects only this instance's containers (label filters AND).
pub fn managed_filter(instance: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_owned(),
        vec![format!("{MANAGED}=true"), format!("{INSTANCE}={instance}")],
    )])
}

/// The tenant name, when the labels prove the container is this instance's.
pub fn owned_tenant<'a>(labels: &'a HashMap<String, String>, instance: &str) -> Option<&'a str> {
    if labels.get(MANAGED).map(String::as_str) != Some("true")
        || labels.get(INSTANCE).map(String::as_str) != Some(instance)
    {
        return None;
    }
    labels
        .get(TENANT)
        .map(String::as_str)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_without_the_managed_label_is_not_ours_even_with_a_tenant_label() {
        let labels = HashMap::from([
            (TENANT.to_owned(), "acme".to_owned()),
            (INSTANCE.to_owned(), "main".to_owned()),
        ]);
        assert_eq!(owned_tenant(&labels, "main"), None);
    }

    #[test]
    fn a_container_with_both_labels_is_ours() {
        let labels = HashMap::from([
            (MANAGED.to_owned(), "true".to_owned()),
            (TENANT.to_owned(), "acme".to_owned()),
            (INSTANCE.to_owned(), "main".to_owned()),
        ]);
        assert_eq!(owned_tenant(&labels, "main"), Some("acme"));
    }

    #[test]
    fn another_instances_container_is_not_ours() {
        let labels = HashMap::from([
            (MANAGED.to_owned(), "true".to_owned()),
            (TENANT.to_owned(), "acme".to_owned()),
            (INSTANCE.to_owned(), "other".to_owned()),
        ]);
        assert_eq!(owned_tenant(&labels, "main"), None);
    }
}
