//! Tenant documents read from files for `apply`, `diff` and `delete -f`: YAML streams, JSON
//! (a Tenant or the TenantList of `get -o json`), whole directories or standard input; and the
//! `file:line:column` of a field path, so that a problem found here or by the server points at
//! the line to fix.
//!
//! # Guarantees
//! - [`load`] returns every document or none: all files are parsed and every tenant
//!   validated first, and every problem found is reported, each with its location.
//! - A field path (`spec.resources.memory`, `metadata.labels.tenantd.io/team`) is located at
//!   its deepest node present in the document; a field the document leaves out points at the
//!   nearest enclosing one.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::resource::{self, Tenant};

/// One tenant from a file, with what is needed to point back into the file.
#[derive(Debug)]
pub struct Document {
    /// The file's path as given (or `<stdin>`).
    pub source: String,
    pub tenant: Tenant,
    /// The document's node tree with locations; `None` when the text could not be re-read
    /// for locations (the tenant itself parsed fine).
    tree: Option<Spanned<Node>>,
}

impl Document {
    /// `file:line:column` of `field` (a dotted path), or of the document when `field` is
    /// unknown or absent.
    pub fn at(&self, field: Option<&str>) -> String {
        let Some(tree) = &self.tree else {
            return self.source.clone();
        };
        let node = find(tree, field.unwrap_or(""));
        let location = node.referenced;
        if location.line() == 0 {
            return self.source.clone();
        }
        format!("{}:{}:{}", self.source, location.line(), location.column())
    }

    pub fn name(&self) -> &str {
        &self.tenant.metadata.name
    }
}

/// Everything wrong with the input, one `file:line:column: message` per line.
#[derive(Debug)]
pub struct Problems(pub Vec<String>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Problems {}

/// Reads, parses and validates every document of `paths`. `host_cpus` bounds
/// `spec.resources.cpus` (pass infinity to leave that check to the server, which knows the
/// Docker host).
///
/// # Errors
/// [`Problems`] listing every problem (unreadable file, YAML error, invalid field, a name
/// defined twice), or when the files hold no tenant at all.
pub fn load(paths: &[PathBuf], host_cpus: f64) -> Result<Vec<Document>, Problems> {
    let mut problems = Vec::new();
    let sources = read_sources(paths, &mut problems);
    let mut documents = Vec::new();
    for (source, text) in &sources {
        match parse(source, text) {
            Ok(found) => documents.extend(found),
            Err(problem) => problems.push(problem),
        }
    }
    for document in &documents {
        if let Err(errors) = resource::validate(&document.tenant, host_cpus) {
            for error in &errors.0 {
                problems.push(format!("{}: {error}", document.at(Some(&error.field))));
            }
        }
    }
    for (i, document) in documents.iter().enumerate() {
        if let Some(first) = documents[..i].iter().find(|d| d.name() == document.name()) {
            problems.push(format!(
                "{}: metadata.name: tenant {} is also defined at {}; each tenant may appear once",
                document.at(Some("metadata.name")),
                document.name(),
                first.at(Some("metadata.name"))
            ));
        }
    }
    if problems.is_empty() && documents.is_empty() {
        let given: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        problems.push(format!(
            "{}: no tenant documents found (expected YAML with apiVersion: tenantd/v1, kind: Tenant)",
            given.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(documents)
    } else {
        Err(Problems(problems))
    }
}

/// The text of every file: `-` is standard input, a directory gives its `*.yaml` and `*.yml`
/// files in name order (not recursing; JSON files are read only when named, so that a
/// `tenant.schema.json` next to the specs is not taken for a tenant).
fn read_sources(paths: &[PathBuf], problems: &mut Vec<String>) -> Vec<(String, String)> {
    let mut sources = Vec::new();
    let read = |path: &Path, problems: &mut Vec<String>, sources: &mut Vec<(String, String)>| {
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push((path.display().to_string(), text)),
            Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
        }
    };
    for path in paths {
        if path == Path::new("-") {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => sources.push(("<stdin>".to_owned(), text)),
                Err(e) => problems.push(format!("<stdin>: cannot read: {e}")),
            }
        } else if path.is_dir() {
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) => {
                    problems.push(format!(
                        "{}: cannot read the directory: {e}",
                        path.display()
                    ));
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            files.sort();
            for file in files {
                read(&file, problems, &mut sources);
            }
        } else if !path.exists() {
            problems.push(format!(
                "{}: no such file or directory (give a file, a directory, or - for standard input)",
                path.display()
            ));
        } else {
            read(path, problems, &mut sources);
        }
    }
    sources
}

/// The tenants of one file. JSON holding a `TenantList` (what `get -o json` prints for a
/// list) gives its items; anything else is read as a YAML stream (JSON is YAML).
fn parse(source: &str, text: &str) -> Result<Vec<Document>, String> {
    if text.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("{source}:{}:{}: not valid JSON: {e}", e.line(), e.column()))?;
        if value.get("kind").and_then(|k| k.as_str()) == Some("TenantList") {
            return parse_list(source, text);
        }
    }
    let tenants = resource::parse_documents(text).map_err(|e| match (e.line(), e.column()) {
        (Some(line), Some(column)) => format!("{source}:{line}:{column}: {}", e.message()),
        (Some(line), None) => format!("{source}:{line}: {}", e.message()),
        _ => format!("{source}: {}", e.message()),
    })?;
    let mut trees: Vec<Option<Spanned<Node>>> =
        match serde_saphyr::from_multiple::<Spanned<Node>>(text) {
            Ok(trees) if trees.len() == tenants.len() => trees.into_iter().map(Some).collect(),
            _ => Vec::new(),
        };
    trees.resize_with(tenants.len(), || None);
    Ok(tenants
        .into_iter()
        .zip(trees)
        .map(|(tenant, tree)| Document {
            source: source.to_owned(),
            tenant,
            tree,
        })
        .collect())
}

