//! `ifeval`: IFEval's verifiable instructions, with the reference checker's semantics
//! (the `moj-ifeval` crate). The instructions come per item from metadata, exactly as IFEval's
//! data files have them: `instruction_id_list` and `kwargs` (a list of objects, one per id).
//!
//! Config: `{"mode": "strict"}` (default) or `{"mode": "loose"}`. Passes only if every
//! instruction holds in that mode; `score` is the fraction that hold; `details.instructions`
//! lists each one's strict and loose result.

use std::sync::Arc;

use judge_api::Item;
use moj_ifeval::{Instruction, Mode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    ConfigError, Fingerprint, InputError, Judge, JudgeContext, Judgement, KindSpec, RuleJudge,
    Stop, parse_config,
};

pub const KIND: KindSpec = KindSpec {
    name: "ifeval",
    version: 1,
    description: "IFEval verifiable instructions (all 25 ids) from metadata, strict or loose, as Google's reference checker.",
    build,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IfevalConfig {
    #[serde(default)]
    mode: Mode,
    /// Most instructions one item may carry (IFEval's prompts have 1-6): each costs a pass over
    /// the response (eight in loose mode), so an item with hundreds is refused (4xx) instead of
    /// costing seconds of CPU.
    #[serde(default = "default_max_instructions")]
    max_instructions: usize,
}

fn default_max_instructions() -> usize {
    32
}

struct IfevalJudge {
    mode: Mode,
    max_instructions: usize,
}

fn build(config: &Value, _context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: IfevalConfig = parse_config(config)?;
    if config.max_instructions == 0 {
        return Err(ConfigError {
            field: "config.max_instructions".into(),
            message: "must be at least 1".into(),
        });
    }
    Ok(super::on_blocking_pool(
        Fingerprint::of(KIND.name, KIND.version, &config),
        IfevalJudge {
            mode: config.mode,
            max_instructions: config.max_instructions,
        },
    ))
}

impl IfevalJudge {
    fn instructions(&self, item: &Item) -> Result<Vec<Instruction>, InputError> {
        let instructions = instructions(item)?;
        if instructions.len() > self.max_instructions {
            return Err(InputError {
                field: "metadata.instruction_id_list".into(),
                message: format!(
                    "{} instructions; this judge takes at most {} per item (config max_instructions)",
                    instructions.len(),
                    self.max_instructions
                ),
            });
        }
        Ok(instructions)
    }
}

fn instructions(item: &Item) -> Result<Vec<Instruction>, InputError> {
    let ids = item
        .metadata
        .get("instruction_id_list")
        .ok_or_else(|| InputError {
            field: "metadata.instruction_id_list".into(),
            message: "IFEval items need `instruction_id_list` (and `kwargs`) in metadata".into(),
        })?;
    let kwargs = item.metadata.get("kwargs").unwrap_or(&Value::Null);
    moj_ifeval::parse_instructions(ids, kwargs).map_err(|error| InputError {
        field: format!("metadata.{}", error.field),
        message: error.message,
    })
}

impl RuleJudge for IfevalJudge {
    type Input = Vec<Instruction>;

    fn prepare(&self, item: &Item) -> Result<Vec<Instruction>, InputError> {
        self.instructions(item)
    }

    fn judge(&self, item: &Item, instructions: Vec<Instruction>, stop: &Stop) -> Judgement {
        let mode = self.mode;
        let Some(results) =
            moj_ifeval::check_unless_stopped(&item.response, &instructions, &|| stop.requested())
        else {
            return Stop::stopped();
        };
        let holds = |r: &moj_ifeval::InstructionResult| match mode {
            Mode::Strict => r.strict,
            Mode::Loose => r.loose,
        };
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| !holds(r))
            .map(|r| r.id.as_str())
            .collect();
        let score = if results.is_empty() {
            1.0
        } else {
            (results.len() - failed.len()) as f64 / results.len() as f64
        };
        let details = json!({
            "mode": self.mode,
            "instructions": results.iter().map(|r| json!({"id": r.id, "strict": r.strict, "loose": r.loose})).collect::<Vec<_>>(),
        });
        let judgement = if failed.is_empty() {
            Judgement::pass(format!("all {} instruction(s) followed", results.len()))
        } else {
            Judgement::fail(format!(
                "{} of {} instruction(s) not followed: {}",
                failed.len(),
                results.len(),
                failed.join(", ")
            ))
        };
        judgement.with_score(score).with_details(details)
    }
}
