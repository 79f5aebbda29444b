//! `trainer experiment`: the CPU-scale CGPO experiment in one command.
//!
//! 1. a deterministic synthetic dataset (math, instruction following, code; train/held-out),
//! 2. a from-scratch policy trained by SFT on imperfect demonstrations,
//! 3. a Bradley-Terry reward model trained on pairs with a documented bias (confident filler wins),
//! 4. from the same SFT policy and budget: the reward-only baseline, CRPG, CRRAFT and CODPO,
//!    judged by the real judge server (started here on loopback with SQLite, unless `--judge-url`),
//! 5. a report directory: Markdown table, plots, metrics JSONL, the exact configuration.

pub mod report;
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
use crate::model::{Model, ModelConfig, hf};
use crate::optim::OptimizerConfig;
use crate::rewards::RewardConfig;
use crate::rewards::bradley_terry::{self, BradleyTerryConfig};
use crate::rewards::model::RewardModel;
use crate::sampling::SamplingConfig;
use crate::sft::{self, SftConfig};
use crate::tokenizer::TextTokenizer;
use crate::train::Trainer;
use crate::{device, progress};
use burn::module::Module;
use tasks::{Synthetic, TaskKind};

#[derive(clap::Args, Debug, Clone)]
pub struct ExperimentArgs {
    /// Report directory (created; an existing one is overwritten).
    #[arg(long, default_value = "experiment-report")]
    pub out: PathBuf,
    /// A small configuration that finishes in about 3 minutes on 2 cores (used by tests).
    #[arg(long)]
    pub quick: bool,
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
}

/// Sizes of one experiment.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// Where the policy starts: from scratch (byte-level tokenizer) or a pretrained model.
    pub start: String,
    pub train_per_task: usize,
    pub eval_per_task: usize,
    pub model: ModelConfig,
    pub sft_steps: usize,
    pub sft_batch: usize,
    pub sft_learning_rate: f64,
    pub rm_epochs: usize,
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

