//! `regex`: must-match / must-not-match patterns on the response, or on a part of it that a
//! pattern extracts first.
//!
//! Config:
//! ```json
//! {"must_match": ["..."], "must_not_match": ["..."], "flags": "i",
//!  "extract": {"pattern": "answer: (\\S+)", "group": 1, "occurrence": "last"}}
//! ```
//! `flags` take any of `i` (case-insensitive), `m` (multi-line), `s` (dot matches newline),
//! `x` (verbose), `U` (swap greedy). Patterns use Rust `regex` syntax: linear time, no
//! backreferences or look-around, so no pattern can hang a worker. Passes when every
//! `must_match` pattern matches and no `must_not_match` pattern does. With `extract`, the
//! patterns see only the extracted text, and an item with nothing to extract fails.

use std::sync::Arc;

use judge_api::Item;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    ConfigError, Fingerprint, InputError, Judge, JudgeContext, Judgement, KindSpec, RuleJudge,
    Stop, parse_config,
};

pub const KIND: KindSpec = KindSpec {
    name: "regex",
    version: 1,
    description: "Must-match / must-not-match regular expressions on the response or an extracted part of it.",
    build,
};

/// Compiled-program size cap per pattern (bounds memory for hostile configs).
const PATTERN_SIZE_LIMIT: usize = 8 * 1024 * 1024;
/// How much of a matched span a reason quotes.
const QUOTE_CHARS: usize = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexConfig {
    #[serde(default)]
    must_match: Vec<String>,
    #[serde(default)]
    must_not_match: Vec<String>,
    #[serde(default)]
    flags: String,
    #[serde(default)]
    extract: Option<ExtractConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractConfig {
    pattern: String,
    /// Capture group: an index or a name. Default: 1 if the pattern has a group, else 0.
    #[serde(default)]
    group: Option<GroupRef>,
    #[serde(default)]
    occurrence: Occurrence,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum GroupRef {
    Index(usize),
    Name(String),
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Occurrence {
    First,
    #[default]
    Last,
}

struct Extractor {
    regex: Regex,
    group: GroupRef,
    occurrence: Occurrence,
}

struct RegexJudge {
    must_match: Vec<Regex>,
    must_not_match: Vec<Regex>,
    extract: Option<Extractor>,
}

fn build(config: &Value, _context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let mut config: RegexConfig = parse_config(config)?;
    if config.must_match.is_empty() && config.must_not_match.is_empty() {
        return Err(ConfigError {
            field: "config.must_match".into(),
            message: "give at least one pattern in must_match or must_not_match".into(),
        });
    }
    if let Some(bad) = config.flags.chars().find(|c| !"imsxU".contains(*c)) {
        return Err(ConfigError {
            field: "config.flags".into(),
            message: format!("unknown flag {bad:?}; flags are i, m, s, x, U"),
        });
    }
    let compile_all = |patterns: &[String], field: &str| -> Result<Vec<Regex>, ConfigError> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| compile(p, &config.flags, &format!("config.{field}[{i}]")))
            .collect()
    };
    let must_match = compile_all(&config.must_match, "must_match")?;
    let must_not_match = compile_all(&config.must_not_match, "must_not_match")?;
    let extract = match &mut config.extract {
        None => None,
        Some(extract) => {
            let regex = compile(&extract.pattern, &config.flags, "config.extract.pattern")?;
            let group = resolve_group(&regex, extract.group.clone())?;
            extract.group = Some(group.clone());
            Some(Extractor {
                regex,
                group,
                occurrence: extract.occurrence,
            })
        }
    };
    Ok(super::on_blocking_pool(
        Fingerprint::of(KIND.name, KIND.version, &config),
        RegexJudge {
            must_match,
            must_not_match,
            extract,
        },
    ))
}

fn compile(pattern: &str, flags: &str, field: &str) -> Result<Regex, ConfigError> {
    RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .ignore_whitespace(flags.contains('x'))
        .swap_greed(flags.contains('U'))
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|error| ConfigError {
            field: field.into(),
            message: format!("invalid pattern: {error}"),
        })
}

fn resolve_group(regex: &Regex, group: Option<GroupRef>) -> Result<GroupRef, ConfigError> {
    let field = "config.extract.group";
    match group {
        None => Ok(GroupRef::Index(usize::from(regex.captures_len() > 1))),
        Some(GroupRef::Index(i)) if i < regex.captures_len() => Ok(GroupRef::Index(i)),
        Some(GroupRef::Index(i)) => Err(ConfigError {
            field: field.into(),
            message: format!("the pattern has no capture group {i}"),
        }),
        Some(GroupRef::Name(name)) if regex.capture_names().flatten().any(|n| n == name) => {
            Ok(GroupRef::Name(name))
        }
        Some(GroupRef::Name(name)) => Err(ConfigError {
            field: field.into(),
            message: format!("the pattern has no capture group named {name:?}"),
        }),
    }
}

impl Extractor {
    fn extract<'t>(&self, text: &'t str) -> Option<&'t str> {
        let mut all = self.regex.captures_iter(text);
        let captures = match self.occurrence {
            Occurrence::First => all.next(),
            Occurrence::Last => all.last(),
        }?;
        let group = match &self.group {
            GroupRef::Index(i) => captures.get(*i),
            GroupRef::Name(name) => captures.name(name),
        }?;
        Some(group.as_str())
    }
}

fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

impl RuleJudge for RegexJudge {
    type Input = ();

    fn prepare(&self, _item: &Item) -> Result<(), InputError> {
        Ok(())
    }

