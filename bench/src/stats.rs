//! Summaries of repeated measurements: median, spread (min–max) and percentiles. Pure.
//!
//! With the few repetitions a benchmark run affords (3–5), min–max says more than a standard
//! deviation and assumes no distribution; the median is what the ratios compare.

/// A summary of one set of samples (seconds, or any unit; the caller knows which).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for no samples: a contender that did not run has no summary, not a zero.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let sorted = sorted(samples);
        Some(Summary {
            runs: sorted.len(),
            median: percentile_of_sorted(&sorted, 50.0),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The `p`th percentile (0–100) with linear interpolation between closest ranks (the
/// method numpy calls "linear"), so the 50th of an even count is the mean of the middle two.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    Some(percentile_of_sorted(&sorted(samples), p))
}

fn percentile_of_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "callers check for empty samples first");
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let weight = rank - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * weight
}

/// `numerator / denominator`, or `None` when the denominator is zero or either is missing.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_an_odd_count_is_the_middle_sample() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
    }

    #[test]
    fn a_single_sample_is_its_own_median_and_spread() {
        let s = Summary::of(&[7.5]).unwrap();
        assert_eq!((s.median, s.min, s.max), (7.5, 7.5, 7.5));
    }

    #[test]
    fn no_samples_have_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.0), Some(1.0));
        assert_eq!(percentile(&samples, 100.0), Some(100.0));
        let p99 = percentile(&samples, 99.0).unwrap();
        assert!((p99 - 99.01).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn ratio_refuses_a_zero_or_missing_denominator() {
        assert_eq!(ratio(Some(2.0), Some(4.0)), Some(0.5));
        assert_eq!(ratio(Some(2.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
    }
}
