//! Parsing and validating `instruction_id_list` and `kwargs`.
//!
//! Where the reference would substitute a random argument (missing or negative values), raise,
//! or accept an argument that makes the check pass on any text, this is an error instead.

use regex::Regex;
use serde_json::{Map, Value};

use super::{Instruction, Kind, Relation};
use crate::SpecError;
use crate::py;

/// `instructions_util.LANGUAGE_CODES`: the languages `language:response_language` accepts.
const LANGUAGE_CODES: [&str; 30] = [
    "en", "es", "pt", "ar", "hi", "fr", "ru", "de", "ja", "it", "bn", "uk", "th", "ur", "ta", "te",
    "bg", "ko", "pl", "he", "fa", "vi", "ne", "sw", "kn", "mr", "gu", "pa", "ml", "fi",
];

/// Python's `\s` as a class, for patterns assembled around user text.
const S: &str = py::SPACE_CLASS;

/// The 25 instruction ids of IFEval.
pub const INSTRUCTION_IDS: [&str; 25] = [
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:two_responses",
    "combination:repeat_prompt",
    "startend:end_checker",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
    "startend:quotation",
];

fn err(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

/// The kwargs object of one instruction; records which names the instruction reads.
struct Args<'a> {
    index: usize,
    map: &'a Map<String, Value>,
    used: Vec<&'static str>,
}

impl<'a> Args<'a> {
    fn field(&self, name: &str) -> String {
        format!("kwargs[{}].{name}", self.index)
    }

    fn get(&mut self, name: &'static str) -> Result<&'a Value, SpecError> {
        self.used.push(name);
        self.map
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| err(self.field(name), "missing required argument"))
    }

    fn int(&mut self, name: &'static str) -> Result<i64, SpecError> {
        let v = self.get(name)?;
        v.as_i64()
            .ok_or_else(|| err(self.field(name), format!("expected an integer, got {v}")))
    }

    fn count(&mut self, name: &'static str) -> Result<i64, SpecError> {
        let n = self.int(name)?;
        if n < 0 {
            return Err(err(
                self.field(name),
                format!("must not be negative, got {n}"),
            ));
        }
        Ok(n)
    }

    fn string(&mut self, name: &'static str) -> Result<&'a str, SpecError> {
        let v = self.get(name)?;
        v.as_str()
            .ok_or_else(|| err(self.field(name), format!("expected a string, got {v}")))
    }

    /// A string that is not empty once stripped (an empty one would pass any response).
    fn text(&mut self, name: &'static str) -> Result<&'a str, SpecError> {
        let s = py::strip(self.string(name)?);
        if s.is_empty() {
            return Err(err(self.field(name), "must not be empty"));
        }
        Ok(s)
    }

    fn strings(&mut self, name: &'static str) -> Result<Vec<&'a str>, SpecError> {
        let v = self.get(name)?;
        let list = v.as_array().ok_or_else(|| {
            err(
                self.field(name),
                format!("expected a list of strings, got {v}"),
            )
        })?;
        if list.is_empty() {
            return Err(err(self.field(name), "must not be empty"));
        }
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                    err(
                        format!("{}[{i}]", self.field(name)),
                        format!("expected a non-empty string, got {s}"),
                    )
                })
            })
            .collect()
    }

    fn relation(&mut self, name: &'static str) -> Result<Relation, SpecError> {
        match self.string(name)? {
            "less than" => Ok(Relation::LessThan),
            "at least" => Ok(Relation::AtLeast),
            other => Err(err(
                self.field(name),
                format!("expected \"less than\" or \"at least\", got {other:?}"),
            )),
        }
    }

    fn regex(&self, name: &str, pattern: &str) -> Result<Regex, SpecError> {
        Regex::new(pattern).map_err(|e| {
            err(
                self.field(name),
                format!("not a usable regular expression: {e}"),
            )
        })
    }

    fn finish(self, id: &str) -> Result<(), SpecError> {
        match self
            .map
            .iter()
            .find(|(k, v)| !v.is_null() && !self.used.contains(&k.as_str()))
        {
            Some((k, _)) => Err(err(self.field(k), format!("unexpected argument for {id}"))),
            None => Ok(()),
        }
    }
}

