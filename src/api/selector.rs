//! Kubernetes-style label selectors (`plan=standard,tier!=free,beta,!legacy,env in (a,b)`).
//!
//! # Guarantees
//! - Parsing is total: any input is either a selector or an error naming the bad requirement.
//! - An empty selector matches everything.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector requirement `{requirement}`: {why}")]
pub struct SelectorError {
    pub requirement: String,
    pub why: &'static str,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(Selector { requirements })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
        })
    }
}

/// Splits on commas that are not inside parentheses (`env in (a,b)` is one requirement).
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 317
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    let error = |why| SelectorError {
        requirement: part.to_owned(),
        why,
    };
    let key_value = |key: &str, value: &str| -> Result<(String, String), SelectorError> {
        let (key, value) = (key.trim(), value.trim());
        if !valid_token(key) {
            return Err(error("the key must be a label key"));
        }
        if !value.is_empty() && !valid_token(value) {
            return Err(error("the value must be a label value"));
        }
        Ok((key.to_owned(), value.to_owned()))
    };
    if let Some((key, value)) = part.split_once("!=") {
        let (k, v) = key_value(key, value)?;
        return Ok(Requirement::NotEquals(k, v));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let (k, v) = key_value(key, value)?;
        return Ok(Requirement::Equals(k, v));
    }
    for (keyword, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((key, set)) = part.split_once(keyword) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| error("a set is written in parentheses: env in (a,b)"))?;
            let key = key.trim();
            if !valid_token(key) {
                return Err(error("the key must be a label key"));
            }
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
            if values.iter().any(|v| !v.is_empty() && !valid_token(v)) {
                return Err(error("the values must be label values"));
            }
            let key = key.to_owned();
            return Ok(if negated {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            });
        }
    }
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if valid_token(key) {
            Ok(Requirement::NotExists(key.to_owned()))
        } else {
            Err(error("the key must be a label key"))
        };
    }
    if valid_token(part) {
        Ok(Requirement::Exists(part.to_owned()))
    } else {
        Err(error(
            "expected key, key=value, key!=value, !key or key in (a,b)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_inequality_and_existence_combine_with_and() {
        let s = Selector::parse("plan=standard,tier!=free,beta,!legacy").unwrap();
        assert!(s.matches(&labels(&[("plan", "standard"), ("beta", "")])));
        assert!(
            !s.matches(&labels(&[("plan", "standard")])),
            "beta must exist"
        );
        assert!(!s.matches(&labels(&[
            ("plan", "standard"),
            ("beta", ""),
            ("legacy", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("plan", "standard"),
            ("beta", ""),
            ("tier", "free")
        ])));
    }

    #[test]
    fn set_requirements_keep_their_commas() {
        let s = Selector::parse("env in (prod, staging),team notin (x)").unwrap();
        assert!(s.matches(&labels(&[("env", "prod")])));
        assert!(s.matches(&labels(&[("env", "staging"), ("team", "y")])));
        assert!(!s.matches(&labels(&[("env", "dev")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("team", "x")])));
    }

    #[test]
    fn an_empty_selector_matches_everything() {
        assert!(Selector::parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn bad_requirements_are_named() {
        let err = Selector::parse("plan=ok,a;drop=x").unwrap_err();
        assert_eq!(err.requirement, "a;drop=x");
        assert!(Selector::parse("env in prod").is_err());
    }
}
