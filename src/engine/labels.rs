//! The labels that prove a container is tenantd's, and read its identity back.
//!
//! # Guarantees
//! - A container is ours only if it carries `tenantd.managed=true` and a tenant name label;
//!   nothing else (its name included) is taken as proof.

use std::collections::HashMap;

/// Present with value `true` on everything tenantd creates.
pub const MANAGED: &str = "tenantd.managed";
/// The tenant's name.
pub const TENANT: &str = "tenantd.tenant";
/// The tenant's opaque uid (a tenant re-created under the same name has another one).
pub const UID: &str = "tenantd.uid";
/// Hash of everything the container was created from; a mismatch means recreate.
pub const SPEC_HASH: &str = "tenantd.spec-hash";

/// The Docker list/event filter that selects only our containers.
pub fn managed_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{MANAGED}=true")])])
}

/// The tenant name, when the labels prove the container is ours.
pub fn owned_tenant(labels: &HashMap<String, String>) -> Option<&str> {
    if labels.get(MANAGED).map(String::as_str) != Some("true") {
        return None;
    }
    labels.get(TENANT).map(String::as_str).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_without_the_managed_label_is_not_ours_even_with_a_tenant_label() {
        let labels = HashMap::from([(TENANT.to_owned(), "acme".to_owned())]);
        assert_eq!(owned_tenant(&labels), None);
    }

    #[test]
    fn a_container_with_both_labels_is_ours() {
        let labels = HashMap::from([
            (MANAGED.to_owned(), "true".to_owned()),
            (TENANT.to_owned(), "acme".to_owned()),
        ]);
        assert_eq!(owned_tenant(&labels), Some("acme"));
    }
}
