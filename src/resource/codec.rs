//! The YAML codec for [`Tenant`]s: multi-document parsing with exact error locations, and
//! serialization. JSON needs no code here: `serde_json` works on the types directly.
//!
//! # Guarantees
//! - Unknown fields, duplicate keys, wrong types and bad quantities are errors that carry the
//!   line and column (1-based) of the offending node, and the index of its document.
//! - Hostile input is bounded: at most [`MAX_INPUT_BYTES`] of text, and alias ("billion
//!   laughs"), depth, node and document budgets sized for tenant specs, so parsing costs time
//!   and memory proportional to the input, never exponential in it.
//! - [`to_yaml`] output parses back to an equal `Tenant`.
//!
//! # Caveats
//! - Parsing stops at the first error; later documents are not looked at.
//! - This checks shape only. Rules on values (names, images, limits) live in `validate`.

use std::borrow::Cow;

use serde_saphyr::{DuplicateKeyPolicy, MessageFormatter, UserMessageFormatter};
use thiserror::Error;

use super::Tenant;

/// The largest YAML text [`parse_documents`] accepts: 1 MiB. A spec is a few hundred bytes
/// and even a file of a thousand tenants fits; anything larger is a mistake or an attack,
/// and the limit also bounds every other budget below (they are per input, not per file).
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// The longest message kept from the parser. Messages can quote user input (an unknown key),
/// and one error must stay a readable line, not a megabyte of echo.
const MAX_MESSAGE_CHARS: usize = 500;

/// Why YAML text could not be read as `Tenant` documents.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The text is larger than [`MAX_INPUT_BYTES`]; none of it was parsed.
    #[error(
        "the input is {size} bytes, more than the {MAX_INPUT_BYTES} bytes accepted; \
         split it into several files"
    )]
    TooLarge { size: usize },
    /// The YAML is malformed, breaks a limit, or a document does not have the shape of a
    /// `Tenant` (unknown or missing field, wrong type, bad quantity).
    #[error("{}", Located::new(.line, .column, .message))]
    Invalid {
        message: String,
        /// 1-based line, when the parser knows it.
        line: Option<usize>,
        /// 1-based column, in characters, when the parser knows it.
        column: Option<usize>,
        /// 0-based index of the document in the stream, counting every `---`-separated
        /// document, empty ones included; known whenever `line` is.
        document: Option<usize>,
    },
}

impl ParseError {
    /// The 1-based line of the error, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::TooLarge { .. } => None,
            ParseError::Invalid { line, .. } => *line,
        }
    }

    /// The 1-based column of the error, if known.
    pub fn column(&self) -> Option<usize> {
        match self {
            ParseError::TooLarge { .. } => None,
            ParseError::Invalid { column, .. } => *column,
        }
    }

    /// The 0-based index of the document holding the error, if known.
    pub fn document(&self) -> Option<usize> {
        match self {
            ParseError::TooLarge { .. } => None,
            ParseError::Invalid { document, .. } => *document,
        }
    }

    /// What went wrong, without the location.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            ParseError::TooLarge { .. } => Cow::Owned(self.to_string()),
            ParseError::Invalid { message, .. } => Cow::Borrowed(message),
        }
    }

    fn from_yaml(text: &str, err: &serde_saphyr::Error) -> Self {
        let location = err.location().filter(|l| l.line() > 0);
        let line = location.and_then(|l| usize::try_from(l.line()).ok());
        let column = location.and_then(|l| usize::try_from(l.column()).ok());
        // The user formatter leaves out developer hints ("use Option<String>") and the
        // location, which `ParseError` keeps in its own fields.
        let message = UserMessageFormatter.format_message(innermost(err));
        ParseError::Invalid {
            message: printable(&message),
            line,
            column,
            document: line.map(|line| document_index(text, line)),
        }
    }
}

/// Displays "line 7, column 5: message", or just the message when the location is unknown.
struct Located<'a> {
    line: Option<usize>,
    column: Option<usize>,
    message: &'a str,
}

impl<'a> Located<'a> {
    fn new(line: &Option<usize>, column: &Option<usize>, message: &'a str) -> Self {
        Located {
            line: *line,
            column: *column,
            message,
        }
    }
}

