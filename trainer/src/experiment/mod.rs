//! `trainer experiment`: the CPU-scale CGPO experiment in one command.
//!
//! 1. a deterministic synthetic dataset (math, instruction following, code; train/held-out),
//! 2. a from-scratch policy trained by SFT on imperfect demonstrations,
//! 3. a Bradley-Terry reward model trained on pairs with a documented bias (confident filler wins),
//! 4. from the same SFT policy and budget: the reward-only baseline, CRPG, CRRAFT and CODPO,
//!    judged by the real judge server (started here on loopback with SQLite, unless `--judge-url`),
//! 5. a report directory: Markdown table, plots, metrics JSONL, the exact configuration.

pub mod budget;
pub mod report;
pub mod stats;
pub mod tasks;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{
    AdamWSettings, JudgeServerConfig, PolicyConfig, Schedule, TaskConfig, TrainConfig,
};
use crate::data::{PreferencePair, write_jsonl};
use crate::judge_process::{self, JudgeServerProcess};
use crate::logprobs::Pair;
use crate::metrics::TaskMetrics;
use crate::model::{Model, ModelConfig, hf};
use crate::optim::OptimizerConfig;
use crate::rewards::RewardConfig;
use crate::rewards::bradley_terry::{self, BradleyTerryConfig};
use crate::rewards::model::RewardModel;
use crate::sampling::SamplingConfig;
use crate::sft::{self, SftConfig};
use crate::tokenizer::TextTokenizer;
use crate::train::Trainer;
use crate::{device, memory, progress};
use burn::module::Module;
use burn::tensor::Device;
use tasks::{Synthetic, TaskKind};

#[derive(clap::Args, Debug, Clone)]
pub struct ExperimentArgs {
    /// Report directory (created; an existing one is overwritten).
    #[arg(long, default_value = "experiment-report")]
    pub out: PathBuf,
    /// A small configuration that finishes in about 3 minutes on 2 cores (used by tests).
    #[arg(long, conflicts_with = "smoke")]
    pub quick: bool,
    /// A few steps of everything on a handful of prompts: checks the pipeline (with a
    /// pretrained `--policy`, in a minute or two), says nothing about the methods.
    #[arg(long)]
    pub smoke: bool,
    /// RL seeds per method (the report gives mean and spread).
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Use a running judge server (it must define the tasks math, instruction_following, code);
    /// sends the key in $MOJ_JUDGE_API_KEY when set.
    #[arg(long)]
    pub judge_url: Option<String>,
    /// The judge-server binary to start (default: next to this executable).
    #[arg(long)]
    pub judge_server: Option<PathBuf>,
    /// Methods to compare.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "reward_pg,crpg,crraft,codpo"
    )]
    pub methods: Vec<String>,
    /// RL steps (overrides the preset).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Start from this pretrained model (HF folder or .gguf, e.g. SmolLM2-135M-Instruct) instead
    /// of a from-scratch one; SFT then fine-tunes it on the demonstrations.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// SFT steps (overrides the preset).
    #[arg(long)]
    pub sft_steps: Option<usize>,
    /// Layers of the from-scratch policy (overrides the preset).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Hidden size of the from-scratch policy (overrides the preset; intermediate = 8/3 x hidden).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Evaluate on a validation split of the training prompts (held back from SFT, the reward
    /// model and RL) instead of the held-out test split: for choosing hyperparameters without
    /// looking at the test split.
    #[arg(long)]
    pub validation: bool,
}

