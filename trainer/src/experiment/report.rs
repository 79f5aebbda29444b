//! The experiment's report: per-method held-out results with 95 % intervals over seeds and
//! prompts, which differences are significant, the reward model's accuracy and bias, and the
//! learning curves (small multiples per task), written as `report.md` and `results.json`.

use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::Scale;
use super::stats::{self, Interval, Outcomes};
use super::tasks::{Synthetic, TaskKind, with_filler};
use crate::memory::StagePeaks;
use crate::metrics::{RecordKind, TaskMetrics, mean};
use crate::rewards::bradley_terry::BradleyTerryReport;
use crate::rewards::model::{LocalRewardModel, RewardModel};
use crate::rewards::{RewardQuery, RewardSource};
use crate::tokenizer::TextTokenizer;
use judge_api::Verdict;

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

/// The records of one RL run (training batches and evaluations after step 0).
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub method: String,
    pub seed: u64,
    pub end: Evaluation,
    #[serde(skip)]
    pub records: Vec<TaskMetrics>,
}

/// Held-out figures of one evaluation, averaged over tasks where not per task.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evaluation {
    pub step: usize,
    /// Held-out MoJ pass rate per task.
    pub pass_rate: BTreeMap<String, f64>,
    pub overall_pass_rate: f64,
    pub reward: f64,
    pub kl: f64,
    pub length: f64,
}

impl Evaluation {
    /// The last evaluation among `records`.
    pub fn last(records: &[TaskMetrics]) -> Self {
        let evals = || records.iter().filter(|r| r.kind == RecordKind::Eval);
        let step = evals().map(|r| r.step).max().unwrap_or(0);
        let at: Vec<&TaskMetrics> = evals().filter(|r| r.step == step).collect();
        Evaluation {
            step,
            pass_rate: at
                .iter()
                .map(|r| (r.task.clone(), r.moj_pass_rate))
                .collect(),
            overall_pass_rate: mean(at.iter().map(|r| r.moj_pass_rate)),
            reward: mean(at.iter().map(|r| r.reward)),
            kl: mean(at.iter().map(|r| r.kl)),
            length: mean(at.iter().map(|r| r.response_length)),
        }
    }
}

impl RunSummary {
    pub fn new(method: &str, seed: u64, records: Vec<TaskMetrics>) -> Self {
        RunSummary {
            method: method.to_string(),
            seed,
            end: Evaluation::last(&records),
            records,
        }
    }

    pub fn one_line(&self, start: &Evaluation) -> String {
        format!(
            "held-out MoJ pass {:.3} -> {:.3}, reward {:.3} -> {:.3}, KL {:.2}, length {:.1}",
            start.overall_pass_rate,
            self.end.overall_pass_rate,
            start.reward,
            self.end.reward,
            self.end.kl,
            self.end.length
        )
    }
}

/// Where the numbers come from: the code's commit and the split evaluated.
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the checkout the trainer was built from, with `-dirty` when it
    /// had uncommitted changes; `unknown` outside a checkout.
    pub commit: String,
    /// `held-out test` or `validation (training prompts held back)`.
    pub evaluated_on: String,
    /// How the hyperparameters were chosen.
    pub hyperparameters: String,
}

/// Everything the report is written from.
pub struct Inputs<'a> {
    pub runs: &'a [RunSummary],
    /// The SFT policy's evaluation at step 0 (the same start for every method and seed).
    pub start: &'a [TaskMetrics],
    pub rm: &'a BradleyTerryReport,
    pub probe: &'a BiasProbe,
    pub sft_losses: &'a [f64],
    pub scale: &'a Scale,
    pub elapsed: Duration,
    pub provenance: &'a Provenance,
    pub memory: &'a StagePeaks,
}

/// The baseline that optimises the reward model alone.
const BASELINE: &str = "reward_pg";

