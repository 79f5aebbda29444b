//! `nltk.word_tokenize`: Punkt sentences, then NLTK's improved Treebank word tokenizer
//! (`NLTKWordTokenizer.tokenize` of NLTK 3.10) on each sentence.
//!
//! The substitutions are applied in NLTK's order. Those that need look-around or possessive
//! quantifiers (which the `regex` crate lacks) are written by hand.

use std::sync::LazyLock;

use regex::Regex;

use crate::{punkt, py};

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("valid regex"));
    };
}

re!(START_QUOTES, "([«“‘„]|`+)");
re!(LEADING_DQ, r#"^""#);
re!(DOUBLE_BACKTICK, "(``)");
re!(OPEN_QUOTE, r#"([ (\[{<])("|'')"#);
re!(COLON_COMMA, r"([:,])([^\d])");
re!(COLON_COMMA_END, r"([:,])(\n?)\z");
re!(ELLIPSIS, r"\.{2,}");
re!(SYMBOLS, "[;@#$%&]");
re!(DASHES, "[\u{2012}-\u{2015}]");
re!(QUESTION_EXCL, "[?!]");
re!(QUOTE_SPACE, "([^'])' ");
re!(STAR, r"\*");
re!(PARENS, r"[\]\[(){}<>]");
re!(DOUBLE_DASH, "--");
re!(END_QUOTES, "([»”’])");
re!(TWO_SINGLE, "''");
re!(DQ, "\"");
re!(SPACES, r"\s+");
re!(CLITIC1, "([^' ])('[sS]|'[mM]|'[dD]|') ");
re!(CLITIC2, "([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ");
/// NLTK compiles the contraction patterns with Python's standard `re` (not the `regex` module),
/// so `\b` and `\s` there follow Python's `str` rules; the boundaries are checked by hand.
/// (pattern without boundaries, needs `\b` before, what must follow).
static CONTRACTIONS: LazyLock<Vec<(Regex, bool, After)>> = LazyLock::new(|| {
    let two = [
        "can)(not", "d)('ye", "gim)(me", "gon)(na", "got)(ta", "lem)(me", "more)('n",
    ];
    let mut v: Vec<(Regex, bool, After)> = two
        .iter()
        .map(|p| (ci(&format!("({p})")), true, After::Boundary))
        .collect();
    v.push((ci("(wan)(na)"), true, After::Space));
    v.push((ci(" ('t)(is)"), false, After::Boundary));
    v.push((ci(" ('t)(was)"), false, After::Boundary));
    v
});

#[derive(Clone, Copy)]
enum After {
    /// `\b`
    Boundary,
    /// `(?=\s)`
    Space,
}

fn ci(p: &str) -> Regex {
    Regex::new(&format!("(?i){p}")).expect("valid regex")
}

fn python_boundary(s: &str, i: usize) -> bool {
    let before = s[..i].chars().next_back().is_some_and(py::is_word);
    let after = s[i..].chars().next().is_some_and(py::is_word);
    before != after
}

/// `re.sub(pattern, r" \1 \2 ", text)` for one contraction pattern.
fn split_contraction(text: String, re: &Regex, boundary_before: bool, after: After) -> String {
    let mut out = String::new();
    let mut copied = 0;
    let mut start = 0;
    while let Some(caps) = re.captures_at(&text, start) {
        let m = caps.get(0).expect("group 0");
        let ok = (!boundary_before || python_boundary(&text, m.start()))
            && match after {
                After::Boundary => python_boundary(&text, m.end()),
                After::Space => text[m.end()..].chars().next().is_some_and(py::is_space),
            };
        if ok {
            out.push_str(&text[copied..m.start()]);
            out.push(' ');
            out.push_str(&caps[1]);
            out.push(' ');
            out.push_str(&caps[2]);
            out.push(' ');
            copied = m.end();
            start = m.end();
        } else {
            start = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        if start >= text.len() {
            break;
        }
    }
    if copied == 0 {
        return text;
    }
    out.push_str(&text[copied..]);
    out
}

fn sub(re: &Regex, text: String, rep: &str) -> String {
    match re.replace_all(&text, rep) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(s) => s,
    }
}

/// `(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)` -> `"' "`.
fn split_leading_apostrophes(text: String) -> String {
    if !text.contains('\'') {
        return text;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        if c != '\'' || (i > 0 && py::is_nltk_word(chars[i - 1])) {
            continue;
        }
        if !chars.get(i + 1).is_some_and(|&n| py::is_nltk_word(n)) {
            continue;
        }
        let clitic = ["re", "ve", "ll", "m", "t", "s", "d", "n"]
            .iter()
            .any(|suffix| {
                let n = suffix.len();
                chars.len() >= i + 1 + n
                    && chars[i + 1..i + 1 + n]
                        .iter()
                        .zip(suffix.chars())
                        .all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()))
                    && !chars.get(i + 1 + n).is_some_and(|&c| py::is_nltk_word(c))
            });
        if !clitic {
            out.push(' ');
        }
    }
    out
}