fn parse_list(source: &str, text: &str) -> Result<Vec<Document>, String> {
    #[derive(Deserialize)]
    struct List {
        items: Vec<Tenant>,
    }
    let list: List = serde_json::from_str(text)
        .map_err(|e| format!("{source}:{}:{}: {e}", e.line(), e.column()))?;
    let items: Vec<Option<Spanned<Node>>> = serde_saphyr::from_str::<Spanned<Node>>(text)
        .ok()
        .and_then(|root| match root.value {
            Node::Map(entries) => entries
                .into_iter()
                .find(|(key, _)| key == "items")
                .map(|(_, items)| items.value),
            _ => None,
        })
        .and_then(|items| match items {
            Node::Seq(items) if items.len() == list.items.len() => {
                Some(items.into_iter().map(Some).collect())
            }
            _ => None,
        })
        .unwrap_or_else(|| list.items.iter().map(|_| None).collect());
    Ok(list
        .items
        .into_iter()
        .zip(items)
        .map(|(tenant, tree)| Document {
            source: source.to_owned(),
            tenant,
            tree,
        })
        .collect())
}

/// The deepest node on `path` (dotted; map keys may themselves contain dots).
fn find<'a>(node: &'a Spanned<Node>, path: &str) -> &'a Spanned<Node> {
    if path.is_empty() {
        return node;
    }
    let Node::Map(entries) = &node.value else {
        return node;
    };
    // The longest key that is the path or a prefix of it up to a dot.
    let best = entries
        .iter()
        .filter_map(|(key, child)| {
            if path == key {
                Some((key.len(), child, ""))
            } else {
                path.strip_prefix(key.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .map(|rest| (key.len(), child, rest))
            }
        })
        .max_by_key(|(len, _, _)| *len);
    match best {
        Some((_, child, rest)) => find(child, rest),
        None => node,
    }
}

/// A YAML node with the locations of its children, for pointing at fields.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(KeyText(key)) = map.next_key()? {
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// A map key as text, whatever scalar it is.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyText, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "\
apiVersion: tenantd/v1
kind: Tenant
metadata:
  name: alpha
  labels:
    tenantd.io/team: core
spec:
  resources:
    memory: 1Mi
---
apiVersion: tenantd/v1
kind: Tenant
metadata: {name: beta}
spec:
  env: {GREETING: hi}