/// Writes report.md, results.json and the plots; returns the results table.
pub fn write(out: &Path, inputs: &Inputs) -> Result<String> {
    let analysis = Analysis::new(inputs);
    let table = analysis.results_table(inputs)?;
    let plots = super::curves::write_plots(&out.join("plots"), inputs)?;
    let mut md = String::new();
    writeln!(md, "# CGPO on CPU: reward hacking vs a mixture of judges\n")?;
    writeln!(md, "{}\n", analysis.provenance_line(inputs))?;
    writeln!(md, "{}", analysis.findings())?;
    writeln!(md, "{}\n", analysis.table_caption(inputs))?;
    writeln!(md, "{table}")?;
    writeln!(md, "{}", analysis.significance()?)?;
    writeln!(md, "{}", reward_model_section(inputs)?)?;
    writeln!(md, "{}", setup_section(inputs)?)?;
    writeln!(md, "## Plots\n")?;
    writeln!(
        md,
        "Mean over seeds, band: 95 % Student-t interval over seeds (none for one seed). Every \
         plot is also in PNG beside the SVG.\n"
    )?;
    for name in &plots {
        writeln!(md, "![{name}](plots/{name})")?;
    }
    std::fs::write(out.join("report.md"), md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&analysis.results_json(inputs))?,
    )?;
    Ok(table)
}

/// The per-method outcomes and their intervals.
struct Analysis {
    tasks: Vec<&'static str>,
    methods: Vec<String>,
    outcomes: BTreeMap<String, Outcomes>,
    /// Per method: the pass rate per task and overall.
    rates: BTreeMap<String, Vec<Interval>>,
    start_rates: Vec<Interval>,
    /// Per method: the difference to the SFT start, and to the baseline.
    vs_start: BTreeMap<String, Vec<Interval>>,
    vs_baseline: BTreeMap<String, Vec<Interval>>,
    seeds: usize,
}

impl Analysis {
    fn new(inputs: &Inputs) -> Self {
        let tasks: Vec<&'static str> = TaskKind::ALL.iter().map(|k| k.name()).collect();
        let mut methods: Vec<String> = Vec::new();
        for r in inputs.runs {
            if !methods.contains(&r.method) {
                methods.push(r.method.clone());
            }
        }
        let start = Outcomes {
            by_task: tasks
                .iter()
                .map(|t| vec![passes(inputs.start, t)])
                .collect(),
        };
        let outcomes: BTreeMap<String, Outcomes> = methods
            .iter()
            .map(|m| (m.clone(), method_outcomes(inputs.runs, m, &tasks)))
            .collect();
        let rates = outcomes
            .iter()
            .map(|(m, o)| (m.clone(), stats::bootstrap(o, None, stats::ROUNDS, 1)))
            .collect();
        let start_rates = stats::bootstrap(&start, None, stats::ROUNDS, 1);
        let vs_start = outcomes
            .iter()
            .map(|(m, o)| {
                (
                    m.clone(),
                    stats::bootstrap(o, Some(&start), stats::ROUNDS, 2),
                )
            })
            .collect();
        let vs_baseline = match outcomes.get(BASELINE) {
            Some(base) => outcomes
                .iter()
                .filter(|(m, _)| *m != BASELINE)
                .map(|(m, o)| (m.clone(), stats::bootstrap(o, Some(base), stats::ROUNDS, 3)))
                .collect(),
            None => BTreeMap::new(),
        };
        let seeds = inputs.runs.iter().map(|r| r.seed + 1).max().unwrap_or(0) as usize;
        Analysis {
            tasks,
            methods,
            outcomes,
            rates,
            start_rates,
            vs_start,
            vs_baseline,
            seeds,
        }
    }