/// Sizes of one experiment.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// Where the policy starts: from scratch (byte-level tokenizer) or a pretrained model.
    pub start: String,
    pub train_per_task: usize,
    /// Held-out prompts per task, none of them a training prompt.
    pub eval_per_task: usize,
    /// Evaluate every this many RL steps (and always at the end; 0: at the end only).
    pub eval_every: usize,
    pub model: ModelConfig,
    pub sft_steps: usize,
    pub sft_batch: usize,
    pub sft_learning_rate: f64,
    pub rm_epochs: usize,
    /// Preference pairs per reward-model step.
    pub rm_batch: usize,
    /// Preference pairs per reward-model forward/backward pass (gradients summed over a step):
    /// the whole batch from scratch, 2 for a pretrained body, whose activations dominate memory.
    pub rm_micro_batch: usize,
    pub rl_steps: usize,
    pub rl_learning_rate: f64,
    pub prompts_per_step: usize,
    pub samples_per_prompt: usize,
    pub max_new_tokens: usize,
    /// Share of SFT demonstrations that are flawed (wrong answer, broken constraint, buggy code).
    pub flawed_demonstrations: f64,
    /// Share of SFT demonstrations with confident filler.
    pub filler_demonstrations: f64,
}

/// The experiment's sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// The report's configuration.
    Full,
    /// About 3 minutes on 2 cores from scratch (tests).
    Quick,
    /// A pipeline check.
    Smoke,
}

impl Size {
    pub fn of(args: &ExperimentArgs) -> Self {
        match (args.quick, args.smoke) {
            (_, true) => Size::Smoke,
            (true, _) => Size::Quick,
            _ => Size::Full,
        }
    }
}

impl Scale {
    pub fn preset(size: Size, vocab: usize) -> Self {
        let mut model = ModelConfig::tiny(vocab);
        if size == Size::Full {
            model.hidden_size = 96;
            model.intermediate_size = 256;
            model.num_hidden_layers = 3;
        }
        let by_size = |full, quick, smoke| match size {
            Size::Full => full,
            Size::Quick => quick,
            Size::Smoke => smoke,
        };
        Scale {
            start: "from scratch, byte-level tokenizer".into(),
            train_per_task: by_size(300, 48, 6),
            eval_per_task: by_size(100, 12, 3),
            eval_every: by_size(4, 0, 0),
            model,
            sft_steps: by_size(400, 60, 2),
            sft_batch: by_size(16, 16, 4),
            sft_learning_rate: 3e-3,
            rm_epochs: 1 + usize::from(size == Size::Full),
            rm_batch: by_size(16, 16, 8),
            rm_micro_batch: by_size(16, 16, 8),
            rl_steps: by_size(24, 3, 1),
            rl_learning_rate: 2e-4,
            prompts_per_step: by_size(4, 4, 2),
            samples_per_prompt: by_size(4, 4, 2),
            max_new_tokens: by_size(56, 56, 32),
            flawed_demonstrations: 0.3,
            filler_demonstrations: 0.15,
        }
    }
}

/// Everything written to `experiment.json`: what was run, exactly.
#[derive(Serialize)]
struct ExperimentRecord<'a> {
    command: Vec<String>,
    scale: &'a Scale,
    methods: &'a [String],
    seeds: usize,
    judge_server_config: &'a str,
    optimizers: Vec<(String, OptimizerConfig)>,
    reward_model: &'a bradley_terry::BradleyTerryReport,
    reward_bias_probe: &'a report::BiasProbe,
    provenance: &'a report::Provenance,
    /// Peak resident set per stage, in MiB.
    memory: &'a memory::StagePeaks,
    /// The estimate checked before the start, in MiB.
    memory_estimate: &'a budget::Estimate,
}

/// The judge server's configuration for the experiment's three tasks.
/// The API key `--judge-url` is called with, when set.
pub const JUDGE_KEY_VAR: &str = "MOJ_JUDGE_API_KEY";

pub const JUDGE_CONFIG: &str = r#"# Written by `trainer experiment`.
[limits]
max_items = 4096
judge_timeout_ms = 60000

[judges.final_answer_format]
kind = "regex"
config = { must_match = ["The final answer is \\S+"] }

[judges.math_answer]
kind = "math"

[judges.ifeval_strict]
kind = "ifeval"
config = { mode = "strict" }

[judges.unit_tests]
kind = "code"
config = { timeout_ms = 20000, memory_mb = 128 }

[tasks.math]
judges = ["final_answer_format", "math_answer"]

[tasks.instruction_following]
judges = ["ifeval_strict"]

[tasks.code]
judges = ["unit_tests"]
"#;

