//! Stage 4 of the experiment: every method and seed from the SFT policy, judged by the judge
//! server (started here unless `--judge-url`).

use anyhow::{Context, Result, anyhow};
use indicatif::MultiProgress;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::datasets::Dirs;
use super::tasks::TaskKind;
use super::{ExperimentArgs, JUDGE_CONFIG, JUDGE_KEY_VAR, Scale, optimizer_for, report};
use crate::config::{
    AdamWSettings, JudgeServerConfig, PolicyConfig, Schedule, TaskConfig, TrainConfig,
};
use crate::judge_process::{self, JudgeServerProcess};
use crate::metrics::TaskMetrics;
use crate::optim::OptimizerConfig;
use crate::rewards::RewardConfig;
use crate::sampling::SamplingConfig;
use crate::train::Trainer;
use crate::{memory, progress};

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
pub(super) struct Experiment<'a> {
    pub(super) args: &'a ExperimentArgs,
    pub(super) scale: &'a Scale,
    pub(super) optimizers: &'a [(String, OptimizerConfig)],
    pub(super) dirs: &'a Dirs,
    /// RL runs at once.
    pub(super) jobs: usize,
}

impl Experiment<'_> {
    /// Stage 4: the SFT policy's evaluation (once: every run starts from it), then every
    /// method for every seed, evaluated on the configured cadence.
    pub(super) fn reinforce(&self) -> Result<(Vec<TaskMetrics>, Vec<report::RunSummary>)> {
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
        let queue: Vec<(u64, &str)> = (0..args.seeds as u64)
            .flat_map(|seed| self.optimizers.iter().map(move |(m, _)| (seed, m.as_str())))
            .collect();
        let runs = self.run_all(&queue, &judge_url, &runtime, &start_summary)?;
        Ok((start, runs))
    }

    /// Every (seed, method) run of `queue`, `self.jobs` at a time (each run is single-threaded
    /// and depends only on its seed, so the results do not depend on the order), in queue
    /// order. The first failure stops the workers after their current run.
    fn run_all(
        &self,
        queue: &[(u64, &str)],
        judge_url: &str,
        runtime: &Arc<tokio::runtime::Runtime>,
        start: &report::Evaluation,
    ) -> Result<Vec<report::RunSummary>> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let done = Mutex::new(Vec::new());
        let bars = std::io::stderr().is_terminal().then(MultiProgress::new);
        let worker = || -> Result<()> {
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(seed, method)) = queue.get(i) else {
                    break;
                };
                let run = self.run_one(seed, method, judge_url, runtime, bars.as_ref(), start);
                match run {
                    Ok(summary) => done.lock().map_err(|_| poisoned())?.push((i, summary)),
                    Err(error) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(error);
                    }
                }
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..self.jobs.clamp(1, queue.len().max(1)))
                .map(|_| scope.spawn(worker))
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow!("an RL run panicked")))
            })
        })?;
        let mut done = done.into_inner().map_err(|_| poisoned())?;
        done.sort_by_key(|(i, _)| *i);
        Ok(done.into_iter().map(|(_, summary)| summary).collect())
    }

    /// One RL run: `method` from the SFT policy with `seed`, summarised against the start.
    fn run_one(
        &self,
        seed: u64,
        method: &str,
        judge_url: &str,
        runtime: &Arc<tokio::runtime::Runtime>,
        bars: Option<&MultiProgress>,
        start: &report::Evaluation,
    ) -> Result<report::RunSummary> {
        let name = format!("{method}-seed{seed}");
        memory::release_freed();
        let mut trainer = self.trainer(&name, seed, method, judge_url, runtime)?;
        let bar = progress::bar(self.scale.rl_steps as u64, &format!("{method} s{seed}"));
        let bar = match bars {
            Some(bars) => bars.add(bar),
            None => bar,
        };
        trainer.run(&mut |step, _, records| progress::report_step(&bar, step, records))?;
        bar.finish_and_clear();
        let records = crate::metrics::read(&self.run_dir(&name).join("metrics.jsonl"))?;
        let summary = report::RunSummary::new(method, seed, records);
        eprintln!("      {method} seed {seed}: {}", summary.one_line(start));
        Ok(summary)
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
            (&optimizer, self.scale.rl_learning_rate_of(method)),
        );
        std::fs::create_dir_all(&run_dir)?;
        std::fs::write(run_dir.join("cgpo.toml"), toml::to_string_pretty(&config)?)?;
        Trainer::new(config, false, runtime.clone())
    }
}

fn poisoned() -> anyhow::Error {
    anyhow!("an RL run panicked while recording its result")
}

/// The configuration of one RL run from the SFT policy, judged at `judge_url`.
fn run_config(
    scale: &Scale,
    device: &str,
    seed: u64,
    run_dir: &Path,
    dirs: &Dirs,
    judge_url: &str,
    (optimizer, learning_rate): (&OptimizerConfig, f64),
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
            learning_rate,
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
