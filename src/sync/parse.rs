//! One specs file's bytes to its tenants, all validated, or to the first problem with its
//! line and column. Pure: no I/O.
//!
//! # Guarantees
//! - A file is valid only when every document parses, every tenant passes
//!   [`resource::validate`], and no name or subdomain appears twice in it: a file is accepted
//!   or refused whole.
//! - Server-owned metadata in a file (uid, generation, resourceVersion, timestamps,
//!   finalizers, source) and `status` are dropped: a file states desired state, never a
//!   precondition.
//! - Every error carries a 1-based line (and a column where one is known): the parser's own
//!   location for YAML and shape errors, and for a rule broken by a value the line of the
//!   offending key (or of its document when the key cannot be found).

use std::collections::BTreeMap;

use crate::resource::{self, ParseError, Tenant};

/// Why a file was refused, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// For a person; one line.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl FileError {
    pub fn new(message: impl Into<String>) -> FileError {
        FileError {
            message: message.into(),
            line: None,
            column: None,
        }
    }

    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> FileError {
        self.line = line;
        self.column = column;
        self
    }

    /// `path:line:column: message`, the form editors and compilers use.
    pub fn located(&self, path: &str) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{path}:{line}:{column}: {}", self.message),
            (Some(line), None) => format!("{path}:{line}: {}", self.message),
            _ => format!("{path}: {}", self.message),
        }
    }
}

/// One tenant of a valid file, with the line its document starts on (for later errors).
#[derive(Debug, Clone, PartialEq)]
pub struct FileTenant {
    pub tenant: Tenant,
    /// 1-based line of the first content line of the tenant's document.
    pub line: usize,
}

/// Reads one file's bytes as tenants. `host_cpus` bounds `spec.resources.cpus`, as for the API.
///
/// # Errors
/// The first problem found: text that is not UTF-8, YAML or shape errors (from
/// [`resource::parse_documents`]), broken rules (every rule of the first bad tenant, in one
/// message), and a name or subdomain used twice in the file.
pub fn parse_file(bytes: &[u8], host_cpus: f64) -> Result<Vec<FileTenant>, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        FileError::new("the file is not UTF-8 text").at(Some(line), Some(column))
    })?;
    let tenants = resource::parse_documents(text).map_err(|e| match e {
        ParseError::TooLarge { .. } => FileError::new(e.to_string()).at(Some(1), None),
        ParseError::Invalid { .. } => {
            FileError::new(e.message().into_owned()).at(e.line(), e.column())
        }
    })?;
    // Every non-empty document parsed as one tenant, so the spans line up with the tenants.
    // Should an odd input make them disagree, errors point at line 1 rather than elsewhere.
    let mut starts = document_starts(text);
    if starts.len() != tenants.len() {
        starts = vec![
            DocumentSpan {
                line: 1,
                end: usize::MAX
            };
            tenants.len()
        ];
    }
    let mut out = Vec::with_capacity(tenants.len());
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut subdomains: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (mut tenant, start) in tenants.into_iter().zip(starts) {
        let name = tenant.metadata.name.clone();
        if let Err(errors) = resource::validate(&tenant, host_cpus) {
            let first = errors
                .0
                .first()
                .expect("validate returns at least one error when it fails");
            let (line, column) = locate_field(text, start, &first.field);
            let shown = if name.is_empty() {
                "a tenant".to_owned()
            } else {
                format!("tenant {name}")
            };
            let rules: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
            return Err(
                FileError::new(format!("{shown}: {}", rules.join("; "))).at(Some(line), column)
            );
        }
        if let Some(first_line) = names.insert(name.clone(), start.line) {
            let (line, column) = locate_field(text, start, "metadata.name");
            return Err(FileError::new(format!(
                "tenant {name} is defined twice in this file (first at line {first_line})"
            ))
            .at(Some(line), column));
        }
        let subdomain = tenant.spec.subdomain_or(&name).to_owned();
        if let Some((other, _)) = subdomains.insert(subdomain.clone(), (name.clone(), start.line)) {
            let (line, column) = locate_field(text, start, "spec.subdomain");
            return Err(FileError::new(format!(
                "tenants {other} and {name} both use subdomain {subdomain}"
            ))
            .at(Some(line), column));
        }
        strip_server_fields(&mut tenant);
        out.push(FileTenant {
            tenant,
            line: start.line,
        });
    }
    Ok(out)
}