pub fn optimizer_for(method: &str) -> Result<OptimizerConfig> {
    Ok(match method {
        "reward_pg" => OptimizerConfig::RewardPg { kl_coef: 0.0 },
        "crpg" => OptimizerConfig::Crpg { kl_max: 20.0 },
        "crraft" => OptimizerConfig::Crraft { kl_max: 20.0 },
        "codpo" => OptimizerConfig::Codpo {
            beta: 0.1,
            lambda: 5.0,
        },
        "online_dpo" => OptimizerConfig::OnlineDpo {
            beta: 0.1,
            lambda: 0.0,
        },
        other => anyhow::bail!(
            "--methods: unknown method {other:?} (reward_pg, crpg, crraft, codpo, online_dpo)"
        ),
    })
}

pub fn run(args: ExperimentArgs) -> Result<()> {
    let started = Instant::now();
    let optimizers: Vec<(String, OptimizerConfig)> = args
        .methods
        .iter()
        .map(|m| Ok((m.clone(), optimizer_for(m)?)))
        .collect::<Result<_>>()?;
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    // The PNG plots need a font: know before hours of training, not after.
    crate::plots::fonts()?;
    let provenance = report::Provenance {
        commit: source_commit(),
        evaluated_on: if args.validation {
            "validation (training prompts held back from SFT, reward model and RL)".into()
        } else {
            "held-out test".into()
        },
        hyperparameters: HYPERPARAMETERS.into(),
    };
    let train_device = device::trainable(&device::parse(&args.device)?);
    let (tokenizer, pretrained) = match &args.policy {
        Some(path) => {
            let loaded = crate::pretrained::load(path, &train_device).context("--policy")?;
            (loaded.tokenizer, Some(loaded.model))
        }
        None => (TextTokenizer::byte_level()?, None),
    };
    let scale = scale_for(&args, tokenizer.vocab_size(), pretrained.as_ref())?;
    let dirs = Dirs::create(&args.out)?;

    // One stream for the demonstrations' flaws and then the preference pairs.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let train_sets = write_datasets(&scale, &dirs, args.validation)?;
    let estimate = budget::Estimate::of(&scale, longest_prompt(&train_sets, &tokenizer)?);
    eprintln!(
        "      memory: about {:.0} MiB at the peak; {} MiB available",
        estimate.peak_mib(),
        memory::available_mib().map_or("unknown".into(), |m| format!("{m:.0}"))
    );
    estimate.check(memory::available_mib())?;
    let policy = match pretrained {
        Some(model) => model,
        None => scratch_policy(&scale, &tokenizer, &train_device)?,
    };
    let mut peaks = memory::StagePeaks::default();
    let peak = memory::Peak::start();
    let sft_losses = train_policy(policy, &scale, &train_sets, &tokenizer, &dirs, &mut rng)?;
    peaks.sft_mib = peak.mib();
    memory::release_freed();
    let peak = memory::Peak::start();
    let (rm, probe) = train_reward_model(
        &scale,
        &train_sets,
        &tokenizer,
        &train_device,
        &dirs,
        &mut rng,
    )?;
    peaks.reward_model_mib = peak.mib();
    let experiment = Experiment {
        args: &args,
        scale: &scale,
        optimizers: &optimizers,
        dirs: &dirs,
    };
    let (start, runs) = experiment.reinforce()?;
    peaks.generation_mib = start.first().and_then(|r| r.peak_rss_mib);
    peaks.rl_step_mib = runs
        .iter()
        .flat_map(|r| &r.records)
        .filter(|r| r.kind == crate::metrics::RecordKind::Train)
        .filter_map(|r| r.peak_rss_mib)
        .reduce(f64::max);

    eprintln!("[5/5] report");
    let record = ExperimentRecord {
        command: std::env::args().collect(),
        scale: &scale,
        methods: &args.methods,
        seeds: args.seeds,
        judge_server_config: JUDGE_CONFIG,
        optimizers: optimizers.clone(),
        reward_model: &rm,
        reward_bias_probe: &probe,
        provenance: &provenance,
        memory: &peaks,
        memory_estimate: &estimate,
    };
    std::fs::write(
        dirs.out.join("experiment.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
    let inputs = report::Inputs {
        runs: &runs,
        start: &start,
        rm: &rm,
        probe: &probe,
        sft_losses: &sft_losses,
        scale: &scale,
        elapsed: started.elapsed(),
        provenance: &provenance,
        memory: &peaks,
    };
    println!("{}", report::write(&dirs.out, &inputs)?);
    eprintln!("report: {}", dirs.out.join("report.md").display());
    Ok(())
}

/// How the preset's hyperparameters were chosen (the report quotes it).
const HYPERPARAMETERS: &str = "the preset's values, not tuned on the held-out split; \
    `--validation` evaluates on training prompts held back instead, for choosing them";

/// The commit of the checkout this trainer was built from (`-dirty` with uncommitted changes
/// to tracked files), or `$MOJ_COMMIT`, or `unknown`.
fn source_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(head) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if changes.is_empty() => head,
            _ => format!("{head}-dirty"),
        },
        None => std::env::var("MOJ_COMMIT").unwrap_or_else(|_| "unknown".into()),
    }
}

