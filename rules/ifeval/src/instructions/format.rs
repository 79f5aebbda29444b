//! Checks on layout: paragraphs, bullets, highlights, sections, titles, JSON.

use std::sync::LazyLock;

use regex::Regex;

use crate::py;

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("valid regex"));
    };
}

re!(PARAGRAPH_DIVIDER, r"[\s\x1C-\x1F]?\*\*\*[\s\x1C-\x1F]?");
re!(PLACEHOLDER, r"\[.*?\]");
re!(STAR_BULLET, r"(?m)^[\s\x1C-\x1F]*\*[^*].*$");
re!(DASH_BULLET, r"(?m)^[\s\x1C-\x1F]*-.*$");
re!(HIGHLIGHT, r"\*[^\n*]*\*");
re!(DOUBLE_HIGHLIGHT, r"\*\*[^\n*]*\*\*");
re!(TITLE, r"<<[^\n]+>>");

/// `ParagraphChecker`: split on `\s?\*\*\*\s?`; empty chunks only at either end.
pub(super) fn number_paragraphs(value: &str, num: i64) -> bool {
    let parts: Vec<&str> = PARAGRAPH_DIVIDER.split(value).collect();
    let mut count = parts.len() as i64;
    for (i, p) in parts.iter().enumerate() {
        if py::strip(p).is_empty() {
            if i == 0 || i == parts.len() - 1 {
                count -= 1;
            } else {
                return false;
            }
        }
    }
    count == num
}

/// `len(re.findall(r"\[.*?\]", value))`.
pub(super) fn placeholders(value: &str) -> usize {
    PLACEHOLDER.find_iter(value).count()
}

/// Lines starting with `*` (not `**`) plus lines starting with `-`.
pub(super) fn bullet_lists(value: &str) -> usize {
    STAR_BULLET.find_iter(value).count() + DASH_BULLET.find_iter(value).count()
}

/// Non-empty `*...*` spans plus non-empty `**...**` spans.
pub(super) fn highlights(value: &str) -> usize {
    let single = HIGHLIGHT
        .find_iter(value)
        .filter(|m| !py::strip(m.as_str().trim_matches('*')).is_empty());
    let double = DOUBLE_HIGHLIGHT.find_iter(value).filter(|m| {
        let s = m.as_str();
        !py::strip(&s[2..s.len() - 2]).is_empty()
    });
    single.count() + double.count()
}

/// `<<...>>` on one line with non-blank content.
pub(super) fn title(value: &str) -> bool {
    TITLE
        .find_iter(value)
        .any(|m| !py::strip(m.as_str().trim_start_matches('<').trim_end_matches('>')).is_empty())
}

/// Two non-empty, different responses separated by `******`.
pub(super) fn two_responses(value: &str) -> bool {
    let parts: Vec<&str> = value.split("******").collect();
    let mut valid = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if py::strip(p).is_empty() {
            if i != 0 && i != parts.len() - 1 {
                return false;
            }
        } else {
            valid.push(*p);
        }
    }
    valid.len() == 2 && py::strip(valid[0]) != py::strip(valid[1])
}

/// `JsonFormat`: strip a code fence, then `json.loads` must succeed.
pub(super) fn json_format(value: &str) -> bool {
    let mut v = py::strip(value);
    for prefix in ["```json", "```Json", "```JSON", "```"] {
        v = v.strip_prefix(prefix).unwrap_or(v);
    }
    let v = py::strip(v.strip_suffix("```").unwrap_or(v));
    crate::pyjson::loads_ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs() {
        assert!(number_paragraphs("a\n***\nb\n***\nc", 3));
        assert!(number_paragraphs("***\na *** b\n***", 2));
        assert!(!number_paragraphs("a\n***\n***\nb", 2));
        assert!(!number_paragraphs("a *** b", 3));
        assert!(number_paragraphs("a", 1));
    }

    #[test]
    fn bullets_and_placeholders() {
        assert_eq!(bullet_lists("* a\n* b\n- c\n** not\ntext - x"), 3);
        assert_eq!(bullet_lists("*\nfoo"), 1);
        assert_eq!(placeholders("[a] [b] [c\n]"), 2);
    }

    #[test]
    fn highlight_counts() {
        // Python finds `*a*`, `**`, `**`, `* *`, `**` (only `*a*` counts) and `**b**`.
        assert_eq!(highlights("*a* **b** * * **"), 2);
        assert_eq!(highlights("*one*\n*two*"), 2);
        assert_eq!(highlights("no stars"), 0);
    }

    #[test]
    fn titles_and_two_responses() {
        assert!(title("<<My Title>>\ntext"));
        assert!(!title("<< >>"));
        assert!(!title("<<\n>>"));
        assert!(two_responses("one\n******\ntwo"));
        assert!(!two_responses("one\n******\none"));
        assert!(!two_responses("a******b******c"));
        assert!(!two_responses("a************b"));
        assert!(two_responses("******a******b******"));
    }

    #[test]
    fn json() {
        assert!(json_format(
            "```json\n{\"a\": [1, 2.5e3, null, true, \"x\"]}\n```"
        ));
        assert!(json_format("  [NaN, -Infinity]  "));
        assert!(!json_format("{\"a\": 1,}"));
        assert!(!json_format("Here: {\"a\": 1}"));
        assert!(!json_format(""));
    }
}
