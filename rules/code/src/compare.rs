//! stdin/stdout comparison: both outputs trimmed, compared line by line (each line trimmed),
//! token by token, optionally case-insensitive.
//!
//! Numbers: where the expected token is an integer (`-?[0-9]+`), the output's token must be the
//! same integer, written as an integer: `100001` for `100000`, `1000000000` for `1000000007`,
//! `100000.0` or `1e5` for `100000` all fail. The relative tolerance applies only where the
//! expected token is a non-integer number (`0.333333` for `0.33333334`). SandboxFusion (and
//! the APPS/CodeContests checkers derived from it) compares every numeric token within 1e-5,
//! integers included, so a wrong answer within 10 ppm of a large expected integer passes
//! there; not here.

#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    pub relative_tolerance: f64,
    pub case_insensitive: bool,
}

/// An integer token in canonical form (sign, digits without leading zeros; `-0` is `0`).
fn integer(token: &str) -> Option<(bool, &str)> {
    let (negative, digits) = match token.as_bytes().first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    Some((negative && !digits.is_empty(), digits))
}

fn tokens_match(got: &str, want: &str, options: Comparison) -> bool {
    if got == want || (options.case_insensitive && got.eq_ignore_ascii_case(want)) {
        return true;
    }
    if let Some(want) = integer(want) {
        return integer(got) == Some(want);
    }
    match (got.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => {
            let scale = a.abs().max(b.abs()).max(f64::MIN_POSITIVE);
            (a - b).abs() <= options.relative_tolerance * scale
        }
        _ => false,
    }
}

/// `Ok(())` when `got` matches `want`, else a short description of the first difference.
pub fn outputs_match(got: &str, want: &str, options: Comparison) -> Result<(), String> {
    let got_lines: Vec<&str> = got.trim().lines().map(str::trim).collect();
    let want_lines: Vec<&str> = want.trim().lines().map(str::trim).collect();
    if got_lines.len() != want_lines.len() {
        return Err(format!(
            "expected {} line(s), got {}",
            want_lines.len(),
            got_lines.len()
        ));
    }
    for (i, (g, w)) in got_lines.iter().zip(&want_lines).enumerate() {
        let (gt, wt): (Vec<&str>, Vec<&str>) = (
            g.split_whitespace().collect(),
            w.split_whitespace().collect(),
        );
        if gt.len() != wt.len() || !gt.iter().zip(&wt).all(|(a, b)| tokens_match(a, b, options)) {
            return Err(format!(
                "line {}: expected {:?}, got {:?}",
                i + 1,
                clip(w),
                clip(g)
            ));
        }
    }
    Ok(())
}

fn clip(text: &str) -> String {
    let clipped: String = text.chars().take(80).collect();
    if clipped.len() < text.len() {
        format!("{clipped}…")
    } else {
        clipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: Comparison = Comparison {
        relative_tolerance: 1e-5,
        case_insensitive: false,
    };

    #[test]
    fn compares_lines_tokens_and_numbers() {
        assert!(outputs_match("3\n", "3", OPTIONS).is_ok());
        assert!(outputs_match("  1 2 \n3\n\n", "1 2\n3", OPTIONS).is_ok());
        assert!(outputs_match("0.3333333", "0.33333334", OPTIONS).is_ok());
        assert!(outputs_match("0.33", "0.3333", OPTIONS).is_err());
        assert!(outputs_match("1 2", "1  2 3", OPTIONS).is_err());
        assert!(
            outputs_match("1\n2", "1", OPTIONS)
                .unwrap_err()
                .contains("expected 1 line")
        );
        assert!(outputs_match("YES", "yes", OPTIONS).is_err());
        assert!(
            outputs_match(
                "YES",
                "yes",
                Comparison {
                    case_insensitive: true,
                    ..OPTIONS
                }
            )
            .is_ok()
        );
        assert!(outputs_match("nan", "nan", OPTIONS).is_ok());
        assert!(outputs_match("inf", "1e308", OPTIONS).is_err());
    }

    #[test]
    fn integers_compare_exactly() {
        // Within SandboxFusion's 1e-5 of the expected integer: wrong answers, and they fail.
        assert!(outputs_match("100001", "100000", OPTIONS).is_err());
        assert!(outputs_match("1000000000", "1000000007", OPTIONS).is_err());
        assert!(outputs_match("99999999999999999999", "100000000000000000000", OPTIONS).is_err());
        // A float where an integer is expected.
        assert!(outputs_match("100000.0", "100000", OPTIONS).is_err());
        assert!(outputs_match("1e5", "100000", OPTIONS).is_err());
        assert!(outputs_match("3.0000001", "3", OPTIONS).is_err());
        // The same integer written differently is the same integer.
        assert!(outputs_match("007", "7", OPTIONS).is_ok());
        assert!(outputs_match("+7", "7", OPTIONS).is_ok());
        assert!(outputs_match("-0", "0", OPTIONS).is_ok());
        assert!(outputs_match("-7", "7", OPTIONS).is_err());
        let big = "123456789012345678901234567890";
        assert!(outputs_match(big, big, OPTIONS).is_ok());
        // Non-integer expected tokens keep the tolerance, and accept an integer output.
        assert!(outputs_match("2", "2.000001", OPTIONS).is_ok());
        assert!(outputs_match("100000", "1e5", OPTIONS).is_ok());
    }
}
