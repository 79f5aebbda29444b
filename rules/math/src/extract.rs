//! Final-answer extraction: "The final answer is X", `\boxed{X}` / `\fbox{X}`, "Answer: X",
//! GSM8K's `#### X`.
//!
//! Every configured extractor reports its last match; the match that starts last in the
//! response wins. Scans are linear in the response length: a candidate never reads more than
//! `limit` bytes past its keyword, so a 1 MB response with thousands of unclosed `\boxed{`
//! still costs O(n * limit) at worst with a small `limit`.

use crate::Extractor;

/// One extracted candidate: where its keyword starts, and the answer text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) start: usize,
    pub(crate) text: String,
    /// The answer ran past the byte limit and was cut: it cannot be verified.
    pub(crate) truncated: bool,
}

/// The winning candidate over all extractors (latest start), if any.
pub(crate) fn extract(response: &str, extractors: &[Extractor], limit: usize) -> Option<Candidate> {
    let lower = response.to_ascii_lowercase();
    extractors
        .iter()
        .filter_map(|e| match e {
            Extractor::FinalAnswer => last_phrase(
                response,
                &lower,
                &["final answer is", "final answer:"],
                limit,
            ),
            Extractor::Boxed => last_boxed(response, limit),
            Extractor::AnswerColon => last_phrase(response, &lower, &["answer:"], limit),
            Extractor::Gsm8k => last_gsm8k(response, limit),
        })
        .max_by_key(|c| c.start)
}

/// Last occurrence of any phrase (case-insensitive) followed by a non-empty answer on its line.
fn last_phrase(response: &str, lower: &str, phrases: &[&str], limit: usize) -> Option<Candidate> {
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for p in phrases {
        hits.extend(lower.match_indices(p).map(|(i, m)| (i, i + m.len())));
    }
    hits.sort_unstable();
    let line_start_only = phrases == ["answer:"];
    for &(start, end) in hits.iter().rev() {
        if line_start_only && !at_line_start(response, start) {
            continue;
        }
        let rest = &response[end..];
        // Only the first `limit + 1` bytes are looked at: no scan to a far-away newline.
        let window = bounded(rest, rest.len(), limit);
        let line = window.find('\n').map_or(window, |e| &window[..e]);
        if let Some(text) = clean_inline(line) {
            let truncated = line.len() == window.len() && window.len() < rest.len();
            return Some(Candidate {
                start,
                text,
                truncated,
            });
        }
    }
    None
}

