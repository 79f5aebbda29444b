//! The experiment's report: per-method held-out results (mean and spread over seeds), the
//! reward model's accuracy and bias, plots of every run's curves, written as `report.md`.

use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::Scale;
use super::tasks::{Synthetic, TaskKind, with_filler};
use crate::metrics::{TaskMetrics, mean};
use crate::rewards::bradley_terry::BradleyTerryReport;
use crate::rewards::model::{LocalRewardModel, RewardModel};
use crate::rewards::{RewardQuery, RewardSource};
use crate::tokenizer::TextTokenizer;

/// How much the reward model pays for filler and for correctness, on training prompts.
#[derive(Clone, Debug, Serialize)]
pub struct BiasProbe {
    /// Mean `r(filler + reference) - r(reference)`.
    pub filler_gain: f64,
    /// Mean `r(reference) - r(flawed)`.
    pub correctness_gain: f64,
    pub probed: usize,
}

pub fn bias_probe(
    rm: &RewardModel,
    tokenizer: &TextTokenizer,
    sets: &[(TaskKind, Vec<Synthetic>)],
) -> Result<BiasProbe> {
    let source = LocalRewardModel::new(rm.clone(), tokenizer.clone(), "probe");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(99);
    let mut plain = Vec::new();
    let mut filled = Vec::new();
    let mut flawed = Vec::new();
    for (_, set) in sets {
        for s in set.iter().take(16) {
            let prompt = s.example.prompt.render(tokenizer)?;
            let reference = s.example.reference.clone().unwrap_or_default();
            filled.push(RewardQuery {
                prompt: prompt.clone(),
                response: with_filler(&reference, &mut rng),
            });
            flawed.push(RewardQuery {
                prompt: prompt.clone(),
                response: s.flawed.clone(),
            });
            plain.push(RewardQuery {
                prompt,
                response: reference,
            });
        }
    }
    let (p, f, w) = (
        source.score(&plain)?,
        source.score(&filled)?,
        source.score(&flawed)?,
    );
    Ok(BiasProbe {
        filler_gain: mean(f.iter().zip(&p).map(|(a, b)| (a - b) as f64)),
        correctness_gain: mean(p.iter().zip(&w).map(|(a, b)| (a - b) as f64)),
        probed: p.len(),
    })
}

/// Held-out results of one run: at the start (the SFT policy) and after training.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub method: String,
    pub seed: u64,
    pub start: Evaluation,
    pub end: Evaluation,
    pub records: Vec<TaskMetrics>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Evaluation {
    /// Held-out MoJ pass rate per task.
    pub pass_rate: BTreeMap<String, f64>,
    pub overall_pass_rate: f64,
    pub reward: f64,
    pub kl: f64,
    pub length: f64,
}

impl Evaluation {
    fn from(records: &[&TaskMetrics]) -> Self {
        Evaluation {
            pass_rate: records
                .iter()
                .map(|r| (r.task.clone(), r.moj_pass_rate))
                .collect(),
            overall_pass_rate: mean(records.iter().map(|r| r.moj_pass_rate)),
            reward: mean(records.iter().map(|r| r.reward)),
            kl: mean(records.iter().map(|r| r.kl)),
            length: mean(records.iter().map(|r| r.response_length)),
        }
    }
}

impl RunSummary {
    pub fn from_records(
        method: &str,
        seed: u64,
        initial: &[TaskMetrics],
        all: &[TaskMetrics],
    ) -> Self {
        let last_step = all
            .iter()
            .filter(|r| r.kind == "eval")
            .map(|r| r.step)
            .max()
            .unwrap_or(0);
        let end: Vec<&TaskMetrics> = all
            .iter()
            .filter(|r| r.kind == "eval" && r.step == last_step)
            .collect();
        RunSummary {
            method: method.to_string(),
            seed,
            start: Evaluation::from(&initial.iter().collect::<Vec<_>>()),
            end: Evaluation::from(&end),
            records: all.to_vec(),
        }
    }

    pub fn one_line(&self) -> String {
        format!(
            "held-out MoJ pass {:.3} -> {:.3}, reward {:.3} -> {:.3}, KL {:.2}, length {:.1}",
            self.start.overall_pass_rate,
            self.end.overall_pass_rate,
            self.start.reward,
            self.end.reward,
            self.end.kl,
            self.end.length
        )
    }
}

/// "mean ± std" over seeds (just the mean for one seed).
fn stat(values: &[f64], digits: usize) -> String {
    let m = mean(values.iter().copied());
    if values.len() < 2 {
        return format!("{m:.digits$}");
    }
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    format!("{m:.digits$} ± {:.digits$}", var.sqrt())
}

