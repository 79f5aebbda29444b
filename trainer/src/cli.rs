//! The `trainer` command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
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
    Generate {
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
    },
    /// Write a model as a Hugging Face folder (config.json, model.safetensors, tokenizer files).
    Export {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = ExportDtype::F32)]
        dtype: ExportDtype,
    },
    /// CGPO training: `trainer train --config cgpo.toml` (see examples/cgpo.toml).
    Train {
        #[arg(long)]
        config: PathBuf,
        /// Continue from the latest checkpoint in the output directory.
        #[arg(long)]
        resume: bool,
    },
    /// Reward models.
    RewardModel {
        #[command(subcommand)]
        command: RewardModelCommand,
    },
    /// The CPU-scale CGPO experiment: synthetic tasks, SFT, a biased reward model, then the
    /// reward-only baseline and CRPG / CRRAFT / CODPO from the same start; writes a report.
    Experiment(crate::experiment::ExperimentArgs),
    /// Create a randomly initialised model with the byte-level tokenizer (for from-scratch runs and tests).
    Init {
        #[arg(long)]
        out: PathBuf,
        /// A config.json to use instead of the built-in tiny configuration.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum RewardModelCommand {
    /// Bradley-Terry training from preference pairs (JSONL: prompt, chosen, rejected).
    Train {
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
    },
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
            Command::Generate {
                model,
                prompt,
                chat,
                max_new_tokens,
                temperature,
                top_p,
                top_k,
                seed,
                n,
                device,
                checkpoint,
            } => {
                let device = device::parse(&device)?;
                let mut loaded = pretrained::load(&model, &device)?;
                if let Some(path) = checkpoint {
                    loaded.model = loaded
                        .model
                        .try_load_file(&path)
                        .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
                }
                let text = match (prompt, chat) {
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
                    temperature,
                    top_p,
                    top_k,
                    max_new_tokens,
                    stop: vec![],
                };
                let started = std::time::Instant::now();
                let prompts = vec![ids; n];
                let seeds: Vec<u64> = (0..n as u64).map(|i| seed + i).collect();
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
            Command::Export { model, out, dtype } => {
                let device = device::parse("cpu")?;
                let loaded = pretrained::load(&model, &device)?;
                let dtype = match dtype {
                    ExportDtype::F32 => safetensors::Dtype::F32,
                    ExportDtype::Bf16 => safetensors::Dtype::BF16,
                    ExportDtype::F16 => safetensors::Dtype::F16,
                };
                hf::export(&loaded.model, &out, dtype, None)?;
                loaded.tokenizer.save(&out)?;
                eprintln!("wrote {}", out.display());
                Ok(())
            }
            Command::Train { config, resume } => {
                let config = crate::config::TrainConfig::load(&config)?;
                let runtime = std::sync::Arc::new(
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()?,
                );
                let mut trainer = crate::train::Trainer::new(config.clone(), resume, runtime)?;
                let bar = crate::progress::bar(config.steps as u64, "train");
                bar.set_position(trainer.step() as u64);
                trainer.run(&mut |step, _total, records| {
                    crate::progress::report_step(&bar, step, records)
                })?;
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
            Command::RewardModel {
                command:
                    RewardModelCommand::Train {
                        base,
                        pairs,
                        out,
                        epochs,
                        learning_rate,
                        batch_size,
                        holdout,
                        seed,
                        device,
                    },
            } => {
                let device = device::parse(&device)?;
                let tokenizer = TextTokenizer::load(&base)?;
                let model = crate::rewards::model::RewardModel::from_causal_lm(
                    &base,
                    &device::trainable(&device),
                )?;
                let pairs = crate::data::read_pairs(&pairs)?;
                let config = crate::rewards::bradley_terry::BradleyTerryConfig {
                    epochs,
                    learning_rate,
                    batch_size,
                    holdout,
                    seed,
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
                model.valid().save(&out, &tokenizer)?;
                std::fs::write(
                    out.join("training_report.json"),
                    serde_json::to_string_pretty(&report)?,
                )?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(())
            }
            Command::Experiment(args) => crate::experiment::run(args),
            Command::Init { out, config, seed } => {
                let tokenizer = TextTokenizer::byte_level()?;
                let mut config = match config {
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
                let model = Model::random(&config, seed, &device::parse("cpu")?)?;
                hf::export(&model, &out, safetensors::Dtype::F32, None)?;
                tokenizer.save(&out).context("writing the tokenizer")?;
                eprintln!(
                    "wrote {} ({} parameters)",
                    out.display(),
                    burn::module::Module::num_params(&model)
                );
                Ok(())
            }
        }
    }
}