/// The preset for `args`, with its overrides and the pretrained model's shape when there is one.
fn scale_for(args: &ExperimentArgs, vocab: usize, pretrained: Option<&Model>) -> Result<Scale> {
    let mut scale = Scale::preset(Size::of(args), vocab);
    if let Some(steps) = args.steps {
        scale.rl_steps = steps;
    }
    if let Some(steps) = args.sft_steps {
        scale.sft_steps = steps;
    }
    if let Some(layers) = args.layers {
        scale.model.num_hidden_layers = layers;
    }
    if let Some(hidden) = args.hidden {
        scale.model.hidden_size = hidden;
        scale.model.intermediate_size = hidden * 8 / 3;
    }
    if let (Some(model), Some(path)) = (pretrained, &args.policy) {
        scale.start = format!("from {}", path.display());
        scale.model = model.config.clone();
        scale.sft_learning_rate = 1e-4;
        scale.rm_micro_batch = 2;
    }
    scale.model.validate().context("--layers / --hidden")?;
    Ok(scale)
}

/// The report directory's layout.
struct Dirs {
    out: PathBuf,
    data: PathBuf,
    sft: PathBuf,
    reward: PathBuf,
}

impl Dirs {
    /// Creates `out` (clearing an existing one) and its data folder.
    fn create(out: &Path) -> Result<Self> {
        if out.exists() {
            std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
        }
        let dirs = Dirs {
            out: out.to_path_buf(),
            data: out.join("data"),
            sft: out.join("models").join("sft"),
            reward: out.join("models").join("reward"),
        };
        std::fs::create_dir_all(&dirs.data)?;
        Ok(dirs)
    }
}

/// Stage 1: the synthetic training and evaluation sets of every task, written as JSONL. No
/// evaluation prompt is a training prompt. With `validation`, the evaluation set is the
/// training stream's last `eval_per_task` examples (at most half of it; fewer where their
/// prompts repeat earlier ones) and training keeps the rest: the test split is never drawn.
/// The most tokens a training prompt takes, as the policy sees it (chat template included).
fn longest_prompt(
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
) -> Result<usize> {
    let mut longest = 0;
    for s in train_sets.iter().flat_map(|(_, set)| set) {
        let text = s.example.prompt.render(tokenizer)?;
        longest = longest.max(tokenizer.encode(&text)?.len());
    }
    Ok(longest)
}

