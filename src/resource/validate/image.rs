//! Docker image references, checked against the grammar `docker pull` uses.
//!
//! # Guarantees
//! - An accepted reference is ASCII, at most 255 characters, and made only of the
//!   characters the grammar allows: no spaces, quotes or shell metacharacters, and no
//!   leading '-', so it can never be read as an option or a second argument.
//! - Each rejection says which part is wrong (registry, path, tag or digest).

use super::{echo, quote_char};

const MAX_IMAGE_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A Docker image reference, as `docker pull` reads it:
/// `[host[:port]/]path[:tag][@sha256:<64 hex>]`.
///
/// Hand-written after the grammar of distribution/reference rather than a regex, so that
/// each failure can say what is wrong. Returns that reason.
pub(super) fn check_reference(reference: &str) -> Result<(), String> {
    if reference.is_empty() {
        return Err("it is empty".into());
    }
    if reference.len() > MAX_IMAGE_LEN {
        return Err(format!("it is longer than {MAX_IMAGE_LEN} characters"));
    }
    if let Some(c) = reference.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("it contains {}", quote_char(c)));
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err("the digest must be sha256: followed by 64 lowercase hex digits".into());
        }
    }
    // A tag is a ':' after the last '/'; a ':' before it belongs to the registry's port.
    let last_component = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_component..].rfind(':') {
        Some(i) => (
            &rest[..last_component + i],
            Some(&rest[last_component + i + 1..]),
        ),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    let (registry, path) = match name.split_once('/') {
        // Docker's rule: the first component is a registry when it looks like a host.
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), path)
        }
        _ => (None, name),
    };
    if let Some(registry) = registry {
        check_registry(registry)?;
    }
    if path.is_empty() {
        return Err("the repository name is missing".into());
    }
    path.split('/').try_for_each(check_path_component)
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    match chars.next() {
        None => return Err("the tag after ':' is empty".into()),
        Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => {
            return Err(format!("the tag starts with {}", quote_char(c)));
        }
        Some(_) => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(format!("the tag contains {}", quote_char(c)));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!("the tag is longer than {MAX_TAG_LEN} characters"));
    }
    Ok(())
}

/// `host[:port]`, where host is dot-separated `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err(format!(
            "the registry host {} is not a valid host name",
            echo(host)
        ));
    }
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("the registry port {} is not a number", echo(port)));
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by one separator each: `.`, `_`, `__` or any number of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    const SHAPE: &str = "each part of the repository path must start and end with a letter or \
                         digit, with single '.', '_', '__' or dashes between them";
    let bytes = component.as_bytes();
    if bytes.is_empty() {
        return Err(
            "the repository path has an empty part (a leading, trailing or double '/')".into(),
        );
    }
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let run = i;
        while i < bytes.len() && alphanumeric(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return if i == run { Err(SHAPE.into()) } else { Ok(()) };
        }
        // Only ASCII reaches here: `check_reference` rejected everything else.
        let c = char::from(bytes[i]);
        if c.is_ascii_uppercase() {
            return Err(format!(
                "the repository path must be lowercase (found {})",
                quote_char(c)
            ));
        }
        if !matches!(c, '.' | '_' | '-') {
            return Err(format!("it contains {}", quote_char(c)));
        }
        if i == run {
            return Err(SHAPE.into());
        }
        match c {
            '.' => i += 1,
            '_' => {
                i += if bytes.get(i + 1) == Some(&b'_') {
                    2
                } else {
                    1
                }
            }
            _ => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_image_references_are_accepted() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        for good in [
            "nginx".to_string(),
            "nginx:1.27".into(),
            "library/nginx:latest".into(),
            "ghcr.io/complexdatacollective/fresco:latest".into(),
            "localhost/app".into(),
            "localhost:5000/team/app:v1.2.3-rc_1".into(),
            "registry.example.com:443/a/b/c".into(),
            "my-registry.Example.COM/app".into(),
            "team/a.b__c-d--e/f_g:_tag".into(),
            format!("app@{digest}"),
            format!("ghcr.io/org/app:1.0@{digest}"),
        ] {
            assert_eq!(check_reference(&good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn bad_image_references_are_rejected_with_a_reason() {
        let long = format!("a/{}", "b".repeat(254));
        let cases = [
            ("", "empty"),
            ("Nginx", "lowercase"),
            ("library/Nginx", "lowercase"),
            ("nginx latest", "' '"),
            ("nginx:", "tag after ':' is empty"),
            ("nginx:-x", "tag starts with"),
            ("nginx:a;b", "';'"),
            ("a..b", "start and end with a letter or digit"),
            ("a/../b", "start and end with a letter or digit"),
            ("nginx;rm -rf /", "' '"),
            ("nginx;id", "';'"),
            ("nginx$(id)", "'$'"),
            ("`id`", "'`'"),
            ("-nginx", "start and end with a letter or digit"),
            ("nginx-", "start and end with a letter or digit"),
            ("a___b", "start and end with a letter or digit"),
            ("a//b", "empty part"),
            ("/nginx", "empty part"),
            ("nginx/", "empty part"),
            ("ghcr.io/", "repository name is missing"),
            ("-bad.io/app", "registry host"),
            ("host.io:port/app", "registry port"),
            ("nginx@sha256:abc", "digest"),
            ("nginx@md5:0123", "digest"),
            ("nginx@", "digest"),
            ("nginx\n", "U+000A"),
            (long.as_str(), "longer than 255"),
        ];
        for (bad, reason) in cases {
            let problem = check_reference(bad).expect_err(bad);
            assert!(
                problem.contains(reason),
                "{bad:?}: {problem:?} should mention {reason:?}"
            );
        }
    }

    #[test]
    fn an_image_tag_may_be_at_most_128_characters() {
        assert_eq!(check_reference(&format!("a:{}", "t".repeat(128))), Ok(()));
        let err = check_reference(&format!("a:{}", "t".repeat(129))).unwrap_err();
        assert!(err.contains("tag is longer"), "{err}");
    }
}