";

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tenantd-cli-docs-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn fields_are_located_at_their_line_and_column() {
        let documents = parse("t.yaml", TWO).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(
            documents[0].at(Some("spec.resources.memory")),
            "t.yaml:9:13"
        );
        assert_eq!(
            documents[0].at(Some("metadata.labels.tenantd.io/team")),
            "t.yaml:6:22"
        );
        assert_eq!(documents[1].at(Some("spec.env.GREETING")), "t.yaml:15:19");
        assert_eq!(documents[1].at(Some("metadata.name")), "t.yaml:13:18");
    }

    #[test]
    fn a_field_the_document_leaves_out_points_at_its_nearest_parent() {
        let documents = parse("t.yaml", TWO).unwrap();
        assert_eq!(
            documents[1].at(Some("spec.subdomain")),
            documents[1].at(Some("spec"))
        );
        assert_eq!(documents[1].at(Some("spec")), "t.yaml:15:3");
    }

    #[test]
    fn load_reports_every_problem_with_its_location_and_returns_nothing() {
        let dir = temp_dir("load");
        std::fs::write(dir.join("a.yaml"), TWO).unwrap();
        std::fs::write(
            dir.join("b.yaml"),
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: gamma}\nspec:\n  stat: Running\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not a spec").unwrap();
        std::fs::write(dir.join("tenant.schema.json"), "{\"type\": \"object\"}").unwrap();
        let problems = load(std::slice::from_ref(&dir), 8.0).unwrap_err().0;
        let a = dir.join("a.yaml").display().to_string();
        let b = dir.join("b.yaml").display().to_string();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].starts_with(&format!("{b}:5:3: unknown field")),
            "{problems:#?}"
        );
        assert!(
            problems[1].starts_with(&format!(
                "{a}:9:13: spec.resources.memory: must be at least 64Mi"
            )),
            "{problems:#?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_tenant_defined_twice_is_a_problem() {
        let dir = temp_dir("twice");
        let one = "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: beta}\nspec: {}\n";
        std::fs::write(dir.join("a.yaml"), one).unwrap();
        std::fs::write(dir.join("b.yml"), one).unwrap();
        let problems = load(std::slice::from_ref(&dir), 8.0).unwrap_err().0;
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].contains("also defined at"), "{problems:#?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_and_an_empty_input_are_problems() {
        let problems = load(&[PathBuf::from("/nonexistent/x.yaml")], 8.0)
            .unwrap_err()
            .0;
        assert!(problems[0].contains("no such file"), "{problems:#?}");
        let dir = temp_dir("empty");
        std::fs::write(dir.join("a.yaml"), "# nothing\n").unwrap();
        let problems = load(std::slice::from_ref(&dir), 8.0).unwrap_err().0;
        assert!(problems[0].contains("no tenant documents"), "{problems:#?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_json_tenant_list_gives_its_items_with_locations() {
        let list = serde_json::json!({
            "apiVersion": "tenantd/v1",
            "kind": "TenantList",
            "items": [
                {"apiVersion": "tenantd/v1", "kind": "Tenant", "metadata": {"name": "a"}, "spec": {}},
                {"apiVersion": "tenantd/v1", "kind": "Tenant", "metadata": {"name": "b"}, "spec": {"env": {"X": "1"}}}
            ]
        });
        let text = serde_json::to_string_pretty(&list).unwrap();
        let documents = parse("l.json", &text).unwrap();
        let names: Vec<_> = documents.iter().map(Document::name).collect();
        assert_eq!(names, ["a", "b"]);
        let at = documents[1].at(Some("spec.env.X"));
        let line: usize = at.split(':').nth(1).unwrap().parse().unwrap();
        assert_eq!(
            text.lines().nth(line - 1).unwrap().trim(),
            "\"X\": \"1\"",
            "{at}"
        );
    }

    #[test]
    fn json_syntax_errors_carry_a_location() {
        let problem = parse("x.json", "{\"kind\": \"TenantList\",\n  \"items\": [}").unwrap_err();
        assert!(problem.starts_with("x.json:2:"), "{problem}");
    }
}