/// What the store owns; a file's values for these are ignored, as `Store::apply` does.
fn strip_server_fields(tenant: &mut Tenant) {
    let meta = &mut tenant.metadata;
    meta.uid = None;
    meta.generation = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.finalizers.clear();
    meta.source = None;
    tenant.status = None;
}

/// Where one non-empty document begins and ends (1-based lines, end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DocumentSpan {
    /// The first line with content.
    line: usize,
    /// The line after the document's last line.
    end: usize,
}

/// The spans of the documents that hold content, in order: the ones `parse_documents` turns
/// into tenants (it skips empty documents).
///
/// Follows YAML's rules as `resource::codec` does: `---` at the start of a line starts a
/// document, `...` ends one, content outside a document starts one implicitly; blank lines,
/// comments and directives are no content. YAML forbids both markers at the start of a line
/// inside a scalar, so this is exact.
fn document_starts(text: &str) -> Vec<DocumentSpan> {
    let mut spans: Vec<DocumentSpan> = Vec::new();
    let mut open: Option<Option<usize>> = None;
    let mut last_line = 0;
    let close = |open: &mut Option<Option<usize>>, spans: &mut Vec<DocumentSpan>, end: usize| {
        if let Some(Some(line)) = open.take() {
            spans.push(DocumentSpan { line, end });
        }
    };
    for (index, raw) in text.trim_start_matches('\u{feff}').split('\n').enumerate() {
        let number = index + 1;
        last_line = number;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = marker_rest(line, "---") {
            close(&mut open, &mut spans, number);
            // `--- {a: 1}`: content on the marker line itself.
            let inline = !rest.trim().is_empty() && !rest.trim_start().starts_with('#');
            open = Some(inline.then_some(number));
        } else if marker_rest(line, "...").is_some() {
            close(&mut open, &mut spans, number);
        } else {
            let trimmed = line.trim_start();
            let content = !(trimmed.is_empty()
                || trimmed.starts_with('#')
                || (open.is_none() && line.starts_with('%')));
            if content {
                match &mut open {
                    Some(first @ None) => *first = Some(number),
                    Some(Some(_)) => {}
                    None => open = Some(Some(number)),
                }
            }
        }
    }
    close(&mut open, &mut spans, last_line + 1);
    spans
}

/// The rest of `line` after the document marker `marker`, if the line is that marker.
fn marker_rest<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.strip_prefix(marker)
        .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// The line and column of the key for `field` (`spec.resources.memory`) in the document, as
/// deep as it can be followed; the document's first line when not even the first key is found.
///
/// Follows block mappings by indentation. A flow mapping (`spec: {memory: 1Mi}`) or a key
/// with a dot in it (`metadata.labels.example.com/plan`) stops the walk at the deepest key
/// found, which is still the right neighbourhood.
fn locate_field(text: &str, document: DocumentSpan, field: &str) -> (usize, Option<usize>) {
    let lines: Vec<&str> = text
        .trim_start_matches('\u{feff}')
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut found = (document.line, None);
    // The block the next key must be in: lines after `from`, indented more than `indent`.
    let mut from = document.line - 1;
    let mut parent_indent: Option<usize> = None;
    for segment in field.split('.') {
        let mut hit = None;
        for (index, line) in lines.iter().enumerate().take(document.end - 1).skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if index > from && parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            if parent_indent.is_none_or(|p| indent > p) && key_of(trimmed) == Some(segment) {
                hit = Some((index, indent));
                break;
            }
        }
        match hit {
            Some((index, indent)) => {
                found = (index + 1, Some(indent + 1));
                from = index + 1;
                parent_indent = Some(indent);
            }
            None => break,
        }
    }
    found
}

