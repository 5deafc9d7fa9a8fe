//! Line charts of sampled usage (CPU %, memory MiB), drawn as SVG on the server: no script,
//! no chart library, and nothing in them but numbers and our own words.
//!
//! # Guarantees
//! - Pure: a chart is a function of its samples and the time window.
//! - Every chart is accessible: `role="img"` with a `<title>` and a `<desc>`, and the same
//!   facts as a sentence ([`Chart::summary`]) for the page's text.
//! - No inline style (the page's CSP forbids it): colours come from classes in `app.css`.
//! - Points outside the window are left out; an empty chart draws no SVG and says so.

use std::fmt::Write;

use chrono::{DateTime, Utc};

/// The drawing's coordinate system; the SVG scales to its container's width, keeping its
/// aspect ratio so the labels are never distorted. About the width of a card on a phone or in
/// the detail page's two columns, so the labels stay near their size in CSS pixels.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 150.0;
/// Room for the y-axis labels on the left and the time labels below.
const LEFT: f64 = 50.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// One reading: when, and the value in the chart's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// A chart ready to render: what it shows and the readings within its window.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Used for element ids; must be a short `[a-z-]` word.
    pub id: &'static str,
    /// "CPU", "Memory".
    pub title: &'static str,
    /// "%", "MiB".
    pub unit: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Oldest first, within `from..=to`.
    pub points: Vec<Point>,
}

impl Chart {
    /// A chart of `points` between `from` and `to`; points outside the window are dropped
    /// and the rest sorted by time.
    pub fn new(
        id: &'static str,
        title: &'static str,
        unit: &'static str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        points: impl IntoIterator<Item = Point>,
    ) -> Chart {
        let mut points: Vec<Point> = points
            .into_iter()
            .filter(|p| p.at >= from && p.at <= to && p.value.is_finite())
            .collect();
        points.sort_by_key(|p| p.at);
        Chart {
            id,
            title,
            unit,
            from,
            to,
            points,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The window's length in whole minutes, for labels ("last 15 min").
    pub fn minutes(&self) -> i64 {
        ((self.to - self.from).num_seconds() as f64 / 60.0).round() as i64
    }

    /// The chart in one sentence: latest, peak and average over the window.
    pub fn summary(&self) -> String {
        let Some(latest) = self.points.last() else {
            return format!("No samples yet in the last {} min.", self.minutes());
        };
        let peak = self.points.iter().map(|p| p.value).fold(f64::MIN, f64::max);
        let average = self.points.iter().map(|p| p.value).sum::<f64>() / self.points.len() as f64;
        let count = self.points.len();
        format!(
            "{title} now {latest} {unit}, peak {peak} {unit}, average {average} {unit} over {count} sample{s} in the last {minutes} min.",
            title = self.title,
            latest = number(latest.value),
            peak = number(peak),
            average = number(average),
            unit = self.unit,
            s = if count == 1 { "" } else { "s" },
            minutes = self.minutes(),
        )
    }

    /// The SVG markup; `None` for an empty chart (the page says "no samples yet" instead).
    pub fn svg(&self) -> Option<String> {
        if self.points.is_empty() {
            return None;
        }
        let peak = self.points.iter().map(|p| p.value).fold(0.0, f64::max);
        let top = nice_ceiling(peak);
        let grid_lines = grid_steps(top);
        let span = (self.to - self.from).num_milliseconds().max(1) as f64;
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let x =
            |at: DateTime<Utc>| LEFT + plot_w * (at - self.from).num_milliseconds() as f64 / span;
        let y = |value: f64| TOP + plot_h * (1.0 - (value / top).clamp(0.0, 1.0));

        let id = self.id;
        let mut svg = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose below.
        let _ = write!(
            svg,
            r#"<svg class="chart" id="chart-{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-{id}-title chart-{id}-desc" focusable="false">"#
        );
        let _ = write!(
            svg,
            r#"<title id="chart-{id}-title">{} ({}), last {} min</title><desc id="chart-{id}-desc">{}</desc>"#,
            escape(self.title),
            escape(self.unit),
            self.minutes(),
            escape(&self.summary())
        );
        // Grid lines with their values, zero at the bottom.
        for step in 0..=grid_lines {
            let value = top * f64::from(step) / f64::from(grid_lines);
            let gy = y(value);
            let class = if step == 0 {
                "chart-axis"
            } else {
                "chart-grid"
            };
            let _ = write!(
                svg,
                r#"<line class="{class}" x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}"/><text class="chart-label" x="{:.1}" y="{:.1}" text-anchor="end">{} {}</text>"#,
                WIDTH - RIGHT,
                LEFT - 5.0,
                gy + 3.5,
                number(value),
                escape(self.unit)
            );
        }
        // Time labels: the window's start, middle and end, relative to now.
        let minutes = self.minutes();
        for (fraction, anchor) in [(0.0, "start"), (0.5, "middle"), (1.0, "end")] {
            let label = match ((1.0 - fraction) * minutes as f64).round() as i64 {
                0 => "now".to_owned(),
                back => format!("−{back} min"),
            };
            let _ = write!(
                svg,
                r#"<text class="chart-label" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{label}</text>"#,
                LEFT + plot_w * fraction,
                HEIGHT - 6.0
            );
        }
        let coordinates: Vec<String> = self
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.value)))
            .collect();
        if coordinates.len() > 1 {
            // The area under the line, then the line itself.
            let first_x = x(self.points[0].at);
            let last_x = x(self.points[self.points.len() - 1].at);
            let base = y(0.0);
            let _ = write!(
                svg,
                r#"<polygon class="chart-area" points="{first_x:.1},{base:.1} {} {last_x:.1},{base:.1}"/><polyline class="chart-line" points="{}"/>"#,
                coordinates.join(" "),
                coordinates.join(" ")
            );
        }
        // The latest reading as a dot, so a single sample is visible too.
        let latest = self.points[self.points.len() - 1];
        let _ = write!(
            svg,
            r#"<circle class="chart-dot" cx="{:.1}" cy="{:.1}" r="4"/></svg>"#,
            x(latest.at),
            y(latest.value)
        );
        Some(svg)
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (at least 1): round axis labels.
pub fn nice_ceiling(value: f64) -> f64 {
    if !value.is_finite() || value <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// How many grid steps divide `top` (a [`nice_ceiling`]) into round numbers: 2 into halves,
/// 2.5 and the others into fifths.
pub fn grid_steps(top: f64) -> u32 {
    let magnitude = 10f64.powf(top.log10().floor());
    if (top / magnitude - 2.0).abs() < 1e-9 {
        4
    } else {
        5
    }
}

/// A value for people: one decimal below 10, whole numbers above.
pub fn number(value: f64) -> String {
    if value.abs() < 10.0 {
        let text = format!("{value:.1}");
        text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
    } else {
        format!("{value:.0}")
    }
}

/// XML text escaping (the chart's words are ours, but escaping keeps that from mattering).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap()
    }