/// The typed arguments of instruction `id`; `None` if the id is unknown. One function per
/// group of instructions.
fn build(id: &str, a: &mut Args) -> Result<Option<Kind>, SpecError> {
    match id.split(':').next() {
        Some("keywords") => keywords(id, a),
        Some("length_constraints") => length_constraints(id, a),
        Some("detectable_content" | "detectable_format") => detectable(id, a),
        _ => other(id, a),
    }
}

/// `keywords:*`: keywords present, counted, forbidden, a letter's frequency.
fn keywords(id: &str, a: &mut Args) -> Result<Option<Kind>, SpecError> {
    use Kind::*;
    Ok(Some(match id {
        "keywords:existence" => {
            let words = a.strings("keywords")?;
            let keywords = words
                .iter()
                .enumerate()
                .map(|(j, k)| a.regex(&format!("keywords[{j}]"), &format!("(?i){k}")));
            KeywordsExistence {
                keywords: keywords.collect::<Result<_, _>>()?,
            }
        }
        "keywords:frequency" => {
            let keyword = a.text("keyword")?;
            KeywordsFrequency {
                keyword: a.regex("keyword", &format!("(?i){keyword}"))?,
                frequency: a.count("frequency")?,
                relation: a.relation("relation")?,
            }
        }
        "keywords:forbidden_words" => {
            let words = a.strings("forbidden_words")?;
            let words = words.iter().enumerate().map(|(j, w)| {
                let field = format!("forbidden_words[{j}]");
                // A plain word gets Python's `\b` (checked by hand); a pattern gets the crate's.
                let literal = regex::escape(w) == *w;
                let pattern = if literal {
                    format!("(?i){w}")
                } else {
                    format!(r"(?i)\b{w}\b")
                };
                Ok(super::text::WordPattern {
                    re: a.regex(&field, &pattern)?,
                    python_boundaries: literal,
                })
            });
            ForbiddenWords {
                words: words.collect::<Result<_, _>>()?,
            }
        }
        "keywords:letter_frequency" => {
            let letter = a.string("letter")?;
            if letter.chars().count() != 1 || py::strip(letter).is_empty() {
                return Err(err(
                    a.field("letter"),
                    format!("expected one non-space character, got {letter:?}"),
                ));
            }
            LetterFrequency {
                letter: letter.to_lowercase(),
                frequency: a.count("let_frequency")?,
                relation: a.relation("let_relation")?,
            }
        }
        _ => return Ok(None),
    }))
}

/// `length_constraints:*`: sentences, paragraphs, words.
fn length_constraints(id: &str, a: &mut Args) -> Result<Option<Kind>, SpecError> {
    use Kind::*;
    Ok(Some(match id {
        "length_constraints:number_sentences" => NumberSentences {
            num: a.count("num_sentences")?,
            relation: a.relation("relation")?,
        },
        "length_constraints:number_paragraphs" => NumberParagraphs {
            num: a.count("num_paragraphs")?,
        },
        "length_constraints:number_words" => NumberWords {
            num: a.count("num_words")?,
            relation: a.relation("relation")?,
        },
        "length_constraints:nth_paragraph_first_word" => {
            let num_paragraphs = a.count("num_paragraphs")?;
            let nth = a.int("nth_paragraph")?;
            if nth <= 0 || nth > num_paragraphs {
                return Err(err(
                    a.field("nth_paragraph"),
                    format!("must be between 1 and num_paragraphs ({num_paragraphs}), got {nth}"),
                ));
            }
            let first_word = a.string("first_word")?.to_lowercase();
            NthParagraphFirstWord {
                num_paragraphs,
                nth,
                first_word,
            }
        }
        _ => return Ok(None),
    }))
}