impl std::fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: "),
            (Some(line), None) => write!(f, "line {line}: "),
            _ => Ok(()),
        }?;
        f.write_str(self.message)
    }
}

/// Parses a stream of `---`-separated YAML documents, each one `Tenant`.
///
/// Empty documents (a leading or trailing `---`, a file of comments) are skipped, so empty
/// text gives an empty list.
///
/// # Errors
/// [`ParseError::TooLarge`] above [`MAX_INPUT_BYTES`]; otherwise [`ParseError::Invalid`] for
/// the first document that is malformed or not a `Tenant`, with its location.
pub fn parse_documents(text: &str) -> Result<Vec<Tenant>, ParseError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(ParseError::TooLarge { size: text.len() });
    }
    serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|err| ParseError::from_yaml(text, &err))
}

/// Serializes one tenant as a YAML document (without a leading `---`).
pub fn to_yaml(tenant: &Tenant) -> String {
    serde_saphyr::to_string(tenant)
        .expect("a Tenant always serializes to YAML: its maps have string keys and no value fails")
}

/// Parser options: strict about duplicates, and budgets sized for tenant specs.
///
/// serde-saphyr's defaults are built for large configuration files (a million events, a
/// million replayed alias events, 64 MiB of scalars). Tenant specs are tiny and arrive from
/// untrusted users over HTTP, so every budget is cut to a few times what 1 MiB of honest YAML
/// can need. The budget counts across the whole stream when parsing from a string (the
/// streaming reader API would restart it at every document), which is why this module
/// parses text and not a reader.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            // Only reader input is checked by the library; `parse_documents` checks text.
            max_reader_input_bytes: Some(MAX_INPUT_BYTES),
            max_documents: 5_000,
            // A Tenant nests five levels (status.conditions[].field); 32 leaves room for
            // a readable type error instead of a budget error on odd input.
            max_depth: 32,
            max_nodes: 250_000,
            max_events: 500_000,
            max_anchors: 1_000,
            max_aliases: 1_000,
            max_merge_keys: 1_000,
            // Aliases may repeat text, but never more than double what was sent.
            max_total_scalar_bytes: 2 * MAX_INPUT_BYTES,
            max_recorded_anchor_bytes: MAX_INPUT_BYTES,
            max_recorded_anchor_events: 20_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            // The "billion laughs" bound: however aliases nest, at most this many events are
            // replayed per document (the counter restarts at `---`; replayed events also
            // count towards `max_events` above, which spans the stream). Honest specs reuse
            // a block of env vars a few times.
            max_total_replayed_events: 20_000,
            max_replay_stack_depth: 8,
            max_alias_expansions_per_anchor: 100,
        },
        // The default, stated because it matters: `env: {A: 1, A: 2}` is a mistake to
        // report, not a silent last-wins.
        duplicate_keys: DuplicateKeyPolicy::Error,
        // Errors are rendered from our own fields, so the snippet would be thrown away.
        with_snippet: false,
    }
}

/// The error that actually happened, under any alias or snippet wrappers.
fn innermost(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = err
    {
        err = error;
    }
    err
}