/// `([^\.])(\.)([CLOSERS]*)\s*$`: the final period (the closers run is matched possessively,
/// which for these classes is what backtracking gives too). `spaced` chooses the replacement
/// `\1 \2 \3 ` (true) or `\1 \2\3 ` (false).
fn final_period(text: String, closers: &str, spaced: bool) -> String {
    let mut prev: Option<char> = None;
    for (j, c) in text.char_indices() {
        let p = prev;
        prev = Some(c);
        if c != '.' || p.is_none_or(|p| p == '.') {
            continue;
        }
        let run_start = j + 1;
        let run_end = text[run_start..]
            .find(|c| !closers.contains(c))
            .map_or(text.len(), |k| run_start + k);
        if !text[run_end..].chars().all(py::is_nltk_space) {
            continue;
        }
        let mut out = String::with_capacity(text.len() + 4);
        out.push_str(&text[..j]);
        out.push_str(if spaced { " . " } else { " ." });
        out.push_str(&text[run_start..run_end]);
        out.push(' ');
        return out;
    }
    text
}

/// `NLTKWordTokenizer().tokenize(sentence)`.
pub(crate) fn treebank_tokenize(sentence: &str) -> Vec<String> {
    let mut t = sentence.to_string();
    t = sub(&START_QUOTES, t, " $1 ");
    t = sub(&LEADING_DQ, t, "``");
    t = sub(&DOUBLE_BACKTICK, t, " $1 ");
    t = sub(&OPEN_QUOTE, t, "$1 `` ");
    t = split_leading_apostrophes(t);

    t = final_period(t, "])}>\"'»”’ ", true);
    t = sub(&COLON_COMMA, t, " $1 $2");
    t = sub(&COLON_COMMA_END, t, " $1 $2");
    t = sub(&ELLIPSIS, t, " $0 ");
    t = sub(&SYMBOLS, t, " $0 ");
    t = sub(&DASHES, t, " $0 ");
    t = final_period(t, "])}>\"'", false);
    t = sub(&QUESTION_EXCL, t, " $0 ");
    t = sub(&QUOTE_SPACE, t, "$1 ' ");
    t = sub(&STAR, t, " $0 ");

    t = sub(&PARENS, t, " $0 ");
    t = sub(&DOUBLE_DASH, t, " -- ");
    t = format!(" {t} ");

    t = sub(&END_QUOTES, t, " $1 ");
    t = sub(&TWO_SINGLE, t, " '' ");
    t = sub(&DQ, t, " '' ");
    t = sub(&SPACES, t, " ");
    t = sub(&CLITIC1, t, "$1 $2 ");
    t = sub(&CLITIC2, t, "$1 $2 ");

    for (re, boundary_before, after) in CONTRACTIONS.iter() {
        t = split_contraction(t, re, *boundary_before, *after);
    }
    py::split_whitespace(&t).map(str::to_string).collect()
}

/// `nltk.word_tokenize(text)` (English, `preserve_line=False`).
pub(crate) fn word_tokenize(text: &str) -> Vec<String> {
    punkt::sentences(text)
        .into_iter()
        .flat_map(treebank_tokenize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        word_tokenize(s)
    }

    #[test]
    fn treebank_matches_nltk() {
        assert_eq!(
            toks("Good muffins cost $3.88 in New York."),
            [
                "Good", "muffins", "cost", "$", "3.88", "in", "New", "York", "."
            ]
        );
        assert_eq!(
            toks("They'll say \"I can't\" (CANNOT)."),
            [
                "They", "'ll", "say", "``", "I", "ca", "n't", "''", "(", "CAN", "NOT", ")", "."
            ]
        );
        assert_eq!(
            toks("'Tis the U.S.A. -- wanna go?"),
            ["'", "Tis", "the", "U.S.A.", "--", "wan", "na", "go", "?"]
        );
        assert_eq!(
            toks("a,b, c: d;e... *f* 'quoted' x"),
            [
                "a", ",", "b", ",", "c", ":", "d", ";", "e", "...", "*", "f", "*", "'", "quoted",
                "'", "x"
            ]
        );
        assert_eq!(toks("Hi. Bye."), ["Hi", ".", "Bye", "."]);
        assert!(toks("").is_empty());
    }
}
