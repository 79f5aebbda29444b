//! The `trainer` command line.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::model::{Model, ModelConfig, hf};
use crate::sampling::{SamplingConfig, generate};
use crate::tokenizer::{Message, TextTokenizer};
use crate::{device, pretrained};
use burn::module::Module;

#[derive(Parser, Debug)]
#[command(
    name = "trainer",
    version,
    about = "CGPO trainer for moj: policy models in Burn, judged by moj-judge-server"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate from a model (HF folder or GGUF file) for a prompt or chat messages.
    Generate(GenerateArgs),
    /// Write a model as a Hugging Face folder (config.json, model.safetensors, tokenizer files).
    Export(ExportArgs),
    /// CGPO training: `trainer train --config cgpo.toml` (see examples/cgpo.toml).
    Train(TrainArgs),
    /// Reward models.
    RewardModel {
        #[command(subcommand)]
        command: RewardModelCommand,
    },
    /// The CPU-scale CGPO experiment: synthetic tasks, SFT, a biased reward model, then the
    /// reward-only baseline and CRPG / CRRAFT / CODPO from the same start; writes a report.
    Experiment(crate::experiment::ExperimentArgs),
    /// Create a randomly initialised model with the byte-level tokenizer (for from-scratch runs and tests).
    Init(InitArgs),
}

#[derive(Args, Debug)]
struct GenerateArgs {
    #[arg(long)]
    model: PathBuf,
    /// Plain-text prompt (no chat template).
    #[arg(long, conflicts_with = "chat")]
    prompt: Option<String>,
    /// A user message, formatted with the model's chat template.
    #[arg(long)]
    chat: Option<String>,
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of samples (one batch).
    #[arg(long, default_value_t = 1)]
    n: usize,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Weights from a training checkpoint (`<output_dir>/checkpoints/step-N/policy.bpk`) for
    /// the architecture and tokenizer of `--model`.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ExportArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = ExportDtype::F32)]
    dtype: ExportDtype,
}

#[derive(Args, Debug)]
struct TrainArgs {
    #[arg(long)]
    config: PathBuf,
    /// Continue from the latest checkpoint in the output directory.
    #[arg(long)]
    resume: bool,
}

#[derive(Args, Debug)]
struct InitArgs {
    #[arg(long)]
    out: PathBuf,
    /// A config.json to use instead of the built-in tiny configuration.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Subcommand, Debug)]
enum RewardModelCommand {
    /// Bradley-Terry training from preference pairs (JSONL: prompt, chosen, rejected).
    Train(RewardModelTrainArgs),
}

#[derive(Args, Debug)]
struct RewardModelTrainArgs {
    /// Causal-LM folder to start from (its decoder becomes the reward model's body).
    #[arg(long)]
    base: PathBuf,
    #[arg(long)]
    pairs: PathBuf,
    /// Output folder (HF *ForSequenceClassification layout).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 0.1)]
    holdout: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ExportDtype {
    F32,
    Bf16,
    F16,
}

impl Cli {
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Generate(args) => generate_command(args),
            Command::Export(args) => export(args),
            Command::Train(args) => train(args),
            Command::RewardModel {
                command: RewardModelCommand::Train(args),
            } => train_reward_model(args),
            Command::Experiment(args) => crate::experiment::run(args),
            Command::Init(args) => init(args),
        }
    }
}

/// `trainer generate`: samples printed as JSON lines, the speed on stderr.
fn generate_command(args: GenerateArgs) -> Result<()> {
    let device = device::parse(&args.device)?;
    let mut loaded = pretrained::load(&args.model, &device)?;
    if let Some(path) = args.checkpoint {
        loaded.model = loaded
            .model
            .try_load_file(&path)
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
    }
    let text = match (args.prompt, args.chat) {
        (Some(p), None) => p,
        (None, Some(c)) => loaded.tokenizer.apply_chat_template(
            &[Message {
                role: "user".into(),
                content: c,
            }],
            true,
        )?,
        _ => bail!("give --prompt or --chat"),
    };
    let ids = loaded.tokenizer.encode(&text)?;
    let config = SamplingConfig {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        max_new_tokens: args.max_new_tokens,
        stop: vec![],
    };
    let started = std::time::Instant::now();
    let prompts = vec![ids; args.n];
    let seeds: Vec<u64> = (0..args.n as u64).map(|i| args.seed + i).collect();
    let out = generate(
        &loaded.model,
        &loaded.tokenizer,
        &prompts,
        &seeds,
        &config,
        &loaded.eos_ids,
    )?;
    let tokens: usize = out.iter().map(|g| g.tokens.len()).sum();
    for g in &out {
        println!(
            "{}",
            serde_json::json!({"text": g.text, "tokens": g.tokens.len(), "finish": g.finish})
        );
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{tokens} tokens in {secs:.2} s ({:.1} tokens/s)",
        tokens as f64 / secs
    );
    Ok(())
}