    fn chart(points: &[(i64, f64)]) -> Chart {
        Chart::new(
            "cpu",
            "CPU",
            "%",
            at(0),
            at(900),
            points.iter().map(|&(s, value)| Point { at: at(s), value }),
        )
    }

    #[test]
    fn axis_tops_are_round_numbers_at_or_above_the_peak() {
        for (peak, top) in [
            (0.0, 1.0),
            (0.4, 1.0),
            (1.3, 2.0),
            (2.2, 2.5),
            (3.0, 5.0),
            (7.0, 10.0),
            (10.0, 10.0),
            (41.0, 50.0),
            (96.0, 100.0),
            (180.0, 200.0),
            (f64::NAN, 1.0),
        ] {
            assert_eq!(nice_ceiling(peak), top, "{peak}");
        }
    }

    #[test]
    fn grid_steps_are_round_numbers() {
        for (top, steps) in [
            (1.0, 5),
            (2.0, 4),
            (2.5, 5),
            (5.0, 5),
            (10.0, 5),
            (20.0, 4),
            (250.0, 5),
        ] {
            assert_eq!(grid_steps(top), steps, "{top}");
            let step = top / f64::from(steps);
            assert_eq!(
                number(step).parse::<f64>().unwrap(),
                step,
                "{top}: step {step} prints exactly"
            );
        }
    }

    #[test]
    fn an_empty_chart_draws_nothing_and_says_no_samples_yet() {
        let empty = chart(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.svg(), None);
        assert_eq!(empty.summary(), "No samples yet in the last 15 min.");
    }

    #[test]
    fn a_chart_has_a_title_a_description_labels_and_a_line() {
        let svg = chart(&[(100, 1.0), (400, 3.0), (800, 2.0)]).svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="chart-cpu-title chart-cpu-desc""#));
        assert!(svg.contains(">CPU (%), last 15 min</title>"), "{svg}");
        assert!(
            svg.contains(
                ">CPU now 2 %, peak 3 %, average 2 % over 3 samples in the last 15 min.</desc>"
            ),
            "{svg}"
        );
        for label in [">5 %<", ">1 %<", ">0 %<", ">−15 min<", ">−8 min<", ">now<"] {
            assert!(svg.contains(label), "{label} in {svg}");
        }
        assert!(svg.contains(r#"<polyline class="chart-line""#));
        assert!(!svg.contains("style="), "the CSP forbids inline style");
    }

    #[test]
    fn points_are_placed_by_time_and_value() {
        // Half way through the window at the top of a 0..2 axis.
        let svg = chart(&[(0, 0.0), (450, 2.0)]).svg().unwrap();
        let plot_w = WIDTH - LEFT - RIGHT;
        let middle = format!("{:.1},{:.1}", LEFT + plot_w / 2.0, TOP);
        let start = format!("{LEFT:.1},{:.1}", HEIGHT - BOTTOM);
        assert!(svg.contains(&format!("{start} {middle}")), "{svg}");
    }

    #[test]
    fn a_single_sample_is_drawn_as_a_dot() {
        let one = chart(&[(900, 12.5)]);
        let svg = one.svg().unwrap();
        assert!(svg.contains("<circle"));
        assert!(!svg.contains("<polyline"), "no line through one point");
        assert_eq!(
            one.summary(),
            "CPU now 12 %, peak 12 %, average 12 % over 1 sample in the last 15 min."
        );
    }

    #[test]
    fn points_outside_the_window_or_not_finite_are_left_out_and_sorted() {
        let c = Chart::new(
            "m",
            "Memory",
            "MiB",
            at(0),
            at(60),
            [
                Point {
                    at: at(50),
                    value: 2.0,
                },
                Point {
                    at: at(-1),
                    value: 9.0,
                },
                Point {
                    at: at(10),
                    value: 1.0,
                },
                Point {
                    at: at(61),
                    value: 9.0,
                },
                Point {
                    at: at(20),
                    value: f64::NAN,
                },
            ],
        );
        let values: Vec<f64> = c.points.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![1.0, 2.0]);
        assert_eq!(c.minutes(), 1);
        assert_eq!(c.to - c.from, TimeDelta::seconds(60));
    }

    #[test]
    fn numbers_keep_one_decimal_only_when_small() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.25), "0.2");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(12.5), "12");
        assert_eq!(number(96.0), "96");
    }
}
