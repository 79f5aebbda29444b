//! Checks on words, letters and language.

use regex::Regex;

use super::Relation;
use crate::{lang, py};

/// `re.search(r"\b" + word + r"\b", value, flags=re.IGNORECASE)`.
#[derive(Debug, Clone)]
pub(crate) struct WordPattern {
    pub(crate) re: Regex,
    /// `re` holds the word alone, and Python's `\b` (with Python's `\w`) is checked by hand at
    /// both ends of every occurrence; otherwise `re` includes the `regex` crate's `\b`.
    pub(crate) python_boundaries: bool,
}

fn python_boundary(s: &str, i: usize) -> bool {
    let before = s[..i].chars().next_back().is_some_and(py::is_word);
    let after = s[i..].chars().next().is_some_and(py::is_word);
    before != after
}

impl WordPattern {
    pub(crate) fn found(&self, value: &str) -> bool {
        if !self.python_boundaries {
            return self.re.is_match(value);
        }
        let mut start = 0;
        while let Some(m) = self.re.find_at(value, start) {
            if python_boundary(value, m.start()) && python_boundary(value, m.end()) {
                return true;
            }
            start = m.start() + value[m.start()..].chars().next().map_or(1, char::len_utf8);
            if start > value.len() {
                break;
            }
        }
        false
    }
}

/// `collections.Counter(value.lower())[letter]` compared with the threshold.
pub(super) fn letter_frequency(
    value: &str,
    letter: &str,
    threshold: i64,
    relation: Relation,
) -> bool {
    let count = value
        .to_lowercase()
        .chars()
        .filter(|c| letter.chars().eq(std::iter::once(*c)))
        .count();
    relation.holds(count, threshold)
}

/// `langdetect.detect(value) == language`; a detection failure counts as followed.
pub(super) fn response_language(value: &str, language: &str) -> bool {
    lang::detect(value).is_none_or(|detected| detected == language)
}

/// `value.isupper()` / `value.islower()` and English; a detection failure counts as followed.
pub(super) fn english_with_case(value: &str, case: fn(&str) -> bool) -> bool {
    case(value) && lang::detect(value).is_none_or(|detected| detected == "en")
}

/// `ParagraphFirstWordCheck.check_following`.
pub(super) fn nth_paragraph_first_word(
    value: &str,
    num_paragraphs: i64,
    nth: i64,
    first_word: &str,
) -> bool {
    let paragraphs: Vec<&str> = value.split("\n\n").collect();
    let non_empty = paragraphs
        .iter()
        .filter(|p| !py::strip(p).is_empty())
        .count() as i64;
    if nth > non_empty {
        return false;
    }
    let Some(paragraph) = usize::try_from(nth - 1)
        .ok()
        .and_then(|i| paragraphs.get(i))
    else {
        return false;
    };
    let paragraph = py::strip(paragraph);
    let Some(word) = py::split_whitespace(paragraph).next() else {
        return false;
    };
    let word = word.trim_start_matches('\'').trim_start_matches('"');
    let mut first = String::new();
    for c in word.chars() {
        if matches!(c, '.' | ',' | '?' | '!' | '\'' | '"') {
            break;
        }
        first.extend(c.to_lowercase());
    }
    non_empty == num_paragraphs && first == first_word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str) -> WordPattern {
        WordPattern {
            re: Regex::new(&format!("(?i){w}")).unwrap(),
            python_boundaries: true,
        }
    }

    #[test]
    fn forbidden_word_boundaries_follow_python() {
        assert!(word("cat").found("A CAT sat"));
        assert!(!word("cat").found("cats concatenate"));
        assert!(word("cat").found("cats, cat."));
        assert!(word("cat").found("cat_x cat"));
        assert!(!word("cat").found("cat_x"));
        // A combining mark is not `\w` in Python, so "ner" + U+0308 ends a word there.
        assert!(word("ner").found("ner\u{308} x"));
        assert!(!word("ner").found("inner"));
    }

    #[test]
    fn letter_frequency_counts_lowercased() {
        assert!(letter_frequency("Aardvark", "a", 3, Relation::AtLeast));
        assert!(!letter_frequency("Aardvark", "a", 3, Relation::LessThan));
        assert!(letter_frequency("#1 #2", "#", 2, Relation::AtLeast));
        // 'İ'.lower() is 'i' + U+0307 in Python: it contains an 'i'.
        assert!(letter_frequency("İ", "i", 1, Relation::AtLeast));
    }

    #[test]
    fn nth_paragraph() {
        let text = "First para.\n\n\"Second, para\n\nThird";
        assert!(nth_paragraph_first_word(text, 3, 2, "second"));
        assert!(!nth_paragraph_first_word(text, 2, 2, "second"));
        assert!(!nth_paragraph_first_word(text, 3, 1, "second"));
        assert!(!nth_paragraph_first_word(text, 3, 4, "third"));
        // An empty paragraph in the middle still counts as a position.
        assert!(!nth_paragraph_first_word("a\n\n\n\nb", 2, 2, "b"));
        assert!(!nth_paragraph_first_word("a\n\n\n\nb", 2, 3, "b"));
        assert!(nth_paragraph_first_word("'Hello!' x", 1, 1, "hello"));
    }
}
