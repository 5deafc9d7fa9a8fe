//! Log lines as the logs page shows them: the engine's chunks split into lines with their
//! timestamp and source, cleaned of terminal control codes, filtered, and written out for a
//! download. Pure: no I/O.
//!
//! # Guarantees
//! - A line's text never contains control characters (ANSI colour codes are removed, other
//!   control characters but tab become `�`), so what a tenant's app printed cannot move the
//!   cursor of a terminal that shows the download, nor hide text on the page.
//! - The filter is the same case-insensitive substring test the page's script applies.
//!
//! # Caveats
//! - Output the engine split (a line longer than 16 KiB) arrives as several lines.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::engine::{LogChunk, LogSource};

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the engine received it; `None` when the chunk carried no readable timestamp.
    pub at: Option<DateTime<Utc>>,
    pub source: LogSource,
    /// The line without its newline, cleaned (see the module's guarantees).
    pub text: String,
}

impl LogLine {
    /// The timestamp as RFC 3339 with nanoseconds (the resume point of the live stream), or
    /// `""` without one.
    pub fn stamp(&self) -> String {
        self.at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Nanos, true))
            .unwrap_or_default()
    }

    /// `15:04:05` in UTC, as the page shows it; `""` without a timestamp.
    pub fn time_of_day(&self) -> String {
        self.at
            .map(|at| at.format("%H:%M:%S").to_string())
            .unwrap_or_default()
    }

    /// `2025-01-31 15:04:05.123 UTC`, for the time's tooltip.
    pub fn full_time(&self) -> String {
        self.at
            .map(|at| at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
            .unwrap_or_default()
    }

    /// `stdout` or `stderr`.
    pub fn source_name(&self) -> &'static str {
        self.source.as_str()
    }

    pub fn is_stderr(&self) -> bool {
        self.source == LogSource::Stderr
    }
}

/// The lines of a chunk read with `timestamps: true`: every line starts with the engine's
/// RFC 3339 timestamp and a space. A chunk without one (a partial line) keeps its text.
pub fn parse_chunk(chunk: &LogChunk) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(&chunk.bytes);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    text.split('\n')
        .map(|raw| {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let (at, rest) = match raw.split_once(' ') {
                Some((stamp, rest)) => match DateTime::parse_from_rfc3339(stamp) {
                    Ok(at) => (Some(at.with_timezone(&Utc)), rest),
                    Err(_) => (None, raw),
                },
                // A timestamp followed by an empty line has no space after it.
                None => match DateTime::parse_from_rfc3339(raw) {
                    Ok(at) => (Some(at.with_timezone(&Utc)), ""),
                    Err(_) => (None, raw),
                },
            };
            LogLine {
                at,
                source: chunk.source,
                text: clean(rest),
            }
        })
        .collect()
}

/// Removes ANSI escape sequences (colours, cursor moves) and replaces other control
/// characters but tab with `�`.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (window titles, links): up to BEL or ESC \.
                Some(']') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                // Any other two-character escape.
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => out.push('\t'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A case-insensitive substring filter; an empty one matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    needle: String,
}

impl Filter {
    pub fn new(query: &str) -> Filter {
        Filter {
            needle: query.trim().to_lowercase(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.needle.is_empty()
    }

    pub fn matches(&self, line: &LogLine) -> bool {
        self.needle.is_empty() || line.text.to_lowercase().contains(&self.needle)
    }
}

/// The download's body: one line per line, `<RFC 3339 time> <stdout|stderr> <text>`.
pub fn download_text<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> String {
    let mut out = String::new();
    for line in lines {
        let stamp = line.stamp();
        if !stamp.is_empty() {
            out.push_str(&stamp);
            out.push(' ');
        }
        out.push_str(line.source_name());
        out.push(' ');
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}

/// `<tenant>-logs-20250131T150405Z.txt`. Tenant names are RFC 1123 labels, so the name is
/// safe in a `Content-Disposition` header as it is.
pub fn download_filename(tenant: &str, now: DateTime<Utc>) -> String {
    format!("{tenant}-logs-{}.txt", now.format("%Y%m%dT%H%M%SZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(source: LogSource, text: &str) -> LogChunk {
        LogChunk {
            source,
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn line(text: &str) -> LogLine {
        LogLine {
            at: None,
            source: LogSource::Stdout,
            text: text.into(),
        }
    }

    #[test]
    fn a_chunk_is_split_into_lines_with_their_timestamps_and_source() {
        let lines = parse_chunk(&chunk(
            LogSource::Stderr,
            "2030-01-01T12:00:00.123456789Z first\n2030-01-01T12:00:01Z second line\n",
        ));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "first");
        assert_eq!(lines[0].stamp(), "2030-01-01T12:00:00.123456789Z");
        assert_eq!(lines[0].time_of_day(), "12:00:00");
        assert_eq!(lines[0].full_time(), "2030-01-01 12:00:00.123 UTC");
        assert!(lines[0].is_stderr());
        assert_eq!(lines[1].text, "second line");
        assert_eq!(lines[1].stamp(), "2030-01-01T12:00:01.000000000Z");
    }

    #[test]
    fn a_line_without_a_timestamp_keeps_all_of_its_text() {
        let lines = parse_chunk(&chunk(LogSource::Stdout, "not-a-time and more\r\n"));
        assert_eq!(lines, vec![line("not-a-time and more")]);
        let empty = parse_chunk(&chunk(LogSource::Stdout, "2030-01-01T12:00:00Z\n"));
        assert_eq!(empty[0].text, "");
        assert!(empty[0].at.is_some(), "a timestamped empty line");
    }

    #[test]
    fn cleaning_removes_colour_codes_and_masks_other_control_characters() {
        assert_eq!(clean("\u{1b}[1;31mred\u{1b}[0m text"), "red text");
        assert_eq!(clean("\u{1b}]0;title\u{7}after"), "after");
        assert_eq!(clean("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(clean("a\tb\u{8}c\u{0}"), "a\tb\u{fffd}c\u{fffd}");
        assert_eq!(
            clean("<script>é</script>"),
            "<script>é</script>",
            "HTML is the template's job"
        );
        assert_eq!(clean("dangling \u{1b}"), "dangling ");
    }

    #[test]
    fn the_filter_is_a_case_insensitive_substring_and_empty_matches_all() {
        let filter = Filter::new("  Listening ");
        assert!(filter.matches(&line("testapp LISTENING on 0.0.0.0:8080")));
        assert!(!filter.matches(&line("GET /status -> 200")));
        assert!(Filter::new("").matches(&line("anything")));
        assert!(Filter::new("   ").is_empty());
    }

    #[test]
    fn the_download_has_one_line_per_line_with_time_and_source() {
        let lines = parse_chunk(&chunk(LogSource::Stdout, "2030-01-01T12:00:00Z hello\n"));
        assert_eq!(
            download_text(lines.iter().chain([&line("no time")])),
            "2030-01-01T12:00:00.000000000Z stdout hello\nstdout no time\n"
        );
        let now = DateTime::parse_from_rfc3339("2030-01-31T15:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            download_filename("acme-lab", now),
            "acme-lab-logs-20300131T150405Z.txt"
        );
    }
}
