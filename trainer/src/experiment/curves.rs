//! The report's learning curves: one figure per metric, small multiples per task, a band
//! over seeds per method (SVG, with a PNG beside each).

use anyhow::Result;
use std::collections::BTreeMap;
use std::path::Path;

use super::report::Inputs;
use super::stats;
use super::tasks::TaskKind;
use crate::metrics::{RecordKind, TaskMetrics, mean};
use crate::plots::{self, BandPoint, BandSeries, Panel};

/// One learning-curve figure: a metric of one record kind, per task and overall.
struct Figure {
    name: &'static str,
    title: &'static str,
    y_desc: &'static str,
    kind: RecordKind,
    metric: fn(&TaskMetrics) -> f64,
    range: Option<(f64, f64)>,
}

/// The learning curves as small multiples; returns the file names (SVG; PNG beside each).
pub(super) fn write_plots(dir: &Path, inputs: &Inputs) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let figures = [
        Figure {
            name: "heldout_pass",
            title: "held-out MoJ pass rate",
            y_desc: "pass rate",
            kind: RecordKind::Eval,
            metric: |m| m.moj_pass_rate,
            range: Some((0.0, 1.0)),
        },
        Figure {
            name: "heldout_rm_score",
            title: "held-out reward-model score",
            y_desc: "RM score",
            kind: RecordKind::Eval,
            metric: |m| m.reward,
            range: None,
        },
        Figure {
            name: "heldout_kl",
            title: "held-out KL to the SFT policy",
            y_desc: "KL",
            kind: RecordKind::Eval,
            metric: |m| m.kl,
            range: None,
        },
        Figure {
            name: "train_pass",
            title: "training batches: MoJ pass rate",
            y_desc: "pass rate",
            kind: RecordKind::Train,
            metric: |m| m.moj_pass_rate,
            range: Some((0.0, 1.0)),
        },
        Figure {
            name: "train_rm_score",
            title: "training batches: reward-model score",
            y_desc: "RM score",
            kind: RecordKind::Train,
            metric: |m| m.reward,
            range: None,
        },
        Figure {
            name: "train_kl",
            title: "training batches: KL to the SFT policy",
            y_desc: "KL",
            kind: RecordKind::Train,
            metric: |m| m.kl,
            range: None,
        },
    ];
    let mut names = Vec::new();
    for figure in figures {
        let panels = curves(inputs, figure.kind, figure.metric);
        let file = format!("{}.svg", figure.name);
        plots::small_multiples(
            &dir.join(&file),
            figure.title,
            figure.y_desc,
            figure.range,
            &panels,
        )?;
        names.push(file);
    }
    Ok(names)
}

/// One panel per task and one for the mean over tasks; per method, the metric's mean over
/// seeds at every step with a t-interval band. Held-out curves start at the SFT evaluation.
fn curves(inputs: &Inputs, kind: RecordKind, metric: fn(&TaskMetrics) -> f64) -> Vec<Panel> {
    let tasks: Vec<&str> = TaskKind::ALL.iter().map(|k| k.name()).collect();
    let mut methods: Vec<&str> = Vec::new();
    for r in inputs.runs {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    // value[method][task or "all"][step] -> one value per seed
    let mut values: BTreeMap<(&str, &str, usize), Vec<f64>> = BTreeMap::new();
    for run in inputs.runs {
        let start = inputs.start.iter().filter(|_| kind == RecordKind::Eval);
        let mut per_step: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
        for r in start.chain(&run.records).filter(|r| r.kind == kind) {
            let task = tasks.iter().copied().find(|t| *t == r.task).unwrap_or("?");
            values
                .entry((&run.method, task, r.step))
                .or_default()
                .push(metric(r));
            per_step.entry(r.step).or_default().push(metric(r));
        }
        for (step, task_values) in per_step {
            values
                .entry((&run.method, "all", step))
                .or_default()
                .push(mean(task_values));
        }
    }
    tasks
        .iter()
        .copied()
        .chain(["all"])
        .map(|task| Panel {
            title: if task == "all" {
                "all tasks".into()
            } else {
                task.into()
            },
            series: methods
                .iter()
                .map(|&m| BandSeries {
                    label: m.to_string(),
                    points: values
                        .iter()
                        .filter(|((vm, vt, _), _)| *vm == m && *vt == task)
                        .map(|((_, _, step), v)| {
                            let (mean, half) = stats::t_interval(v);
                            BandPoint {
                                x: *step as f64,
                                mean,
                                low: mean - half,
                                high: mean + half,
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}
