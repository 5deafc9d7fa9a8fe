//! Output for people: colour (only on a terminal, never with `NO_COLOR`), aligned tables and
//! short ages.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};

/// Colours text when the output is a terminal.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// For standard output: on when it is a terminal and `NO_COLOR` is unset or empty.
    pub fn stdout() -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Paint {
            on: std::io::stdout().is_terminal() && !no_color,
        }
    }

    /// Never colours (for tests and pipes).
    pub fn plain() -> Paint {
        Paint { on: false }
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }
    pub fn yellow(self, text: &str) -> String {
        self.wrap("33", text)
    }
    pub fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }
    pub fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }
    pub fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }

    /// A phase in its colour: Ready green, Degraded red, Stopped dim, the rest yellow.
    pub fn phase(self, phase: &str) -> String {
        match phase {
            "Ready" => self.green(phase),
            "Degraded" => self.red(phase),
            "Stopped" => self.dim(phase),
            _ => self.yellow(phase),
        }
    }
}

/// Rows of cells printed with each column as wide as its widest cell, three spaces apart
/// (as kubectl does). A cell may carry colour: widths are measured on the plain text.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<(String, String)>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        let mut table = Table::default();
        table.rows.push(
            header
                .iter()
                .map(|h| ((*h).to_owned(), (*h).to_owned()))
                .collect(),
        );
        table
    }

    /// A row of plain cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c.clone(), c)).collect());
    }

    /// A row of `(plain, shown)` cells, where `shown` may be coloured.
    pub fn styled_row(&mut self, cells: Vec<(String, String)>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|(plain, _)| plain.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, (plain, shown)) in row.iter().enumerate() {
                line.push_str(shown);
                if i + 1 < row.len() {
                    let pad = widths[i] - plain.chars().count() + 3;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// How long ago, the way kubectl shows ages: `45s`, `12m`, `5h`, `3d`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - since).num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A JSON value as one short line: strings quoted, maps and lists compact.
pub fn value(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn table_columns_align_on_the_plain_text_of_coloured_cells() {
        let mut table = Table::new(&["NAME", "PHASE"]);
        table.styled_row(vec![
            ("acme-lab".into(), "acme-lab".into()),
            ("Ready".into(), "\x1b[32mReady\x1b[0m".into()),
        ]);
        table.row(vec!["b".into(), "Provisioning".into()]);
        assert_eq!(
            table.render(),
            "NAME       PHASE\nacme-lab   \x1b[32mReady\x1b[0m\nb          Provisioning\n"
        );
    }

    #[test]
    fn ages_are_short() {
        let now = Utc::now();
        assert_eq!(age(now - Duration::seconds(5), now), "5s");
        assert_eq!(age(now - Duration::minutes(30), now), "30m");
        assert_eq!(age(now - Duration::hours(30), now), "30h");
        assert_eq!(age(now - Duration::days(9), now), "9d");
        assert_eq!(age(now + Duration::seconds(3), now), "0s", "clock skew");
    }

    #[test]
    fn plain_paint_adds_no_escape_codes() {
        assert_eq!(Paint::plain().phase("Ready"), "Ready");
        assert_eq!(Paint { on: true }.red("x"), "\x1b[31mx\x1b[0m");
    }
}
