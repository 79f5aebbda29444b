//! stdin/stdout comparison as RL sandboxes do it: both outputs trimmed, compared line by line
//! (each line trimmed), tokens equal or numbers within a relative tolerance, optionally
//! case-insensitive.

#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    pub relative_tolerance: f64,
    pub case_insensitive: bool,
}

fn tokens_match(got: &str, want: &str, options: Comparison) -> bool {
    if got == want || (options.case_insensitive && got.eq_ignore_ascii_case(want)) {
        return true;
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
}