/// The key of a `key: value` (or `"key": value`) line, if it is one.
fn key_of(trimmed: &str) -> Option<&str> {
    let (key, _) = trimmed.split_once(':')?;
    let key = key.trim_end();
    let unquoted = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')));
    Some(unquoted.unwrap_or(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_CPUS: f64 = 4.0;

    fn doc(name: &str) -> String {
        format!("apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: {name}\nspec: {{}}\n")
    }

    fn error(text: &str) -> FileError {
        parse_file(text.as_bytes(), HOST_CPUS).expect_err("the file should be refused")
    }

    #[test]
    fn a_file_of_several_documents_gives_each_tenant_with_its_first_line() {
        let text = format!("# tenants\n---\n{}---\n\n{}", doc("acme"), doc("globex"));
        let tenants = parse_file(text.as_bytes(), HOST_CPUS).unwrap();
        let found: Vec<_> = tenants
            .iter()
            .map(|t| (t.tenant.metadata.name.as_str(), t.line))
            .collect();
        assert_eq!(found, [("acme", 3), ("globex", 10)]);
    }

    #[test]
    fn an_empty_file_or_one_of_comments_defines_no_tenants() {
        for text in ["", "\n", "# nothing yet\n", "---\n---\n"] {
            assert_eq!(
                parse_file(text.as_bytes(), HOST_CPUS).unwrap(),
                vec![],
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_unknown_field_is_reported_at_its_line_and_column() {
        let text =
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: acme\nspec:\n  imagee: x\n";
        let err = error(text);
        assert_eq!((err.line, err.column), (Some(6), Some(3)), "{err:?}");
        assert!(err.message.contains("imagee"), "{}", err.message);
        assert_eq!(
            err.located("specs/acme.yaml"),
            format!("specs/acme.yaml:6:3: {}", err.message)
        );
    }

    #[test]
    fn a_broken_rule_points_at_the_offending_key_in_the_right_document() {
        let text = format!(
            "{}---\napiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: globex\nspec:\n  image: nginx\n  resources:\n    pids: 5\n",
            doc("acme")
        );
        let err = error(&text);
        assert_eq!((err.line, err.column), (Some(14), Some(5)), "{err:?}");
        assert!(
            err.message
                .starts_with("tenant globex: spec.resources.pids: must be between 16 and 4096"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_broken_rule_on_a_key_that_cannot_be_followed_points_at_the_deepest_key_found() {
        let text = "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: acme\nspec: {resources: {pids: 5}}\n";
        let err = error(text);
        assert_eq!((err.line, err.column), (Some(5), Some(1)), "{err:?}");
    }

    #[test]
    fn a_reserved_name_is_refused_at_the_name() {
        let err = error(&doc("admin"));
        assert_eq!((err.line, err.column), (Some(4), Some(3)), "{err:?}");
        assert!(err.message.contains("metadata.name"), "{}", err.message);
    }

    #[test]
    fn a_name_defined_twice_in_one_file_is_refused() {
        let text = format!("{}---\n{}", doc("acme"), doc("acme"));
        let err = error(&text);
        assert_eq!(err.line, Some(10), "{err:?}");
        assert!(
            err.message.contains("defined twice") && err.message.contains("line 1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_subdomain_used_twice_in_one_file_is_refused() {
        let text = format!(
            "{}---\napiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: globex\nspec:\n  subdomain: acme\n",
            doc("acme")
        );
        let err = error(&text);
        assert_eq!((err.line, err.column), (Some(12), Some(3)), "{err:?}");
        assert!(err.message.contains("subdomain acme"), "{}", err.message);
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_at_the_first_bad_byte() {
        let mut bytes = b"apiVersion: tenantd/v1\nkind: Ten".to_vec();
        bytes.push(0xff);
        let err = parse_file(&bytes, HOST_CPUS).unwrap_err();
        assert_eq!((err.line, err.column), (Some(2), Some(10)), "{err:?}");
    }

    #[test]
    fn server_owned_metadata_and_status_in_a_file_are_dropped() {
        let text = "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: acme\n  uid: abc\n  resourceVersion: \"7\"\n  generation: 3\n  source: file:elsewhere.yaml\n  finalizers: [x]\nspec: {}\nstatus:\n  phase: Ready\n";
        let tenants = parse_file(text.as_bytes(), HOST_CPUS).unwrap();
        let meta = &tenants[0].tenant.metadata;
        assert_eq!(
            (
                &meta.uid,
                &meta.resource_version,
                meta.generation,
                &meta.source
            ),
            (&None, &None, None, &None)
        );
        assert!(meta.finalizers.is_empty());
        assert_eq!(tenants[0].tenant.status, None);
    }

    #[test]
    fn document_spans_follow_markers_and_skip_empty_documents() {
        let text = "%YAML 1.2\n---\n# only a comment\n---\na: 1\n...\n\n--- {b: 2}\n";
        let spans = document_starts(text);
        assert_eq!(
            spans,
            [
                DocumentSpan { line: 5, end: 6 },
                DocumentSpan { line: 8, end: 10 }
            ]
        );
    }
}
