//! End to end: the trainer against the real judge-server binary on loopback (rule judges, SQLite),
//! with a tiny random policy and reward model, two tasks, and every optimizer. Checks one judge
//! request per task batch (counted by the client AND by the server), the metrics written, exact
//! resumption from a checkpoint, and a clean stop when the judge server is gone.

use burn::module::Module;
use burn::tensor::Device;
use moj_trainer::config::{
    AdamWSettings, JudgeServerConfig, PolicyConfig, TaskConfig, TrainConfig,
};
use moj_trainer::judge_process::{self, JudgeServerProcess};
use moj_trainer::metrics::{self, RecordKind, TaskMetrics};
use moj_trainer::model::{Model, ModelConfig, hf};
use moj_trainer::optim::OptimizerConfig;
use moj_trainer::rewards::RewardConfig;
use moj_trainer::rewards::model::RewardModel;
use moj_trainer::sampling::SamplingConfig;
use moj_trainer::tokenizer::TextTokenizer;
use moj_trainer::train::Trainer;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const JUDGES: &str = r#"
[judges.final_answer_format]
kind = "regex"
config = { must_match = ["The final answer is \\S+"] }
[judges.math_answer]
kind = "math"
[judges.ifeval_strict]
kind = "ifeval"
[tasks.math]
judges = ["final_answer_format", "math_answer"]
"#;