/// `detectable_content:*` and `detectable_format:*`.
fn detectable(id: &str, a: &mut Args) -> Result<Option<Kind>, SpecError> {
    use Kind::*;
    Ok(Some(match id {
        "detectable_content:number_placeholders" => NumberPlaceholders {
            num: a.count("num_placeholders")?,
        },
        "detectable_content:postscript" => {
            let marker = a.text("postscript_marker")?;
            let body = match marker {
                "P.P.S" => format!(r"p\.[{S}]?p\.[{S}]?s"),
                "P.S." => format!(r"p\.[{S}]?s\."),
                other => other.to_lowercase(),
            };
            Postscript {
                pattern: a.regex("postscript_marker", &format!("(?m)[{S}]*{body}.*$"))?,
            }
        }
        "detectable_format:number_bullet_lists" => NumberBulletLists {
            num: a.count("num_bullets")?,
        },
        "detectable_format:constrained_response" => ConstrainedResponse,
        "detectable_format:number_highlighted_sections" => NumberHighlightedSections {
            num: a.count("num_highlights")?,
        },
        "detectable_format:multiple_sections" => {
            let splitter = a.text("section_spliter")?;
            MultipleSections {
                splitter: a.regex(
                    "section_spliter",
                    &format!(r"[{S}]?{splitter}[{S}]?\d+[{S}]?"),
                )?,
                num: a.count("num_sections")?,
            }
        }
        "detectable_format:json_format" => JsonFormat,
        "detectable_format:title" => Title,
        _ => return Ok(None),
    }))
}

/// Language, combination, start/end, case and punctuation instructions.
fn other(id: &str, a: &mut Args) -> Result<Option<Kind>, SpecError> {
    use Kind::*;
    Ok(Some(match id {
        "language:response_language" => {
            let language = a.string("language")?;
            if !LANGUAGE_CODES.contains(&language) {
                return Err(err(
                    a.field("language"),
                    format!("unsupported language code {language:?}"),
                ));
            }
            ResponseLanguage {
                language: language.to_string(),
            }
        }
        "combination:two_responses" => TwoResponses,
        "combination:repeat_prompt" => RepeatPrompt {
            prompt: a.text("prompt_to_repeat")?.to_lowercase(),
        },
        "startend:end_checker" => EndChecker {
            end_phrase: a.text("end_phrase")?.to_lowercase(),
        },
        "change_case:capital_word_frequency" => CapitalWordFrequency {
            frequency: a.int("capital_frequency")?,
            relation: a.relation("capital_relation")?,
        },
        "change_case:english_capital" => EnglishCapital,
        "change_case:english_lowercase" => EnglishLowercase,
        "punctuation:no_comma" => NoComma,
        "startend:quotation" => Quotation,
        _ => return Ok(None),
    }))
}

/// Parses IFEval's `instruction_id_list` and `kwargs` (one object per id, as in IFEval's
/// `input_data.jsonl`; null values, as in the Hugging Face copy, count as absent).
///
/// An unknown id, a missing, ill-typed, out-of-range or unexpected argument, or lists of
/// different lengths are errors: nothing is silently passed or replaced by a random value.
pub fn parse_instructions(ids: &Value, kwargs: &Value) -> Result<Vec<Instruction>, SpecError> {
    let ids = ids
        .as_array()
        .ok_or_else(|| err("instruction_id_list", "expected a list of instruction ids"))?;
    let kwargs = kwargs
        .as_array()
        .ok_or_else(|| err("kwargs", "expected a list of objects"))?;
    if ids.len() != kwargs.len() {
        return Err(err(
            "kwargs",
            format!(
                "has {} entries but instruction_id_list has {}",
                kwargs.len(),
                ids.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(ids.len());
    for (index, (id, kw)) in ids.iter().zip(kwargs).enumerate() {
        let field = format!("instruction_id_list[{index}]");
        let id = id
            .as_str()
            .ok_or_else(|| err(&field, format!("expected a string, got {id}")))?;
        let empty = Map::new();
        let map = match kw {
            Value::Object(map) => map,
            Value::Null => &empty,
            other => {
                return Err(err(
                    format!("kwargs[{index}]"),
                    format!("expected an object, got {other}"),
                ));
            }
        };
        let mut args = Args {
            index,
            map,
            used: Vec::new(),
        };
        let kind = build(id, &mut args)?
            .ok_or_else(|| err(&field, format!("unknown instruction id {id:?}")))?;
        args.finish(id)?;
        out.push(Instruction {
            id: id.to_string(),
            kind,
        });
    }
    Ok(out)
}
