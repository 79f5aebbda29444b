//! The 25 IFEval instructions: their typed arguments and `check_following`.

mod format;
mod spec;
mod text;

#[cfg(test)]
mod tests;

use regex::Regex;

pub use spec::{INSTRUCTION_IDS, parse_instructions};

/// `"less than"` (actual < N) or `"at least"` (actual >= N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    LessThan,
    AtLeast,
}

impl Relation {
    pub(crate) fn holds(self, actual: usize, threshold: i64) -> bool {
        let actual = i64::try_from(actual).unwrap_or(i64::MAX);
        match self {
            Relation::LessThan => actual < threshold,
            Relation::AtLeast => actual >= threshold,
        }
    }
}

/// The check an instruction performs, with its arguments normalised as the reference's
/// `build_description` normalises them (stripped, lowercased, compiled).
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    KeywordsExistence {
        keywords: Vec<Regex>,
    },
    KeywordsFrequency {
        keyword: Regex,
        frequency: i64,
        relation: Relation,
    },
    ForbiddenWords {
        words: Vec<text::WordPattern>,
    },
    LetterFrequency {
        letter: String,
        frequency: i64,
        relation: Relation,
    },
    ResponseLanguage {
        language: String,
    },
    NumberSentences {
        num: i64,
        relation: Relation,
    },
    NumberParagraphs {
        num: i64,
    },
    NumberWords {
        num: i64,
        relation: Relation,
    },
    NthParagraphFirstWord {
        num_paragraphs: i64,
        nth: i64,
        first_word: String,
    },
    NumberPlaceholders {
        num: i64,
    },
    Postscript {
        pattern: Regex,
    },
    NumberBulletLists {
        num: i64,
    },
    ConstrainedResponse,
    NumberHighlightedSections {
        num: i64,
    },
    MultipleSections {
        splitter: Regex,
        num: i64,
    },
    JsonFormat,
    Title,
    TwoResponses,
    RepeatPrompt {
        prompt: String,
    },
    EndChecker {
        end_phrase: String,
    },
    CapitalWordFrequency {
        frequency: i64,
        relation: Relation,
    },
    EnglishCapital,
    EnglishLowercase,
    NoComma,
    Quotation,
}

/// One parsed instruction: its IFEval id and typed arguments.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub(crate) id: String,
    pub(crate) kind: Kind,
}

impl Instruction {
    /// The IFEval instruction id, e.g. `"punctuation:no_comma"`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `check_following(value)` of the reference, without the non-empty condition that
    /// strict and loose evaluation add.
    pub(crate) fn check_following(&self, value: &str) -> bool {
        use Kind::*;
        match &self.kind {
            KeywordsExistence { keywords } => keywords.iter().all(|k| k.is_match(value)),
            KeywordsFrequency {
                keyword,
                frequency,
                relation,
            } => relation.holds(keyword.find_iter(value).count(), *frequency),
            ForbiddenWords { words } => !words.iter().any(|w| w.found(value)),
            LetterFrequency {
                letter,
                frequency,
                relation,
            } => text::letter_frequency(value, letter, *frequency, *relation),
            ResponseLanguage { language } => text::response_language(value, language),
            NumberSentences { num, relation } => {
                relation.holds(crate::punkt::count_sentences(value), *num)
            }
            NumberParagraphs { num } => format::number_paragraphs(value, *num),
            NumberWords { num, relation } => relation.holds(crate::py::count_words(value), *num),
            NthParagraphFirstWord {
                num_paragraphs,
                nth,
                first_word,
            } => text::nth_paragraph_first_word(value, *num_paragraphs, *nth, first_word),
            NumberPlaceholders { num } => format::placeholders(value) as i64 >= *num,
            Postscript { pattern } => pattern.is_match(&value.to_lowercase()),
            NumberBulletLists { num } => format::bullet_lists(value) as i64 == *num,
            ConstrainedResponse => {
                let v = crate::py::strip(value);
                [
                    "My answer is yes.",
                    "My answer is no.",
                    "My answer is maybe.",
                ]
                .iter()
                .any(|o| v.contains(o))
            }
            NumberHighlightedSections { num } => format::highlights(value) as i64 >= *num,
            MultipleSections { splitter, num } => {
                (splitter.split(value).count() as i64 - 1) >= *num
            }
            JsonFormat => format::json_format(value),
            Title => format::title(value),
            TwoResponses => format::two_responses(value),
            RepeatPrompt { prompt } => crate::py::strip(value)
                .to_lowercase()
                .starts_with(prompt.as_str()),
            EndChecker { end_phrase } => crate::py::strip(value)
                .trim_matches('"')
                .to_lowercase()
                .ends_with(end_phrase.as_str()),
            CapitalWordFrequency {
                frequency,
                relation,
            } => {
                let words = crate::treebank::word_tokenize(value);
                relation.holds(
                    words.iter().filter(|w| crate::py::is_upper(w)).count(),
                    *frequency,
                )
            }
            EnglishCapital => text::english_with_case(value, crate::py::is_upper),
            EnglishLowercase => text::english_with_case(value, crate::py::is_lower),
            NoComma => !value.contains(','),
            Quotation => {
                let v = crate::py::strip(value);
                v.chars().count() > 1 && v.starts_with('"') && v.ends_with('"')
            }
        }
    }
}