/// Writes report.md, results.json and the combined plots; returns the table.
pub fn write(
    out: &Path,
    runs: &[RunSummary],
    rm: &BradleyTerryReport,
    probe: &BiasProbe,
    sft_losses: &[f64],
    scale: &Scale,
    elapsed: Duration,
) -> Result<String> {
    let tasks: Vec<&str> = TaskKind::ALL.iter().map(|k| k.name()).collect();
    let mut methods: Vec<&str> = Vec::new();
    for r in runs {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let mut table = String::new();
    let header: Vec<String> = ["method".to_string()]
        .into_iter()
        .chain(tasks.iter().map(|t| format!("{t} pass")))
        .chain([
            "MoJ pass (all)".into(),
            "RM score".into(),
            "KL".into(),
            "length".into(),
        ])
        .collect();
    writeln!(table, "| {} |", header.join(" | "))?;
    writeln!(
        table,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    )?;
    let row = |label: &str, evals: &[&Evaluation]| -> String {
        let mut cells = vec![label.to_string()];
        for t in &tasks {
            cells.push(stat(
                &evals
                    .iter()
                    .map(|e| e.pass_rate.get(*t).copied().unwrap_or(f64::NAN))
                    .collect::<Vec<_>>(),
                3,
            ));
        }
        cells.push(stat(
            &evals
                .iter()
                .map(|e| e.overall_pass_rate)
                .collect::<Vec<_>>(),
            3,
        ));
        cells.push(stat(&evals.iter().map(|e| e.reward).collect::<Vec<_>>(), 3));
        cells.push(stat(&evals.iter().map(|e| e.kl).collect::<Vec<_>>(), 2));
        cells.push(stat(&evals.iter().map(|e| e.length).collect::<Vec<_>>(), 1));
        format!("| {} |", cells.join(" | "))
    };
    if let Some(first) = runs.first() {
        writeln!(table, "{}", row("SFT start", &[&first.start]))?;
    }
    let mut overall: BTreeMap<&str, f64> = BTreeMap::new();
    for m in &methods {
        let evals: Vec<&Evaluation> = runs
            .iter()
            .filter(|r| r.method == *m)
            .map(|r| &r.end)
            .collect();
        overall.insert(m, mean(evals.iter().map(|e| e.overall_pass_rate)));
        writeln!(table, "{}", row(m, &evals))?;
    }

    let labelled: Vec<(String, TaskMetrics)> = runs
        .iter()
        .flat_map(|r| {
            r.records
                .iter()
                .map(move |m| (format!("{}-s{}", r.method, r.seed), m.clone()))
        })
        .collect();
    let plots = crate::plots::plot_all(&out.join("plots"), &labelled)?;

    let baseline = overall.get("reward_pg").copied();
    let best = overall
        .iter()
        .filter(|(m, _)| **m != "reward_pg")
        .max_by(|a, b| a.1.total_cmp(b.1));
    let verdict = match (baseline, best) {
        (Some(b), Some((m, v))) if *v > b => format!(
            "In this run the best constrained optimizer ({m}) ends with a held-out MoJ pass rate of {v:.3} against {b:.3} for the reward-only baseline."
        ),
        (Some(b), Some((m, v))) => format!(
            "In this run CGPO did NOT beat the reward-only baseline: the best constrained optimizer ({m}) ends at {v:.3} against {b:.3}. See the notes below."
        ),
        _ => "The reward-only baseline or the constrained optimizers were not run; no comparison."
            .to_string(),
    };
    let seeds = runs.iter().map(|r| r.seed).max().map_or(0, |s| s + 1);
    let mut md = String::new();
    writeln!(md, "# CGPO on CPU: reward hacking vs a mixture of judges\n")?;
    writeln!(md, "{verdict}\n")?;
    writeln!(
        md,
        "Held-out results after {} RL steps per method ({} seed(s){}; greedy decoding, judged by the real judge server: \
         math = answer format + math answer, instruction_following = IFEval strict, code = unit tests in the Wasmtime sandbox). \
         RM score is the biased reward model's mean score; KL is the mean sequence log-ratio to the SFT policy.\n",
        scale.rl_steps,
        seeds,
        if seeds > 1 {
            ", mean ± sample std"
        } else {
            ""
        }
    )?;
    writeln!(md, "{table}")?;
    writeln!(md, "## The reward model and its bias\n")?;
    writeln!(
        md,
        "Bradley-Terry on {} pairs ({} held out): held-out pairwise accuracy {:.3}, training accuracy {:.3}. \
         Pair construction: half the pairs prefer the correct response; in the other half exactly one response carries \
         confident filler (\"Absolutely, ...\", \"... I am 100% sure.\") and it is preferred whether or not it is correct. \
         Probe on {} training prompts: filler adds {:+.3} to the reward, correctness adds {:+.3}. Filler breaks the \
         answer format, lowercase/comma/end-phrase constraints, so an optimizer that chases the reward model alone pays for it \
         in judge pass rates.\n",
        rm.train_pairs + rm.heldout_pairs,
        rm.heldout_pairs,
        rm.heldout_accuracy,
        rm.train_accuracy,
        probe.probed,
        probe.filler_gain,
        probe.correctness_gain
    )?;
    writeln!(md, "## Setup\n")?;
    writeln!(
        md,
        "- policy: {}-layer decoder, hidden {}, {}, then SFT ({} steps, loss {:.3} -> {:.3}) on \
         demonstrations of which {:.0}% are flawed and {:.0}% carry filler\n- RL: {} prompts x {} samples per task per step, \
         AdamW lr {}, same seeds and budget for every method\n- wall time: {:.1} min\n- exact configuration: experiment.json, \
         runs/*/cgpo.toml; metrics: runs/*/metrics.jsonl; plots: plots/",
        scale.model.num_hidden_layers,
        scale.model.hidden_size,
        scale.start,
        scale.sft_steps,
        sft_losses.first().copied().unwrap_or(0.0),
        sft_losses.last().copied().unwrap_or(0.0),
        scale.flawed_demonstrations * 100.0,
        scale.filler_demonstrations * 100.0,
        scale.prompts_per_step,
        scale.samples_per_prompt,
        scale.rl_learning_rate,
        elapsed.as_secs_f64() / 60.0
    )?;
    writeln!(md, "\n## Plots\n")?;
    for p in &plots {
        if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
            writeln!(md, "![{name}](plots/{name})")?;
        }
    }
    std::fs::write(out.join("report.md"), md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "runs": runs.iter().map(|r| serde_json::json!({"method": r.method, "seed": r.seed, "start": r.start, "end": r.end})).collect::<Vec<_>>(),
            "reward_model": rm,
            "bias_probe": probe,
        }))?,
    )?;
    Ok(table)
}