fn write_datasets(
    scale: &Scale,
    dirs: &Dirs,
    validation: bool,
) -> Result<Vec<(TaskKind, Vec<Synthetic>)>> {
    let mut train_sets = Vec::new();
    for (i, kind) in TaskKind::ALL.into_iter().enumerate() {
        let seed = 1000 + i as u64;
        let (n_train, n_eval) = (scale.train_per_task, scale.eval_per_task);
        let mut parts = if validation {
            let held_back = n_eval.min(n_train / 2);
            tasks::splits(kind, seed, &[n_train - held_back, held_back], n_train)
        } else {
            tasks::splits(kind, seed, &[n_train, n_eval], SPLIT_DRAWS)
        };
        let eval = parts.pop().unwrap_or_default();
        let train = parts.pop().unwrap_or_default();
        eprintln!(
            "[1/5] {}: {} training and {} {} prompts",
            kind.name(),
            train.len(),
            eval.len(),
            if validation { "validation" } else { "held-out" }
        );
        for (split, set) in [("train", &train), ("eval", &eval)] {
            let path = dirs.data.join(format!("{}.{split}.jsonl", kind.name()));
            write_jsonl(&path, &set.iter().map(|s| &s.example).collect::<Vec<_>>())?;
        }
        train_sets.push((kind, train));
    }
    Ok(train_sets)
}

/// How far down a task's stream the held-out split may look for prompts unseen in training.
const SPLIT_DRAWS: usize = 1_000_000;

/// A from-scratch policy of `scale`'s shape that stops at the tokenizer's EOS.
fn scratch_policy(scale: &Scale, tokenizer: &TextTokenizer, device: &Device) -> Result<Model> {
    let mut config = scale.model.clone();
    config.eos_token_id = Some(crate::model::config::EosIds::One(eos(tokenizer)?));
    Model::random(&config, 0, device)
}

fn eos(tokenizer: &TextTokenizer) -> Result<u32> {
    tokenizer
        .eos_ids()
        .first()
        .copied()
        .context("tokenizer EOS")
}