impl Scale {
    pub fn preset(quick: bool, vocab: usize) -> Self {
        let mut model = ModelConfig::tiny(vocab);
        if !quick {
            model.hidden_size = 96;
            model.intermediate_size = 256;
            model.num_hidden_layers = 3;
        }
        Scale {
            start: "from scratch, byte-level tokenizer".into(),
            train_per_task: if quick { 48 } else { 200 },
            eval_per_task: if quick { 12 } else { 40 },
            model,
            sft_steps: if quick { 60 } else { 400 },
            sft_batch: 16,
            sft_learning_rate: 3e-3,
            rm_epochs: if quick { 1 } else { 2 },
            rl_steps: if quick { 3 } else { 24 },
            rl_learning_rate: 2e-4,
            prompts_per_step: 4,
            samples_per_prompt: 4,
            max_new_tokens: 56,
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
    let base_device = device::parse(&args.device)?;
    let (tokenizer, pretrained) = match &args.policy {
        Some(path) => {
            let loaded = crate::pretrained::load(path, &device::trainable(&base_device))
                .context("--policy")?;
            (loaded.tokenizer, Some(loaded.model))
        }
        None => (TextTokenizer::byte_level()?, None),
    };
    let mut scale = Scale::preset(args.quick, tokenizer.vocab_size());
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
    if let (Some(model), Some(path)) = (&pretrained, &args.policy) {
        scale.start = format!("from {}", path.display());
        scale.model = model.config.clone();
        scale.sft_learning_rate = 1e-4;
    }
    scale.model.validate().context("--layers / --hidden")?;
    let out = &args.out;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(out)?;
    let eos = *tokenizer.eos_ids().first().context("tokenizer EOS")?;

    // 1. data
    eprintln!(
        "[1/5] synthetic dataset: {} train + {} held-out prompts per task",
        scale.train_per_task, scale.eval_per_task
    );
    let data_dir = out.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let mut train_sets = Vec::new();
    for (i, kind) in TaskKind::ALL.into_iter().enumerate() {
        let all = tasks::generate(
            kind,
            scale.train_per_task + scale.eval_per_task,
            1000 + i as u64,
        );
        let (train, eval) = all.split_at(scale.train_per_task);
        write_jsonl(
            &data_dir.join(format!("{}.train.jsonl", kind.name())),
            &train.iter().map(|s| &s.example).collect::<Vec<_>>(),
        )?;
        write_jsonl(
            &data_dir.join(format!("{}.eval.jsonl", kind.name())),
            &eval.iter().map(|s| &s.example).collect::<Vec<_>>(),
        )?;
        train_sets.push((kind, train.to_vec()));
    }

    // 2. SFT policy from scratch on imperfect demonstrations
    eprintln!(
        "[2/5] SFT of a {}-layer, {}-wide policy {} ({} steps)",
        scale.model.num_hidden_layers, scale.model.hidden_size, scale.start, scale.sft_steps
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut demonstrations = Vec::new();
    for (_, set) in &train_sets {
        for s in set {
            let reference = s.example.reference.clone().unwrap_or_default();
            let mut response = if rng.random_bool(scale.flawed_demonstrations) {
                s.flawed.clone()
            } else {
                reference
            };
            if rng.random_bool(scale.filler_demonstrations) {
                response = tasks::with_filler(&response, &mut rng);
            }
            let prompt = tokenizer.encode(&s.example.prompt.render(&tokenizer)?)?;
            let mut response_ids = tokenizer.encode(&response)?;
            response_ids.push(eos);
            demonstrations.push(Pair {
                prompt,
                response: response_ids,
            });
        }
    }
    let policy = match pretrained {
        Some(model) => model,
        None => {
            let mut config = scale.model.clone();
            config.eos_token_id = Some(crate::model::config::EosIds::One(eos));
            Model::random(&config, 0, &device::trainable(&base_device))?
        }
    };
    let sft_config = SftConfig {
        steps: scale.sft_steps,
        batch_size: scale.sft_batch,
        learning_rate: scale.sft_learning_rate,
        seed: 0,
    };
    let bar = progress::bar(scale.sft_steps as u64, "sft");
    let (policy, sft_losses) = sft::train(policy, &demonstrations, &sft_config, |i, _, loss| {
        progress::tick(&bar, i, &format!("loss {loss:.3}"))
    })?;
    bar.finish_and_clear();
    eprintln!(
        "      SFT loss {:.3} -> {:.3}",
        sft_losses.first().copied().unwrap_or(0.0),
        sft_losses.last().copied().unwrap_or(0.0)
    );
    let sft_dir = out.join("models").join("sft");
    hf::export(&policy.valid(), &sft_dir, safetensors::Dtype::F32, None)?;
    tokenizer.save(&sft_dir)?;

    // 3. reward model with a documented bias
    eprintln!("[3/5] Bradley-Terry reward model on biased preference pairs");
    let pairs = preference_pairs(&train_sets, &mut rng);
    write_jsonl(&data_dir.join("preferences.jsonl"), &pairs)?;
    let rm = RewardModel::from_causal_lm(&sft_dir, &device::trainable(&base_device))?;
    let rm_config = BradleyTerryConfig {
        epochs: scale.rm_epochs,
        learning_rate: 1e-3,
        batch_size: 16,
        holdout: 0.1,
        seed: 0,
    };
    let bar = progress::bar(0, "reward model");
    let (rm, rm_report) =
        bradley_terry::train(rm, &tokenizer, &pairs, &rm_config, |i, total, loss| {
            bar.set_length(total as u64);
            progress::tick(&bar, i, &format!("loss {loss:.3}"))
        })?;
    bar.finish_and_clear();
    let rm = rm.valid();
    let rm_dir = out.join("models").join("reward");
    rm.save(&rm_dir, &tokenizer)?;
    let probe = report::bias_probe(&rm, &tokenizer, &train_sets)?;
    eprintln!(
        "      held-out pairwise accuracy {:.2}; filler adds {:+.3} reward, a correct answer {:+.3}",
        rm_report.heldout_accuracy, probe.filler_gain, probe.correctness_gain
    );

    // 4. the judge server and the runs
    eprintln!(
        "[4/5] RL: {} x {} seed(s), {} steps each",
        args.methods.join(", "),
        args.seeds,
        scale.rl_steps
    );
    let _server;
    let judge_url = match &args.judge_url {
        Some(url) => url.clone(),
        None => {
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
            let url = process.url.clone();
            _server = process;
            url
        }
    };
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?,
    );
    let mut runs = Vec::new();
    for seed in 0..args.seeds as u64 {
        for (method, optimizer) in &optimizers {
            let run_dir = out.join("runs").join(format!("{method}-seed{seed}"));
            let config = run_config(
                &scale,
                &args.device,
                seed,
                &run_dir,
                &sft_dir,
                &rm_dir,
                &data_dir,
                &judge_url,
                optimizer,
            );
            std::fs::create_dir_all(&run_dir)?;
            std::fs::write(run_dir.join("cgpo.toml"), toml::to_string_pretty(&config)?)?;
            let mut trainer = Trainer::new(config, false, runtime.clone())?;
            let initial = trainer.evaluate()?;
            let bar = progress::bar(scale.rl_steps as u64, &format!("{method} s{seed}"));
            trainer.run(&mut |step, _, records| progress::report_step(&bar, step, records))?;
            bar.finish_and_clear();
            let last = crate::metrics::read(&run_dir.join("metrics.jsonl"))?;
            let summary = report::RunSummary::from_records(method, seed, &initial, &last);
            eprintln!("      {method} seed {seed}: {}", summary.one_line());
            runs.push(summary);
        }
    }

    // 5. report
    eprintln!("[5/5] report");
    let record = ExperimentRecord {
        command: std::env::args().collect(),
        scale: &scale,
        methods: &args.methods,
        seeds: args.seeds,
        judge_server_config: JUDGE_CONFIG,
        optimizers: optimizers.clone(),
        reward_model: &rm_report,
        reward_bias_probe: &probe,
    };
    std::fs::write(
        out.join("experiment.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
    let table = report::write(
        out,
        &runs,
        &rm_report,
        &probe,
        &sft_losses,
        &scale,
        started.elapsed(),
    )?;
    println!("{table}");
    eprintln!("report: {}", out.join("report.md").display());
    Ok(())
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

#[allow(clippy::too_many_arguments)]
fn run_config(
    scale: &Scale,
    device: &str,
    seed: u64,
    run_dir: &Path,
    sft_dir: &Path,
    rm_dir: &Path,
    data_dir: &Path,
    judge_url: &str,
    optimizer: &OptimizerConfig,
) -> TrainConfig {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    TrainConfig {
        seed,
        steps: scale.rl_steps,
        device: device.to_string(),
        output_dir: abs(run_dir),
        checkpoint_every: 0,
        eval_every: 0,
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
