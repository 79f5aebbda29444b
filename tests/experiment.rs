//! The main job end to end: `trainer experiment --quick` with the real judge server, checking the
//! report's structure and that every method produced training and evaluation metrics.

use std::process::Command;

#[test]
fn quick_experiment_writes_a_complete_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["experiment", "--quick", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "experiment failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let methods = ["reward_pg", "crpg", "crraft", "codpo"];
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for heading in [
        "# CGPO on CPU",
        "## The reward model and its bias",
        "## Setup",
        "## Plots",
    ] {
        assert!(report.contains(heading), "report.md lacks {heading:?}");
    }
    for table in [&report, &stdout.to_string()] {
        assert!(table.contains("| method | math pass | instruction_following pass | code pass | MoJ pass (all) | RM score | KL | length |"));
        assert!(table.contains("| SFT start |"));
        for m in methods {
            assert!(table.contains(&format!("| {m} |")), "no row for {m}");
        }
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["runs"].as_array().unwrap().len(), methods.len());
    for m in methods {
        let run = out.join("runs").join(format!("{m}-seed0"));
        let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let records: Vec<serde_json::Value> = metrics
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for kind in ["train", "eval"] {
            for task in ["math", "instruction_following", "code"] {
                assert!(
                    records
                        .iter()
                        .any(|r| r["kind"] == kind && r["task"] == task && r["optimizer"] == m),
                    "{m}: no {kind} record for {task}"
                );
            }
        }
        assert!(run.join("cgpo.toml").exists());
    }
    for file in [
        "experiment.json",
        "plots/train_reward.svg",
        "plots/eval_moj_pass_rate.svg",
        "data/preferences.jsonl",
        "models/sft/model.safetensors",
        "models/reward/model.safetensors",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let report_plots = report.matches("](plots/").count();
    assert!(report_plots >= 8, "report links {report_plots} plots");
}

#[test]
fn experiment_starts_from_a_given_pretrained_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    let trainer = env!("CARGO_BIN_EXE_trainer");
    let init = Command::new(trainer)
        .args(["init", "--seed", "5", "--out"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let out = dir.path().join("report");
    let output = Command::new(trainer)
        .args([
            "experiment",
            "--quick",
            "--methods",
            "crpg",
            "--steps",
            "1",
            "--sft-steps",
            "3",
            "--policy",
        ])
        .arg(&policy)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "experiment failed:\n{stderr}");
    assert!(
        stderr.contains(&format!("from {}", policy.display())),
        "{stderr}"
    );
    let experiment: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("experiment.json")).unwrap())
            .unwrap();
    assert_eq!(experiment["scale"]["sft_steps"], 3);
    assert!(
        experiment["scale"]["start"]
            .as_str()
            .unwrap()
            .contains("policy")
    );
    assert!(out.join("runs/crpg-seed0/metrics.jsonl").exists());
}
