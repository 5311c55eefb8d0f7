//! Proportions with honest uncertainty: the 95 % Wilson score interval of an observed ratio.
//!
//! Used wherever Spoor states an error rate or a recall: a ratio is never shown without the
//! number of trials it rests on and the interval those trials allow.

/// The 95 % Wilson score interval of `k` successes in `n` trials: `(low, high)`; `(0, 1)`
/// when there are none (nothing is known).
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_published_values() {
        // 0 of 10: (0, 0.2775); 1 of 10: (0.0179, 0.4042); 50 of 100: (0.4038, 0.5962).
        let close =
            |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 5e-4 && (a.1 - b.1).abs() < 5e-4;
        assert!(close(wilson(0, 10), (0.0, 0.2775)), "{:?}", wilson(0, 10));
        assert!(close(wilson(1, 10), (0.0179, 0.4042)), "{:?}", wilson(1, 10));
        assert!(close(wilson(50, 100), (0.4038, 0.5962)), "{:?}", wilson(50, 100));
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson(10, 10);
        assert!(lo > 0.69 && (hi - 1.0).abs() < 1e-12, "{lo} {hi}");
    }
}
