//! Python `str` and `re` character semantics that the reference relies on.
//!
//! Python decides `\w`, `\s`, `str.strip()`, `str.isupper()` and `str.islower()` with its own
//! Unicode tables; Rust's `char` methods and the `regex` crate use slightly different
//! definitions (for example Rust's `\w` includes combining marks, Python's does not).
//!
//! Two regex engines are involved: Google's `instructions.py` uses the standard `re` module,
//! while NLTK (>= 3.10) compiles all its patterns with the third-party `regex` module, whose
//! `\w` and `\s` follow Unicode's definitions, as the `regex` crate's do ([`is_nltk_word`],
//! [`is_nltk_space`]).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// `c.isspace()` in Python (also what `\s` matches in a `str` pattern): Unicode `White_Space`
/// plus the information separators U+001C..U+001F.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `\s` as a regex character-class body for the `regex` crate.
pub(crate) const SPACE_CLASS: &str = r"\s\x1C-\x1F";

/// `str.strip()` without arguments.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `str.rstrip()` without arguments.
pub(crate) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// `str.split()` without arguments.
pub(crate) fn split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|w| !w.is_empty())
}

/// Python's `\w` on `str`: `isalnum()` or `_`, i.e. letters and numbers (categories L* and N*).
pub(crate) fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    matches!(
        c.general_category(),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::ModifierLetter
            | GeneralCategory::OtherLetter
            | GeneralCategory::DecimalNumber
            | GeneralCategory::LetterNumber
            | GeneralCategory::OtherNumber
    )
}

/// `\w` of the `regex` module (used by NLTK) and of the `regex` crate: Alphabetic, marks,
/// decimal digits, connector punctuation and joiners.
pub(crate) fn is_nltk_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    c.is_alphabetic()
        || matches!(c, '\u{200c}' | '\u{200d}')
        || matches!(
            c.general_category(),
            GeneralCategory::NonspacingMark
                | GeneralCategory::SpacingMark
                | GeneralCategory::EnclosingMark
                | GeneralCategory::DecimalNumber
                | GeneralCategory::ConnectorPunctuation
        )
}

/// `\s` of the `regex` module (used by NLTK): Unicode `White_Space`.
pub(crate) fn is_nltk_space(c: char) -> bool {
    c.is_whitespace()
}

/// Python's `\d` on `str`: decimal digits (category Nd).
pub(crate) fn is_decimal(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    c.general_category() == GeneralCategory::DecimalNumber
}

fn is_title(c: char) -> bool {
    !c.is_ascii() && c.general_category() == GeneralCategory::TitlecaseLetter
}

/// `s.isupper()`: at least one cased character and no lowercase or titlecase one.
pub(crate) fn is_upper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_title(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// `s.islower()`: at least one cased character and no uppercase or titlecase one.
pub(crate) fn is_lower(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_uppercase() || is_title(c) {
            return false;
        }
        if c.is_lowercase() {
            cased = true;
        }
    }
    cased
}

/// `len(nltk.tokenize.RegexpTokenizer(r"\w+").tokenize(s))` (`instructions_util.count_words`),
/// with NLTK's `regex`-module `\w`.
pub(crate) fn count_words(s: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in s.chars() {
        let w = is_nltk_word(c);
        if w && !in_word {
            count += 1;
        }
        in_word = w;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_matches_python() {
        assert!(is_space('\u{1c}') && is_space('\u{a0}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200b}') && !is_space('x'));
        assert_eq!(strip("\u{1f} a b\u{85}\n"), "a b");
        assert_eq!(rstrip(" a \t"), " a");
        assert_eq!(
            split_whitespace(" a  b\u{a0}c ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn word_chars_match_python() {
        assert!(is_word('_') && is_word('é') && is_word('٣') && is_word('²'));
        // Devanagari vowel sign (Mc) and a combining acute (Mn) are not `\w` in Python.
        assert!(!is_word('\u{93e}') && !is_word('\u{301}'));
        // NLTK's `regex` engine keeps vowel signs and viramas inside words; `re` would give 5.
        assert_eq!(count_words("नमस्ते दुनिया"), 2);
        assert!(is_nltk_word('\u{93e}') && is_nltk_word('\u{301}') && !is_nltk_word('²'));
        assert!(is_nltk_space('\u{a0}') && !is_nltk_space('\u{1c}'));
        assert_eq!(count_words("Hello, world! it's 2024_x"), 5);
        assert_eq!(count_words(""), 0);
        assert!(is_decimal('٣') && !is_decimal('²'));
    }

    #[test]
    fn case_predicates_match_python() {
        assert!(is_upper("HELLO, WORLD 1"));
        assert!(!is_upper("HELLo"));
        assert!(!is_upper("123 !"));
        assert!(!is_upper("ǅ"));
        assert!(is_lower("hello, world 1"));
        assert!(!is_lower("Hello"));
        assert!(!is_lower("123"));
        assert!(is_lower("ß straße"));
    }
}