/// `message` with control characters escaped and its length capped, so that an error is
/// always one readable line whatever the input quoted in it.
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS));
    for (i, c) in message.chars().enumerate() {
        if i == MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// The 0-based index of the document that contains 1-based `line`.
///
/// Counts documents the way YAML delimits them: a `---` line starts one, content after a
/// `...` line (or at the start of the text) starts one implicitly, and blank lines, comments
/// and directives belong to no document. YAML forbids `---` and `...` at the start of a line
/// inside any scalar, so looking at line starts is exact, not a heuristic.
fn document_index(text: &str, line: usize) -> usize {
    let mut started = 0usize;
    let mut inside = false;
    let lines = text.trim_start_matches('\u{feff}').split('\n');
    for raw in lines.take(line) {
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        if is_marker(l, "---") {
            started += 1;
            inside = true;
        } else if is_marker(l, "...") {
            inside = false;
        } else if !inside {
            let trimmed = l.trim_start();
            let content = !(trimmed.is_empty() || trimmed.starts_with('#') || l.starts_with('%'));
            if content {
                started += 1;
                inside = true;
            }
        }
    }
    started.saturating_sub(1)
}

/// Whether `line` is the document marker `marker`, alone or followed by whitespace.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::resource::{
        Condition, ConditionStatus, Cpus, DatabaseSpec, DeletionPolicy, DesiredState,
        ImagePullPolicy, Memory, ObjectMeta, Phase, ResourceSpec, TenantSpec, TenantStatus,
    };

    const MINIMAL: &str =
        "apiVersion: tenantd/v1\nkind: Tenant\nmetadata:\n  name: acme\nspec: {}\n";

    fn invalid(text: &str) -> ParseError {
        match parse_documents(text) {
            Ok(tenants) => panic!("expected an error, parsed {tenants:?}"),
            Err(err) => err,
        }
    }

    fn full_tenant() -> Tenant {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 12, 30, 0).unwrap();
        Tenant {
            api_version: "tenantd/v1".into(),
            kind: "Tenant".into(),
            metadata: ObjectMeta {
                name: "acme-lab".into(),
                labels: BTreeMap::from([
                    ("plan".into(), "standard".into()),
                    ("tenantd.io/team".into(), "".into()),
                ]),
                uid: Some("0b6f1c7e".into()),
                generation: Some(3),
                resource_version: Some("17".into()),
                creation_timestamp: Some(at),
                deletion_timestamp: None,
                finalizers: vec!["tenantd.io/teardown".into()],
                owner: Some("ana@example.test".into()),
                source: Some("file:specs/acme-lab.yaml".into()),
            },
            spec: TenantSpec {
                subdomain: Some("acme".into()),
                image: Some("ghcr.io/complexdatacollective/fresco:latest".into()),
                image_pull_policy: ImagePullPolicy::Always,
                state: DesiredState::Stopped,
                resources: ResourceSpec {
                    memory: Some("512Mi".parse().unwrap()),
                    cpus: Some("0.5".parse().unwrap()),
                    pids: Some(100),
                },
                env: BTreeMap::from([
                    ("PLAIN".into(), "value".into()),
                    ("LOOKS_BOOL".into(), "yes".into()),
                    ("LOOKS_NUMBER".into(), "0.5".into()),
                    ("LOOKS_NULL".into(), "~".into()),
                    ("EMPTY".into(), "".into()),
                    ("MULTILINE".into(), "line one\nline two\n".into()),
                    ("YAMLISH".into(), "- a: b # c\n---\n...".into()),
                ]),
                database: DatabaseSpec {
                    deletion_policy: DeletionPolicy::BackupThenDelete,
                },
                restarted_at: Some("2025-03-01T12:30:00Z".into()),
            },
            status: Some(TenantStatus {
                phase: Phase::Degraded,
                observed_generation: 2,
                conditions: vec![Condition {
                    type_: "Ready".into(),
                    status: ConditionStatus::False,
                    reason: "ImagePullFailed".into(),
                    message: "pull access denied".into(),
                    last_transition_time: at,
                }],
                url: Some("https://acme.example.test".into()),
                container_id: Some("abc123".into()),
                image_id: Some("sha256:0123".into()),
            }),
        }
    }

    #[test]
    fn parse_documents_reads_every_document_in_order() {
        let text = format!("{MINIMAL}---\n{}", MINIMAL.replace("acme", "beta"));
        let tenants = parse_documents(&text).unwrap();
        let names: Vec<_> = tenants.iter().map(|t| t.metadata.name.as_str()).collect();
        assert_eq!(names, ["acme", "beta"]);
    }

    #[test]
    fn parse_documents_skips_empty_documents() {
        let text = format!("---\n# only a comment\n---\n{MINIMAL}---\n---\n");
        assert_eq!(parse_documents(&text).unwrap().len(), 1);
        assert_eq!(parse_documents("").unwrap(), vec![]);
        assert_eq!(parse_documents("# nothing\n").unwrap(), vec![]);
    }

    #[test]
    fn parse_documents_fills_defaults_for_a_minimal_spec() {
        let tenant = parse_documents(MINIMAL).unwrap().remove(0);
        assert_eq!(tenant.spec, TenantSpec::default());
        assert_eq!(tenant.status, None);
    }

    #[test]
    fn unknown_field_error_names_the_field_and_its_location() {
        let text =
            format!("{MINIMAL}  resources:\n    memroy: 1Gi\n").replace("spec: {}\n", "spec:\n");
        let err = invalid(&text);
        assert_eq!(
            (err.line(), err.column(), err.document()),
            (Some(7), Some(5), Some(0))
        );
        let shown = err.to_string();
        assert!(
            shown.starts_with("line 7, column 5: unknown field `memroy`, expected one of"),
            "{shown}"
        );
        assert!(shown.contains("memory"), "lists the known fields: {shown}");
        assert!(err.message().starts_with("unknown field `memroy`"));
    }

    #[test]
    fn errors_in_later_documents_report_the_document_and_the_absolute_line() {
        let text = format!(
            "{MINIMAL}---\n{}",
            MINIMAL.replace("name: acme", "nmae: beta")
        );
        let err = invalid(&text);
        assert_eq!(err.document(), Some(1));
        assert_eq!((err.line(), err.column()), (Some(10), Some(3)));
        assert!(err.message().contains("unknown field `nmae`"), "{err}");
    }

    #[test]
    fn empty_documents_count_towards_the_document_index() {
        let text = format!("---\n---\n{}", MINIMAL.replace("kind", "knid"));
        assert_eq!(invalid(&text).document(), Some(1));
    }

    #[test]
    fn bad_quantities_are_reported_with_their_location_and_rule() {
        let text = MINIMAL.replace("spec: {}", "spec:\n  resources: {memory: 128m}");
        let err = invalid(&text);
        assert_eq!(err.line(), Some(6));
        assert!(err.message().contains("milli"), "{err}");
        let text = MINIMAL.replace("spec: {}", "spec:\n  resources:\n    cpus: -1");
        let err = invalid(&text);
        assert_eq!((err.line(), err.column()), (Some(7), Some(11)));
        assert!(err.message().contains("negative"), "{err}");
    }

    #[test]
    fn missing_required_fields_and_wrong_types_are_errors() {
        let err = invalid("apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: a}\n");
        assert!(err.message().contains("missing field `spec`"), "{err}");
        let err = invalid(&MINIMAL.replace("spec: {}", "spec: {state: Paused}"));
        assert!(err.message().contains("Paused"), "{err}");
        let err = invalid(&MINIMAL.replace("spec: {}", "spec: {env: [A]}"));
        assert_eq!(err.line(), Some(5));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = invalid(&MINIMAL.replace("spec: {}", "spec:\n  env: {A: x, A: y}"));
        assert!(err.message().contains("duplicate"), "{err}");
        assert_eq!(err.line(), Some(6));
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let err = invalid("apiVersion: tenantd/v1\nkind: [Tenant\n");
        assert!(err.line().is_some(), "{err:?}");
        assert!(err.to_string().starts_with("line "), "{err}");
    }

    #[test]
    fn input_larger_than_the_limit_is_refused_before_parsing() {
        let text = format!("{MINIMAL}#{}\n", "x".repeat(MAX_INPUT_BYTES));
        let err = invalid(&text);
        assert_eq!(err, ParseError::TooLarge { size: text.len() });
        assert_eq!(err.line(), None);
        assert!(err.to_string().contains("split it"), "{err}");
    }

    /// Nine levels of ten aliases each: 10^10 scalars if expanded.
    fn alias_bomb(indent: &str) -> String {
        let mut text = format!("{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let items = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("{indent}a{i}: &a{i} [{items}]\n"));
        }
        text
    }

    #[test]
    fn the_parser_budget_stops_an_alias_bomb_that_is_read_in_full() {
        // `IgnoredAny` walks every replayed event, like a field that accepts any value would.
        let started = Instant::now();
        let result = serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(
            &alias_bomb(""),
            options(),
        );
        let err = result.expect_err("the bomb must break a budget");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        let message = UserMessageFormatter
            .format_message(innermost(&err))
            .into_owned();
        assert!(message.contains("too large or too complex"), "{message}");
    }

    #[test]
    fn parse_documents_refuses_an_alias_bomb_quickly() {
        let text = format!("{MINIMAL}{}", alias_bomb(""));
        let started = Instant::now();
        let err = invalid(&text);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(err.line(), Some(6), "{err}");
    }

    #[test]
    fn a_large_scalar_repeated_by_aliases_is_refused() {
        let big = "x".repeat(300_000);
        let aliases: String = (0..8).map(|i| format!("    B{i}: *big\n")).collect();
        let text = format!(
            "{}  env:\n    A: &big {big}\n{aliases}",
            MINIMAL.replace("spec: {}", "spec:")
        );
        assert!(text.len() < MAX_INPUT_BYTES);
        let err = invalid(&text);
        assert!(err.message().contains("too large or too complex"), "{err}");
    }

    #[test]
    fn honest_aliases_still_work() {
        let text = "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: &n acme}\nspec:\n  subdomain: *n\n";
        let tenant = parse_documents(text).unwrap().remove(0);
        assert_eq!(tenant.spec.subdomain.as_deref(), Some("acme"));
    }

    #[test]
    fn control_characters_in_messages_are_escaped() {
        let err = invalid(&MINIMAL.replace("spec: {}", "spec: {\"bad\\u0007key\\nx\": 1}"));
        assert!(!err.message().chars().any(char::is_control), "{err:?}");
        assert!(err.message().contains("\\u{7}"), "{err}");
    }

    #[test]
    fn to_yaml_round_trips_a_full_tenant() {
        let tenant = full_tenant();
        let yaml = to_yaml(&tenant);
        assert!(yaml.starts_with("apiVersion: tenantd/v1\n"), "{yaml}");
        assert!(yaml.contains("memory: 512Mi"), "{yaml}");
        assert_eq!(parse_documents(&yaml).unwrap(), vec![tenant.clone()]);
        let two = format!("{yaml}---\n{yaml}");
        assert_eq!(parse_documents(&two).unwrap(), vec![tenant.clone(), tenant]);
    }

    #[test]
    fn json_round_trips_a_full_tenant() {
        let tenant = full_tenant();
        let json = serde_json::to_string(&tenant).unwrap();
        assert!(json.contains("\"apiVersion\":\"tenantd/v1\""), "{json}");
        assert_eq!(serde_json::from_str::<Tenant>(&json).unwrap(), tenant);
    }

    #[test]
    fn document_index_follows_yaml_document_boundaries() {
        let text = "# header\n%YAML 1.2\n---\na: 1\n--- \nb: 2\n...\n# gap\nc: 3\n---\n";
        let at: Vec<_> = (1..=10).map(|line| document_index(text, line)).collect();
        assert_eq!(at, [0, 0, 0, 0, 1, 1, 1, 1, 2, 3]);
        assert_eq!(document_index("a: 1\n---\nb: 2\n", 3), 1);
        assert_eq!(
            document_index("a: |\n  ---x\n---x: 1\n", 3),
            0,
            "not markers"
        );
        assert_eq!(document_index("a: 1\r\n---\r\nb: 2\r\n", 3), 1);
    }

    proptest! {
        #[test]
        fn any_env_and_label_strings_round_trip_through_yaml(
            env in proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,8}", any::<String>(), 0..6),
            label in any::<String>(),
            owner in any::<String>(),
        ) {
            let mut tenant = full_tenant();
            tenant.spec.env = env;
            tenant.metadata.labels.insert(label.clone(), label);
            tenant.metadata.owner = Some(owner);
            let yaml = to_yaml(&tenant);
            prop_assert_eq!(parse_documents(&yaml).unwrap(), vec![tenant]);
        }

        #[test]
        fn any_quantities_round_trip_through_yaml(bytes in any::<u64>(), millis in any::<u32>()) {
            let mut tenant = full_tenant();
            tenant.spec.resources.memory = Some(Memory::from_bytes(bytes));
            tenant.spec.resources.cpus = Some(Cpus::from_millis(millis));
            let back = parse_documents(&to_yaml(&tenant)).unwrap().remove(0);
            prop_assert_eq!(back.spec.resources.memory.unwrap().bytes(), bytes);
            prop_assert_eq!(back.spec.resources.cpus.unwrap().millis(), millis);
        }

        #[test]
        fn parse_documents_never_panics(text in "\\PC{0,200}") {
            let _ = parse_documents(&text);
        }
    }
}