    fn results_table(&self, inputs: &Inputs) -> Result<String> {
        let mut table = String::new();
        let header: Vec<String> = ["method".to_string()]
            .into_iter()
            .chain(self.tasks.iter().map(|t| format!("{t} pass")))
            .chain(["MoJ pass (all)", "RM score", "KL", "length"].map(String::from))
            .collect();
        writeln!(table, "| {} |", header.join(" | "))?;
        writeln!(table, "|{}|", vec!["---"; header.len()].join("|"))?;
        let start = Evaluation::last(inputs.start);
        let mut cells: Vec<String> = self.start_rates.iter().map(pass_cell).collect();
        cells.push(format!("{:.3}", start.reward));
        cells.push("0.00".into());
        cells.push(format!("{:.1}", start.length));
        writeln!(table, "| SFT start | {} |", cells.join(" | "))?;
        for m in &self.methods {
            let ends: Vec<&Evaluation> = inputs
                .runs
                .iter()
                .filter(|r| &r.method == m)
                .map(|r| &r.end)
                .collect();
            let mut cells: Vec<String> = self.rates[m].iter().map(pass_cell).collect();
            let spread = |f: fn(&Evaluation) -> f64, digits: usize| {
                seed_cell(&ends.iter().map(|e| f(e)).collect::<Vec<_>>(), digits)
            };
            cells.push(spread(|e| e.reward, 3));
            cells.push(spread(|e| e.kl, 2));
            cells.push(spread(|e| e.length, 1));
            writeln!(table, "| {m} | {} |", cells.join(" | "))?;
        }
        Ok(table)
    }

    fn table_caption(&self, inputs: &Inputs) -> String {
        format!(
            "Results on the {} split after {} RL steps per method, {} seed(s), {} prompts per \
             task; greedy decoding judged by the real judge server (math = answer format + math \
             answer, instruction_following = IFEval strict, code = unit tests in the Wasmtime \
             sandbox). Pass rates: estimate [95 % interval] from a bootstrap over seeds and \
             prompts ({} resamples). RM score (the biased reward model's mean score), KL (mean \
             sequence log-ratio to the SFT policy) and length (tokens): mean ± 95 % t-interval \
             half-width over seeds.",
            inputs.provenance.evaluated_on,
            inputs.scale.rl_steps,
            self.seeds,
            inputs.scale.eval_per_task,
            stats::ROUNDS
        )
    }

    fn provenance_line(&self, inputs: &Inputs) -> String {
        format!(
            "Produced by `trainer experiment` (the command is in experiment.json) at commit `{}`.",
            inputs.provenance.commit
        )
    }

    /// What the numbers say, sentence by sentence, computed from them.
    fn findings(&self) -> String {
        let mut out = String::new();
        let all = self.tasks.len();
        for m in self.methods.iter().filter(|m| *m != BASELINE) {
            let d = self.vs_start[m][all];
            let _ = writeln!(
                out,
                "- {m}: held-out MoJ pass {:.3} against {:.3} for the SFT start ({}); {}.",
                self.rates[m][all].estimate,
                self.start_rates[all].estimate,
                signed(&d),
                match self.vs_baseline.get(m).map(|v| v[all]) {
                    Some(b) => format!("against the reward-only baseline {}", signed(&b)),
                    None => "the reward-only baseline was not run".into(),
                }
            );
        }
        if let Some(base) = self.rates.get(BASELINE) {
            let d = self.vs_start[BASELINE][all];
            let _ = writeln!(
                out,
                "- {BASELINE} (reward model only): held-out MoJ pass {:.3} ({} against the SFT start).",
                base[all].estimate,
                signed(&d),
            );
        }
        for (t, task) in self.tasks.iter().enumerate() {
            let best = self.methods.iter().max_by(|a, b| {
                self.rates[*a][t]
                    .estimate
                    .total_cmp(&self.rates[*b][t].estimate)
            });
            if let Some(best) = best {
                let _ = writeln!(
                    out,
                    "- best on {task}: {best} ({:.3}).",
                    self.rates[best][t].estimate
                );
            }
        }
        let _ = writeln!(
            out,
            "- the paper (CGPO, arXiv 2409.20370) found CRPG strongest on math and code; compare \
             with the best-per-task lines above."
        );
        out
    }