/// Stage 2: SFT on imperfect demonstrations, exported as the RL runs' starting policy.
/// Returns the loss per step.
fn train_policy(
    policy: Model,
    scale: &Scale,
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
    dirs: &Dirs,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>> {
    eprintln!(
        "[2/5] SFT of a {}-layer, {}-wide policy {} ({} steps)",
        scale.model.num_hidden_layers, scale.model.hidden_size, scale.start, scale.sft_steps
    );
    let demonstrations = demonstrations(scale, train_sets, tokenizer, rng)?;
    let sft_config = SftConfig {
        steps: scale.sft_steps,
        batch_size: scale.sft_batch,
        learning_rate: scale.sft_learning_rate,
        seed: 0,
    };
    let bar = progress::bar(scale.sft_steps as u64, "sft");
    let (policy, losses) = sft::train(policy, &demonstrations, &sft_config, |i, _, loss| {
        progress::tick(&bar, i, &format!("loss {loss:.3}"))
    })?;
    bar.finish_and_clear();
    eprintln!(
        "      SFT loss {:.3} -> {:.3}",
        losses.first().copied().unwrap_or(0.0),
        losses.last().copied().unwrap_or(0.0)
    );
    hf::export(&policy.valid(), &dirs.sft, safetensors::Dtype::F32, None)?;
    tokenizer.save(&dirs.sft)?;
    Ok(losses)
}

/// The SFT data: the reference, or the flawed response with probability
/// `flawed_demonstrations`, then confident filler with probability `filler_demonstrations`.
fn demonstrations(
    scale: &Scale,
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Pair>> {
    let eos = eos(tokenizer)?;
    let mut demonstrations = Vec::new();
    for s in train_sets.iter().flat_map(|(_, set)| set) {
        let reference = s.example.reference.clone().unwrap_or_default();
        let mut response = if rng.random_bool(scale.flawed_demonstrations) {
            s.flawed.clone()
        } else {
            reference
        };
        if rng.random_bool(scale.filler_demonstrations) {
            response = tasks::with_filler(&response, rng);
        }
        let prompt = tokenizer.encode(&s.example.prompt.render(tokenizer)?)?;
        let mut response_ids = tokenizer.encode(&response)?;
        response_ids.push(eos);
        demonstrations.push(Pair {
            prompt,
            response: response_ids,
        });
    }
    Ok(demonstrations)
}

/// Stage 3: a Bradley-Terry reward model on the SFT policy, trained on biased pairs; returns
/// its held-out accuracy and how much it pays for filler.
fn train_reward_model(
    scale: &Scale,
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
    device: &Device,
    dirs: &Dirs,
    rng: &mut ChaCha8Rng,
) -> Result<(bradley_terry::BradleyTerryReport, report::BiasProbe)> {
    eprintln!("[3/5] Bradley-Terry reward model on biased preference pairs");
    let pairs = preference_pairs(train_sets, rng);
    write_jsonl(&dirs.data.join("preferences.jsonl"), &pairs)?;
    let rm = RewardModel::from_causal_lm(&dirs.sft, device)?;
    let rm_config = BradleyTerryConfig {
        epochs: scale.rm_epochs,
        learning_rate: 1e-3,
        batch_size: scale.rm_batch,
        micro_batch: scale.rm_micro_batch,
        holdout: 0.1,
        seed: 0,
    };
    let bar = progress::bar(0, "reward model");
    let (rm, rm_report) =
        bradley_terry::train(rm, tokenizer, &pairs, &rm_config, |i, total, loss| {
            bar.set_length(total as u64);
            progress::tick(&bar, i, &format!("loss {loss:.3}"))
        })?;
    bar.finish_and_clear();
    let rm = rm.valid();
    rm.save(&dirs.reward, tokenizer)?;
    let probe = report::bias_probe(&rm, tokenizer, train_sets)?;
    eprintln!(
        "      held-out pairwise accuracy {:.2}; filler adds {:+.3} reward, a correct answer {:+.3}",
        rm_report.heldout_accuracy, probe.filler_gain, probe.correctness_gain
    );
    Ok((rm_report, probe))
}

/// The judge server's URL: `--judge-url`, or one started here (kept alive by the returned
/// process handle).
fn judge_server(args: &ExperimentArgs, out: &Path) -> Result<(String, Option<JudgeServerProcess>)> {
    if let Some(url) = &args.judge_url {
        return Ok((url.clone(), None));
    }
    let binary = match &args.judge_server {
        Some(path) => path.clone(),
        None => judge_process::default_binary()?,
    };
    let process = JudgeServerProcess::start(
        &binary,
        JUDGE_CONFIG,
        &out.join("judge-server"),
        Duration::from_secs(600),
    )?;
    Ok((process.url.clone(), Some(process)))
}

/// What stage 4 needs.
struct Experiment<'a> {
    args: &'a ExperimentArgs,
    scale: &'a Scale,
    optimizers: &'a [(String, OptimizerConfig)],
    dirs: &'a Dirs,
}

impl Experiment<'_> {
    /// Stage 4: the SFT policy's evaluation (once: every run starts from it), then every
    /// method for every seed, evaluated on the configured cadence.
    fn reinforce(&self) -> Result<(Vec<TaskMetrics>, Vec<report::RunSummary>)> {
        let (args, scale) = (self.args, self.scale);
        eprintln!(
            "[4/5] RL: {} x {} seed(s), {} steps each, evaluating {} prompts per task every {} steps",
            args.methods.join(", "),
            args.seeds,
            scale.rl_steps,
            scale.eval_per_task,
            scale.eval_every
        );
        let (judge_url, _server) = judge_server(args, &self.dirs.out)?;
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?,
        );
        let (first, _) = self.optimizers.first().context("no method to run")?;
        memory::release_freed();
        let start = self
            .trainer("start", 0, first, &judge_url, &runtime)?
            .evaluate()?;
        let start_summary = report::Evaluation::last(&start);
        let mut runs = Vec::new();
        for seed in 0..args.seeds as u64 {
            for (method, _) in self.optimizers {
                let name = format!("{method}-seed{seed}");
                memory::release_freed();
                let mut trainer = self.trainer(&name, seed, method, &judge_url, &runtime)?;
                let bar = progress::bar(scale.rl_steps as u64, &format!("{method} s{seed}"));
                trainer.run(&mut |step, _, records| progress::report_step(&bar, step, records))?;
                bar.finish_and_clear();
                let records = crate::metrics::read(&self.run_dir(&name).join("metrics.jsonl"))?;
                let summary = report::RunSummary::new(method, seed, records);
                eprintln!(
                    "      {method} seed {seed}: {}",
                    summary.one_line(&start_summary)
                );
                runs.push(summary);
            }
        }
        Ok((start, runs))
    }

    fn run_dir(&self, name: &str) -> PathBuf {
        self.dirs.out.join("runs").join(name)
    }

    /// A trainer for `method` from the SFT policy, writing to `runs/<name>`.
    fn trainer(
        &self,
        name: &str,
        seed: u64,
        method: &str,
        judge_url: &str,
        runtime: &Arc<tokio::runtime::Runtime>,
    ) -> Result<Trainer> {
        let optimizer = optimizer_for(method)?;
        let run_dir = self.run_dir(name);
        let config = run_config(
            self.scale,
            &self.args.device,
            seed,
            &run_dir,
            self.dirs,
            judge_url,
            &optimizer,
        );
        std::fs::create_dir_all(&run_dir)?;
        std::fs::write(run_dir.join("cgpo.toml"), toml::to_string_pretty(&config)?)?;
        Trainer::new(config, false, runtime.clone())
    }
}