/// The last line `#### <number>` (GSM8K's final-answer line, as veRL's `gsm8k` reward reads
/// it: `#### (-?[0-9.,]+)`), allowing a `$` and a closing `.`; nothing else on the line.
fn last_gsm8k(response: &str, limit: usize) -> Option<Candidate> {
    for (start, _) in response.rmatch_indices("####") {
        let before = &response[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if !before[line_start..].trim().is_empty() {
            continue;
        }
        let rest = &response[start + 4..];
        let window = bounded(rest, rest.len(), limit);
        let line = window.find('\n').map_or(window, |e| &window[..e]);
        let token = line.trim().trim_end_matches('.').trim_start_matches('$');
        if gsm8k_number(token) {
            return Some(Candidate {
                start,
                text: token.replace(',', ""),
                truncated: false,
            });
        }
    }
    None
}

fn gsm8k_number(token: &str) -> bool {
    let digits = token.strip_prefix(['-', '+']).unwrap_or(token);
    digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
}

/// Only whitespace and markdown markers (`*`, `#`, `>`, `-`) between the line start and `at`.
fn at_line_start(s: &str, at: usize) -> bool {
    s[..at]
        .bytes()
        .rev()
        .take_while(|&b| b != b'\n')
        .all(|b| matches!(b, b' ' | b'\t' | b'*' | b'#' | b'>' | b'-' | b'_'))
}

/// `&s[..end]`, but at most `limit + 1` bytes (cut on a char boundary).
fn bounded(s: &str, end: usize, limit: usize) -> &str {
    let mut cut = end.min(limit.saturating_add(1));
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Last `\boxed{...}` or `\fbox{...}` with balanced braces.
fn last_boxed(response: &str, limit: usize) -> Option<Candidate> {
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for kw in ["\\boxed", "\\fbox"] {
        hits.extend(response.match_indices(kw).map(|(i, m)| (i, i + m.len())));
    }
    hits.sort_unstable();
    for &(start, end) in hits.iter().rev() {
        if let Some((text, truncated)) = boxed_body(&response[end..], limit) {
            let text = text.trim();
            if !text.is_empty() {
                return Some(Candidate {
                    start,
                    text: text.to_string(),
                    truncated,
                });
            }
        }
    }
    None
}

/// The argument after `\boxed`: a balanced `{...}` group, or `\boxed 5` (one bare word).
/// When the group does not close within `limit` bytes, the (over-long) prefix is returned so
/// the caller reports the answer as too long instead of silently skipping it.
fn boxed_body(after: &str, limit: usize) -> Option<(&str, bool)> {
    let trimmed = after.trim_start_matches([' ', '\t']);
    let offset = after.len() - trimmed.len();
    let bytes = trimmed.as_bytes();
    match bytes.first() {
        Some(b'{') => {
            let mut depth = 0usize;
            let mut i = 0;
            while i < bytes.len() {
                if i > limit + 1 {
                    return Some((bounded(&after[offset + 1..], limit + 1, limit), true));
                }
                match bytes[i] {
                    b'\\' => i += 1,
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((&trimmed[1..i], false));
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        Some(b) if offset > 0 || !b.is_ascii_alphabetic() => {
            let end = trimmed
                .find(|c: char| c.is_whitespace() || c == '$')
                .unwrap_or(trimmed.len());
            Some((bounded(trimmed, end, limit), end > limit + 1))
        }
        _ => None,
    }
}

/// The first `$` in `s` that is not escaped as `\$`.
fn closing_dollar(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| b[i] == b'$' && (i == 0 || b[i - 1] != b'\\'))
}

/// Cleans the text after a phrase: a leading `$...$` / `\(...\)` / `\[...\]` group is taken
/// alone; otherwise the sentence up to ". " ; markdown bold and trailing punctuation dropped.
pub(crate) fn clean_inline(line: &str) -> Option<String> {
    let s = line.trim().trim_start_matches([':', '*', ' ', '\t']).trim();
    let (body, delimited) = if let Some(r) = s.strip_prefix("$$") {
        (r.find("$$").map_or(r, |e| &r[..e]), true)
    } else if let Some(r) = s.strip_prefix('$') {
        match closing_dollar(r) {
            Some(e) => (&r[..e], true),
            // An unclosed `$` is a currency sign (`The final answer is $18.`).
            None => (r.find(". ").map_or(r, |e| &r[..e]), false),
        }
    } else if let Some(r) = s.strip_prefix("\\(") {
        (r.find("\\)").map_or(r, |e| &r[..e]), true)
    } else if let Some(r) = s.strip_prefix("\\[") {
        (r.find("\\]").map_or(r, |e| &r[..e]), true)
    } else {
        (s.find(". ").map_or(s, |e| &s[..e]), false)
    };
    let mut body = body.trim().trim_start_matches(['*', ' ']).trim();
    if !delimited {
        // Trailing punctuation and markdown bold, but not the `;` of a `\;`.
        while let Some(last) = body.chars().last() {
            let cut = body.len() - last.len_utf8();
            let escaped = body[..cut].ends_with('\\');
            if matches!(last, '.' | ',' | ';' | '*') && !escaped || last.is_whitespace() {
                body = &body[..cut];
            } else {
                break;
            }
        }
    }
    if body.is_empty() {
        None
    } else {
        Some(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Extractor::*;

    fn ex(s: &str) -> Option<String> {
        extract(s, &[FinalAnswer, Boxed, AnswerColon, Gsm8k], 2048).map(|c| c.text)
    }

    #[test]
    fn gsm8k_final_line() {
        assert_eq!(ex("3 + 15 = 18\n#### 18").as_deref(), Some("18"));
        assert_eq!(ex("So it costs\n#### $1,000.").as_deref(), Some("1000"));
        assert_eq!(ex("#### -2.5\n").as_deref(), Some("-2.5"));
        // A markdown heading is not an answer; the earlier final answer stays.
        assert_eq!(
            ex("The final answer is 7\n#### Step 2: check").as_deref(),
            Some("7")
        );
        assert_eq!(ex("text #### 18").as_deref(), None);
        assert_eq!(ex("#### 18 apples").as_deref(), None);
        // The later of a final-answer phrase and a #### line wins.
        assert_eq!(ex("#### 5\nThe final answer is 6").as_deref(), Some("6"));
        assert_eq!(ex("The final answer is 6\n#### 5").as_deref(), Some("5"));
    }

    #[test]
    fn final_answer_phrase() {
        assert_eq!(
            ex("so 3+4=7\nThe final answer is 18").as_deref(),
            Some("18")
        );
        assert_eq!(
            ex("The final answer is $\\frac{1}{2}$. I hope it is correct.").as_deref(),
            Some("\\frac{1}{2}")
        );
        assert_eq!(ex("the Final Answer is  \\pi ").as_deref(), Some("\\pi"));
        assert_eq!(ex("Final answer: 12.").as_deref(), Some("12"));
        assert_eq!(ex("The final answer is 1.5. Done").as_deref(), Some("1.5"));
        assert_eq!(ex("The final answer is 5 \\;").as_deref(), Some("5 \\;"));
        assert_eq!(ex("The final answer is 5é.").as_deref(), Some("5é"));
        assert_eq!(
            ex("The final answer is $18. I hope it is correct.").as_deref(),
            Some("18")
        );
        assert_eq!(ex("The final answer is $1,000.").as_deref(), Some("1,000"));
    }

    #[test]
    fn boxed_nested_braces() {
        assert_eq!(
            ex("so $\\boxed{\\frac{1}{\\sqrt{2}}}$.").as_deref(),
            Some("\\frac{1}{\\sqrt{2}}")
        );
        assert_eq!(ex("\\fbox{42}").as_deref(), Some("42"));
        assert_eq!(ex("\\boxed 7$").as_deref(), Some("7"));
        assert_eq!(ex("\\boxed{\\{1, 2\\}}").as_deref(), Some("\\{1, 2\\}"));
        assert_eq!(ex("\\boxed{unclosed"), None);
        assert_eq!(ex("\\boxed{}"), None);
    }

    #[test]
    fn last_match_wins_across_extractors() {
        assert_eq!(
            ex("\\boxed{1} then The final answer is 2").as_deref(),
            Some("2")
        );
        assert_eq!(
            ex("The final answer is 2, or \\boxed{3}").as_deref(),
            Some("3")
        );
        assert_eq!(ex("\\boxed{1} and \\boxed{2}").as_deref(), Some("2"));
        assert_eq!(
            ex("Answer: 5\nbut \\boxed{6}\nAnswer: 7").as_deref(),
            Some("7")
        );
        assert_eq!(ex("**Answer:** **73**").as_deref(), Some("73"));
        assert_eq!(
            ex("\\boxed{44}. Check our answer: 17*44 = 748").as_deref(),
            Some("44")
        );
        assert_eq!(ex("Answer: $\\$18.5$").as_deref(), Some("\\$18.5"));
    }

    #[test]
    fn only_configured_extractors_run() {
        let only_boxed = extract("\\boxed{1} The final answer is 2", &[Boxed], 2048);
        assert_eq!(only_boxed.map(|c| c.text).as_deref(), Some("1"));
        assert_eq!(extract("The final answer is 2", &[AnswerColon], 2048), None);
        assert_eq!(ex("no answer here"), None);
    }

    #[test]
    fn long_inputs_are_bounded() {
        let open = "\\boxed{".repeat(20_000);
        let started = std::time::Instant::now();
        let c = extract(&open, &[Boxed], 100).expect("over-long candidate");
        assert!(c.truncated && c.text.len() > 100);
        assert!(started.elapsed().as_secs() < 2);
        let empty_hits = "final answer is $ $ ".repeat(50_000);
        let started = std::time::Instant::now();
        assert_eq!(extract(&empty_hits, &[FinalAnswer], 2048), None);
        assert!(started.elapsed().as_secs() < 2);
        let long_line = format!("The final answer is {}", "1".repeat(1_000_000));
        let c = extract(&long_line, &[FinalAnswer], 100).expect("candidate");
        assert!(c.truncated && c.text.len() < 200);
        let c = extract("The final answer is 5", &[FinalAnswer], 100).expect("candidate");
        assert!(!c.truncated);
    }
}