/// `trainer export`: a model as a Hugging Face folder.
fn export(args: ExportArgs) -> Result<()> {
    let device = device::parse("cpu")?;
    let loaded = pretrained::load(&args.model, &device)?;
    let dtype = match args.dtype {
        ExportDtype::F32 => safetensors::Dtype::F32,
        ExportDtype::Bf16 => safetensors::Dtype::BF16,
        ExportDtype::F16 => safetensors::Dtype::F16,
    };
    hf::export(&loaded.model, &args.out, dtype, None)?;
    loaded.tokenizer.save(&args.out)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// `trainer train`: the run, then the final policy, metrics and plots.
fn train(args: TrainArgs) -> Result<()> {
    let config = crate::config::TrainConfig::load(&args.config)?;
    let runtime = std::sync::Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?,
    );
    let mut trainer = crate::train::Trainer::new(config.clone(), args.resume, runtime)?;
    let bar = crate::progress::bar(config.steps as u64, "train");
    bar.set_position(trainer.step() as u64);
    trainer.run(&mut |step, _total, records| crate::progress::report_step(&bar, step, records))?;
    bar.finish();
    let final_dir = config.output_dir.join("final");
    trainer.export(&final_dir)?;
    let records = crate::metrics::read(&config.output_dir.join("metrics.jsonl"))?;
    let labelled: Vec<(String, crate::metrics::TaskMetrics)> = records
        .into_iter()
        .map(|r| ("run".to_string(), r))
        .collect();
    let plots = crate::plots::plot_all(&config.output_dir.join("plots"), &labelled)?;
    eprintln!(
        "done: {} steps; metrics {}, {} plots in {}, policy exported to {}",
        trainer.step(),
        config.output_dir.join("metrics.jsonl").display(),
        plots.len(),
        config.output_dir.join("plots").display(),
        final_dir.display()
    );
    Ok(())
}

/// `trainer reward-model train`: Bradley-Terry on preference pairs; the model and its report.
fn train_reward_model(args: RewardModelTrainArgs) -> Result<()> {
    let device = device::parse(&args.device)?;
    let tokenizer = TextTokenizer::load(&args.base)?;
    let model = crate::rewards::model::RewardModel::from_causal_lm(
        &args.base,
        &device::trainable(&device),
    )?;
    let pairs = crate::data::read_pairs(&args.pairs)?;
    let config = crate::rewards::bradley_terry::BradleyTerryConfig {
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        batch_size: args.batch_size,
        holdout: args.holdout,
        seed: args.seed,
        ..Default::default()
    };
    let bar = crate::progress::bar(0, "reward model");
    let (model, report) = crate::rewards::bradley_terry::train(
        model,
        &tokenizer,
        &pairs,
        &config,
        |i, total, loss| {
            bar.set_length(total as u64);
            bar.set_position(i as u64);
            bar.set_message(format!("loss {loss:.4}"));
        },
    )?;
    bar.finish();
    model.valid().save(&args.out, &tokenizer)?;
    std::fs::write(
        args.out.join("training_report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `trainer init`: a random model with the byte-level tokenizer.
fn init(args: InitArgs) -> Result<()> {
    let tokenizer = TextTokenizer::byte_level()?;
    let mut config = match args.config {
        Some(path) => ModelConfig::load(&path)?,
        None => ModelConfig::tiny(tokenizer.vocab_size()),
    };
    if config.vocab_size < tokenizer.vocab_size() {
        bail!(
            "vocab_size {} is smaller than the tokenizer's {}",
            config.vocab_size,
            tokenizer.vocab_size()
        );
    }
    config.eos_token_id = tokenizer
        .eos_ids()
        .first()
        .map(|&id| crate::model::config::EosIds::One(id));
    let model = Model::random(&config, args.seed, &device::parse("cpu")?)?;
    hf::export(&model, &args.out, safetensors::Dtype::F32, None)?;
    tokenizer.save(&args.out).context("writing the tokenizer")?;
    eprintln!(
        "wrote {} ({} parameters)",
        args.out.display(),
        burn::module::Module::num_params(&model)
    );
    Ok(())
}