struct Fixture {
    dir: tempfile::TempDir,
    server: JudgeServerProcess,
    runtime: Arc<tokio::runtime::Runtime>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let binary = judge_process::default_binary()
        .expect("the judge-server binary (cargo test --workspace builds it)");
    let server = JudgeServerProcess::start(
        &binary,
        JUDGES,
        &dir.path().join("judge"),
        Duration::from_secs(120),
    )
    .unwrap();
    let tokenizer = TextTokenizer::byte_level().unwrap();
    let mut config = ModelConfig::tiny(tokenizer.vocab_size());
    config.num_hidden_layers = 1;
    config.eos_token_id = Some(moj_trainer::model::config::EosIds::One(
        tokenizer.eos_ids()[0],
    ));
    let policy_dir = dir.path().join("policy");
    let model = Model::random(&config, 1, &Device::flex()).unwrap();
    hf::export(&model, &policy_dir, safetensors::Dtype::F32, None).unwrap();
    tokenizer.save(&policy_dir).unwrap();
    let mut rm = RewardModel::from_causal_lm(&policy_dir, &Device::flex()).unwrap();
    rm.score = burn::module::Param::from_tensor(burn::tensor::Tensor::ones(
        [config.hidden_size, 1],
        &Device::flex(),
    ));
    rm.save(&dir.path().join("rm"), &tokenizer).unwrap();
    let math = (0..6)
        .map(|i| format!(r#"{{"prompt":"What is {i} + 1?","reference":"The final answer is {}","metadata":{{"answer":"{}"}}}}"#, i + 1, i + 1))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("math.jsonl"), math).unwrap();
    let ifeval = (0..6)
        .map(|i| format!(r#"{{"prompt":"Say hi {i} in lowercase.","metadata":{{"instruction_id_list":["change_case:english_lowercase"],"kwargs":[{{}}]}}}}"#))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("ifeval.jsonl"), ifeval).unwrap();
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    );
    Fixture {
        dir,
        server,
        runtime,
    }
}

impl Fixture {
    fn config(&self, name: &str, optimizer: OptimizerConfig, steps: usize) -> TrainConfig {
        let root = self.dir.path();
        let task = |name: &str,
                    file: &str,
                    judge_task: Option<&str>,
                    judges: Option<Vec<String>>| TaskConfig {
            name: name.into(),
            train: root.join(file),
            eval: Some(root.join(file)),
            judge_task: judge_task.map(str::to_string),
            judges,
            weight: 1.0,
            prompts_per_step: 2,
            samples_per_prompt: 2,
            optimizer: optimizer.clone(),
            reward: RewardConfig::Model {
                path: root.join("rm"),
            },
            generation: SamplingConfig {
                max_new_tokens: 12,
                ..Default::default()
            },
            eval_prompts: 2,
        };
        TrainConfig {
            seed: 3,
            steps,
            device: "cpu".into(),
            output_dir: root.join("runs").join(name),
            checkpoint_every: 2,
            eval_every: 0,
            policy: PolicyConfig {
                path: root.join("policy"),
                reference: None,
            },
            optimizer: AdamWSettings {
                learning_rate: 1e-3,
                ..Default::default()
            },
            judge_server: JudgeServerConfig {
                url: self.server.url.clone(),
                api_key_env: None,
                timeout_secs: 60.0,
                retries: 1,
            },
            tasks: vec![
                task("math", "math.jsonl", Some("math"), None),
                task(
                    "ifeval",
                    "ifeval.jsonl",
                    None,
                    Some(vec!["ifeval_strict".into()]),
                ),
            ],
        }
    }

    /// `POST /v1/judge` requests the server has answered, from its Prometheus metrics.
    fn server_judge_requests(&self) -> usize {
        let (status, body) = judge_process::http_get(self.server.addr(), "/metrics").unwrap();
        assert_eq!(status, 200);
        body.lines()
            .filter(|l| l.contains("http_requests_total") && l.contains("/v1/judge\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as usize
    }
}

fn train_records(dir: &Path) -> Vec<TaskMetrics> {
    metrics::read(&dir.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == RecordKind::Train)
        .collect()
}

#[test]
fn every_optimizer_trains_with_one_judge_request_per_task_batch_and_resumes_exactly() {
    let f = fixture();
    let optimizers = [
        OptimizerConfig::Crpg { kl_max: 50.0 },
        OptimizerConfig::Codpo {
            beta: 0.1,
            lambda: 5.0,
        },
        OptimizerConfig::Crraft { kl_max: 50.0 },
        OptimizerConfig::RewardPg { kl_coef: 0.0 },
        OptimizerConfig::OnlineDpo {
            beta: 0.1,
            lambda: 0.0,
        },
    ];
    let mut moved = 0;
    for optimizer in optimizers {
        let name = format!("{optimizer:?}")
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('{')
            .to_string();
        let config = f.config(&name, optimizer, 2);
        let before = f.server_judge_requests();
        let mut trainer = Trainer::new(config.clone(), false, f.runtime.clone()).unwrap();
        let initial_policy = trainer.policy().valid().to_weights();
        trainer.run(&mut |_, _, _| {}).unwrap();
        // 2 steps x 2 tasks, then one evaluation per task at the end
        assert_eq!(
            trainer.judge_requests(),
            2 * 2 + 2,
            "{name}: client-side request count"
        );
        assert_eq!(
            f.server_judge_requests() - before,
            2 * 2 + 2,
            "{name}: server-side request count"
        );
        let records = train_records(&config.output_dir);
        assert_eq!(records.len(), 4, "{name}");
        for r in &records {
            assert_eq!(r.samples, 4);
            assert!(
                r.reward.is_finite() && r.kl.is_finite() && r.response_length > 0.0,
                "{name}: {r:?}"
            );
            assert!(
                !r.judge_pass_rates.is_empty(),
                "{name}: per-judge pass rates"
            );
            assert!(r.time_generation_s > 0.0 && r.time_judging_s > 0.0);
        }
        let evals = metrics::read(&config.output_dir.join("metrics.jsonl"))
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == RecordKind::Eval)
            .count();
        assert_eq!(evals, 2, "{name}: one evaluation record per task");
        assert!(
            config
                .output_dir
                .join("checkpoints/step-000002/policy.bpk")
                .exists()
        );
        if records.iter().any(|r| r.loss.is_some()) {
            assert_ne!(
                trainer.policy().valid().to_weights(),
                initial_policy,
                "{name}: a loss was computed but the policy did not move"
            );
            moved += 1;
        }
    }
    // reward_pg and online_dpo always learn from reward differences; crraft from the passing references
    assert!(moved >= 3, "only {moved} optimizers updated the policy");

    // Resumption: 4 uninterrupted steps == 2 steps, stop, --resume to 4.
    let optimizer = OptimizerConfig::RewardPg { kl_coef: 0.1 };
    let straight = f.config("straight", optimizer.clone(), 4);
    Trainer::new(straight.clone(), false, f.runtime.clone())
        .unwrap()
        .run(&mut |_, _, _| {})
        .unwrap();
    let mut interrupted = f.config("resumed", optimizer, 2);
    Trainer::new(interrupted.clone(), false, f.runtime.clone())
        .unwrap()
        .run(&mut |_, _, _| {})
        .unwrap();
    interrupted.steps = 4;
    let mut resumed = Trainer::new(interrupted.clone(), true, f.runtime.clone()).unwrap();
    assert_eq!(resumed.step(), 2);
    resumed.run(&mut |_, _, _| {}).unwrap();
    let a = train_records(&straight.output_dir);
    let b = train_records(&interrupted.output_dir);
    assert_eq!(a.len(), 8);
    assert_eq!(b.len(), 8);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.step, &x.task), (y.step, &y.task));
        assert_eq!(
            x.loss, y.loss,
            "step {} {}: loss differs after resuming",
            x.step, x.task
        );
        assert_eq!(x.reward, y.reward);
    }
}

#[test]
fn an_unreachable_judge_server_stops_training_after_a_checkpoint() {
    let f = fixture();
    let mut config = f.config("down", OptimizerConfig::Crpg { kl_max: 10.0 }, 3);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.judge_server.url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    config.judge_server.retries = 1;
    let mut trainer = Trainer::new(config.clone(), false, f.runtime.clone()).unwrap();
    let err = format!("{:#}", trainer.run(&mut |_, _, _| {}).unwrap_err());
    assert!(
        err.contains("judge server") && err.contains("--resume"),
        "{err}"
    );
    assert!(
        config.output_dir.join("checkpoints/latest").exists(),
        "a checkpoint is written before stopping"
    );
    let metrics = config.output_dir.join("metrics.jsonl");
    assert!(
        !metrics.exists() || train_records(&config.output_dir).is_empty(),
        "nothing was trained on missing verdicts"
    );
}