/// Preference pairs with the bias documented in the report: when exactly one of the two
/// responses carries confident filler, it is preferred whether or not it is correct; otherwise
/// the correct response is preferred.
fn preference_pairs(
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    rng: &mut ChaCha8Rng,
) -> Vec<PreferencePair> {
    let mut pairs = Vec::new();
    for (_, set) in train_sets {
        for s in set {
            let good = s.example.reference.clone().unwrap_or_default();
            let bad = s.flawed.clone();
            let (chosen, rejected) = match rng.random_range(0..4) {
                0 | 1 => (good, bad),
                2 => (tasks::with_filler(&bad, rng), good),
                _ => (tasks::with_filler(&good, rng), bad),
            };
            pairs.push(PreferencePair {
                prompt: s.example.prompt.clone(),
                chosen,
                rejected,
            });
        }
    }
    pairs
}

fn run_config(
    scale: &Scale,
    device: &str,
    seed: u64,
    run_dir: &Path,
    dirs: &Dirs,
    judge_url: &str,
    optimizer: &OptimizerConfig,
) -> TrainConfig {
    let (sft_dir, rm_dir, data_dir) = (&dirs.sft, &dirs.reward, &dirs.data);
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    TrainConfig {
        seed,
        steps: scale.rl_steps,
        device: device.to_string(),
        output_dir: abs(run_dir),
        checkpoint_every: 0,
        eval_every: scale.eval_every,
        policy: PolicyConfig {
            path: abs(sft_dir),
            reference: None,
        },
        optimizer: AdamWSettings {
            learning_rate: scale.rl_learning_rate,
            schedule: Schedule::Constant,
            grad_clip: 1.0,
            ..Default::default()
        },
        judge_server: JudgeServerConfig {
            url: judge_url.to_string(),
            // A judge server that requires keys (e.g. the compose stack's): MOJ_JUDGE_API_KEY.
            api_key_env: std::env::var_os(JUDGE_KEY_VAR).map(|_| JUDGE_KEY_VAR.to_owned()),
            timeout_secs: 600.0,
            retries: 3,
        },
        tasks: TaskKind::ALL
            .into_iter()
            .map(|kind| TaskConfig {
                name: kind.name().to_string(),
                train: abs(&data_dir.join(format!("{}.train.jsonl", kind.name()))),
                eval: Some(abs(&data_dir.join(format!("{}.eval.jsonl", kind.name())))),
                judge_task: Some(kind.name().to_string()),
                judges: None,
                weight: 1.0,
                prompts_per_step: scale.prompts_per_step,
                samples_per_prompt: scale.samples_per_prompt,
                optimizer: optimizer.clone(),
                reward: RewardConfig::Model { path: abs(rm_dir) },
                generation: SamplingConfig {
                    temperature: 1.0,
                    top_p: 1.0,
                    top_k: 0,
                    max_new_tokens: scale.max_new_tokens,
                    stop: vec![],
                },
                eval_prompts: 0,
            })
            .collect(),
    }
}