    fn judge(&self, item: &Item, (): (), _stop: &Stop) -> Judgement {
        let mut text = item.response.as_str();
        let mut details = serde_json::Map::new();
        if let Some(extractor) = &self.extract {
            match extractor.extract(text) {
                Some(part) => {
                    details.insert("extracted".into(), json!(quote(part)));
                    text = part;
                }
                None => {
                    return Judgement::fail(
                        "nothing to extract: the extract pattern did not match",
                    );
                }
            }
        }
        let details = (!details.is_empty()).then_some(Value::Object(details));
        let with_details = |judgement: Judgement| match &details {
            Some(d) => judgement.with_details(d.clone()),
            None => judgement,
        };
        for (i, regex) in self.must_match.iter().enumerate() {
            if !regex.is_match(text) {
                return with_details(Judgement::fail(format!(
                    "must_match[{i}] /{}/ did not match",
                    regex.as_str()
                )));
            }
        }
        for (i, regex) in self.must_not_match.iter().enumerate() {
            if let Some(found) = regex.find(text) {
                return with_details(Judgement::fail(format!(
                    "must_not_match[{i}] /{}/ matched at byte {}: {:?}",
                    regex.as_str(),
                    found.start(),
                    quote(found.as_str())
                )));
            }
        }
        with_details(Judgement::pass(format!(
            "all {} pattern(s) hold",
            self.must_match.len() + self.must_not_match.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use judge_api::Verdict;

    fn judge(config: Value) -> RegexJudge {
        let config: RegexConfig = parse_config(&config).unwrap();
        let flags = config.flags.clone();
        RegexJudge {
            must_match: config
                .must_match
                .iter()
                .map(|p| compile(p, &flags, "x").unwrap())
                .collect(),
            must_not_match: config
                .must_not_match
                .iter()
                .map(|p| compile(p, &flags, "x").unwrap())
                .collect(),
            extract: config.extract.map(|e| {
                let regex = compile(&e.pattern, &flags, "x").unwrap();
                Extractor {
                    group: resolve_group(&regex, e.group).unwrap(),
                    regex,
                    occurrence: e.occurrence,
                }
            }),
        }
    }

    fn verdict(config: Value, response: &str) -> Verdict {
        judge(config)
            .judge(&Item::new("p", response), (), &Stop::default())
            .verdict
    }

    #[test]
    fn must_match_and_must_not_match() {
        let config =
            json!({"must_match": ["^The final answer is"], "must_not_match": ["(?i)sorry"]});
        assert_eq!(
            verdict(config.clone(), "The final answer is 4"),
            Verdict::Pass
        );
        assert_eq!(verdict(config.clone(), "I think 4"), Verdict::Fail);
        assert_eq!(
            verdict(config, "The final answer is 4. Sorry!"),
            Verdict::Fail
        );
    }

    #[test]
    fn flags_apply_to_every_pattern() {
        assert_eq!(
            verdict(json!({"must_match": ["hello"], "flags": "i"}), "HeLLo"),
            Verdict::Pass
        );
        assert_eq!(
            verdict(json!({"must_match": ["hello"]}), "HeLLo"),
            Verdict::Fail
        );
        assert_eq!(
            verdict(json!({"must_match": ["^b$"], "flags": "m"}), "a\nb\nc"),
            Verdict::Pass
        );
        assert_eq!(
            verdict(json!({"must_match": ["a.c"], "flags": "s"}), "a\nc"),
            Verdict::Pass
        );
    }

    #[test]
    fn extraction_picks_the_last_occurrence_by_default() {
        let config = json!({"extract": {"pattern": "answer: (\\w+)"}, "must_match": ["^yes$"]});
        assert_eq!(
            verdict(config.clone(), "answer: no ... answer: yes"),
            Verdict::Pass
        );
        assert_eq!(
            verdict(config.clone(), "answer: yes ... answer: no"),
            Verdict::Fail
        );
        let judgement =
            judge(config).judge(&Item::new("p", "no answer here"), (), &Stop::default());
        assert_eq!(judgement.verdict, Verdict::Fail);
        assert!(judgement.reason.contains("nothing to extract"));
        let first = json!({"extract": {"pattern": "answer: (?P<word>\\w+)", "group": "word", "occurrence": "first"}, "must_match": ["^yes$"]});
        assert_eq!(verdict(first, "answer: yes ... answer: no"), Verdict::Pass);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let error = |config: Value| build(&config, &JudgeContext::default()).err().unwrap();
        assert_eq!(error(json!({})).field, "config.must_match");
        assert_eq!(
            error(json!({"must_match": ["ok", "("]})).field,
            "config.must_match[1]"
        );
        assert_eq!(
            error(json!({"must_match": ["a"], "flags": "q"})).field,
            "config.flags"
        );
        assert_eq!(
            error(json!({"must_match": ["a"], "extract": {"pattern": "a", "group": 2}})).field,
            "config.extract.group"
        );
        assert_eq!(
            error(json!({"must_match": ["a"], "extract": {}})).field,
            "config.extract.pattern"
        );
        assert_eq!(
            error(json!({"must_match": ["a"], "typo": 1})).field,
            "config.typo"
        );
        assert_eq!(error(json!({"must_match": "a"})).field, "config.must_match");
    }

    #[test]
    fn default_group_is_normalised_into_the_fingerprint() {
        let implicit = build(
            &json!({"must_match": ["x"], "extract": {"pattern": "a(b)"}}),
            &JudgeContext::default(),
        )
        .unwrap();
        let explicit = build(&json!({"must_match": ["x"], "extract": {"pattern": "a(b)", "group": 1, "occurrence": "last"}}), &JudgeContext::default()).unwrap();
        assert_eq!(implicit.fingerprint().digest, explicit.fingerprint().digest);
    }
}