    fn significance(&self) -> Result<String> {
        let mut md = String::new();
        writeln!(md, "## Which differences are significant\n")?;
        writeln!(
            md,
            "Difference in held-out MoJ pass rate, estimate [95 % interval]; **bold** where the \
             interval excludes 0 (significant at the 5 % level, each comparison on its own, no \
             correction for multiple comparisons).\n"
        )?;
        for (title, table) in [
            ("against the SFT start", &self.vs_start),
            ("against the reward-only baseline", &self.vs_baseline),
        ] {
            if table.is_empty() {
                continue;
            }
            writeln!(md, "{title}:\n")?;
            let header: Vec<String> = ["method".to_string()]
                .into_iter()
                .chain(self.tasks.iter().map(|t| t.to_string()))
                .chain(["all".to_string()])
                .collect();
            writeln!(md, "| {} |", header.join(" | "))?;
            writeln!(md, "|{}|", vec!["---"; header.len()].join("|"))?;
            for (m, intervals) in table {
                let cells: Vec<String> = intervals.iter().map(difference_cell).collect();
                writeln!(md, "| {m} | {} |", cells.join(" | "))?;
            }
            writeln!(md)?;
        }
        Ok(md)
    }

    fn results_json(&self, inputs: &Inputs) -> serde_json::Value {
        let named = |v: &Vec<Interval>| -> BTreeMap<String, Interval> {
            self.tasks
                .iter()
                .map(|t| t.to_string())
                .chain(["all".to_string()])
                .zip(v.iter().copied())
                .collect()
        };
        serde_json::json!({
            "provenance": inputs.provenance,
            "start": {"pass_rate": named(&self.start_rates), "evaluation": Evaluation::last(inputs.start)},
            "methods": self.methods.iter().map(|m| serde_json::json!({
                "method": m,
                "pass_rate": named(&self.rates[m]),
                "vs_start": named(&self.vs_start[m]),
                "vs_baseline": self.vs_baseline.get(m).map(named),
                "seeds": inputs.runs.iter().filter(|r| &r.method == m).map(|r| (r.seed, &r.end)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "reward_model": inputs.rm,
            "bias_probe": inputs.probe,
            "outcomes_per_seed": self.outcomes.iter().map(|(m, o)| (m.clone(), o.by_task.iter().map(|seeds| seeds.iter().map(|v| mean(v.iter().copied())).collect::<Vec<_>>()).collect::<Vec<_>>())).collect::<BTreeMap<_, _>>(),
        })
    }
}

/// Every prompt's pass (1.0) or not (0.0) in the last evaluation of `task` among `records`.
fn passes(records: &[TaskMetrics], task: &str) -> Vec<f64> {
    records
        .iter()
        .filter(|r| r.kind == RecordKind::Eval && r.task == task)
        .max_by_key(|r| r.step)
        .map(|r| {
            r.verdicts
                .iter()
                .map(|v| if *v == Verdict::Pass { 1.0 } else { 0.0 })
                .collect()
        })
        .unwrap_or_default()
}

fn method_outcomes(runs: &[RunSummary], method: &str, tasks: &[&str]) -> Outcomes {
    let runs: Vec<&RunSummary> = runs.iter().filter(|r| r.method == method).collect();
    Outcomes {
        by_task: tasks
            .iter()
            .map(|t| runs.iter().map(|r| passes(&r.records, t)).collect())
            .collect(),
    }
}

fn pass_cell(i: &Interval) -> String {
    format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high)
}

fn difference_cell(i: &Interval) -> String {
    let text = format!("{:+.3} [{:+.3}, {:+.3}]", i.estimate, i.low, i.high);
    if i.significant() {
        format!("**{text}**")
    } else {
        text
    }
}

/// "+0.083, 95 % interval [+0.03, +0.14], significant".
fn signed(i: &Interval) -> String {
    format!(
        "{:+.3}, 95 % interval [{:+.3}, {:+.3}], {}",
        i.estimate,
        i.low,
        i.high,
        if i.significant() {
            "significant"
        } else {
            "not significant"
        }
    )
}

/// "mean ± half-width" over seeds (the mean alone for one seed).
fn seed_cell(values: &[f64], digits: usize) -> String {
    let (m, half) = stats::t_interval(values);
    if values.len() < 2 {
        format!("{m:.digits$}")
    } else {
        format!("{m:.digits$} ± {half:.digits$}")
    }
}

fn reward_model_section(inputs: &Inputs) -> Result<String> {
    let (rm, probe) = (inputs.rm, inputs.probe);
    let mut md = String::new();
    writeln!(md, "## The reward model and its bias\n")?;
    writeln!(
        md,
        "Bradley-Terry on {} pairs ({} held out): held-out pairwise accuracy {:.3}, training accuracy {:.3}. \
         Pair construction: half the pairs prefer the correct response; in the other half exactly one response carries \
         confident filler (\"Absolutely, ...\", \"... I am 100% sure.\") and it is preferred whether or not it is correct. \
         Probe on {} training prompts: filler adds {:+.3} to the reward, correctness adds {:+.3}. Filler breaks the \
         answer format, lowercase/comma/end-phrase constraints, so an optimizer that chases the reward model alone pays for it \
         in judge pass rates.",
        rm.train_pairs + rm.heldout_pairs,
        rm.heldout_pairs,
        rm.heldout_accuracy,
        rm.train_accuracy,
        probe.probed,
        probe.filler_gain,
        probe.correctness_gain
    )?;
    Ok(md)
}

fn setup_section(inputs: &Inputs) -> Result<String> {
    let scale = inputs.scale;
    let losses = inputs.sft_losses;
    let mut md = String::new();
    writeln!(md, "## Setup\n")?;
    writeln!(
        md,
        "- policy: {}-layer decoder, hidden {}, {}, then SFT ({} steps, loss {:.3} -> {:.3}) on \
         demonstrations of which {:.0}% are flawed and {:.0}% carry filler\n\
         - data: {} training and {} evaluation prompts per task\n\
         - RL: {} prompts x {} samples per task per step, AdamW lr {}, same seeds and budget for \
         every method; evaluation every {} steps\n\
         - hyperparameters: {}\n\
         - peak resident memory: {}\n\
         - wall time: {:.1} min\n\
         - exact configuration: experiment.json, runs/*/cgpo.toml; metrics (with every held-out \
         verdict): runs/*/metrics.jsonl, runs/start/metrics.jsonl; plots: plots/",
        scale.model.num_hidden_layers,
        scale.model.hidden_size,
        scale.start,
        scale.sft_steps,
        losses.first().copied().unwrap_or(0.0),
        losses.last().copied().unwrap_or(0.0),
        scale.flawed_demonstrations * 100.0,
        scale.filler_demonstrations * 100.0,
        scale.train_per_task,
        scale.eval_per_task,
        scale.prompts_per_step,
        scale.samples_per_prompt,
        learning_rates(scale),
        scale.eval_every,
        inputs.provenance.hyperparameters,
        peaks_line(inputs.memory),
        inputs.elapsed.as_secs_f64() / 60.0
    )?;
    Ok(md)
}

/// `0.0002`, or `0.0002 (crpg 0.001)` where a method has its own.
fn learning_rates(scale: &Scale) -> String {
    let own: Vec<String> = scale
        .rl_learning_rates
        .iter()
        .map(|(method, rate)| format!("{method} {rate}"))
        .collect();
    if own.is_empty() {
        scale.rl_learning_rate.to_string()
    } else {
        format!("{} ({})", scale.rl_learning_rate, own.join(", "))
    }
}

fn peaks_line(peaks: &StagePeaks) -> String {
    let mib = |v: Option<f64>| v.map_or("not measured".into(), |v| format!("{v:.0} MiB"));
    format!(
        "SFT {}, reward model {}, generation (evaluation) {}, RL step {}",
        mib(peaks.sft_mib),
        mib(peaks.reward_model_mib),
        mib(peaks.generation_mib),
        mib(peaks.rl_step_mib)
    )
}
