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

/// A metric plotted per record kind: its file-name key, what it is, its axis, its range.
struct Metric {
    key: &'static str,
    what: &'static str,
    y_desc: &'static str,
    value: fn(&TaskMetrics) -> f64,
    range: Option<(f64, f64)>,
}

impl Metric {
    const fn new(
        key: &'static str,
        what: &'static str,
        y_desc: &'static str,
        value: fn(&TaskMetrics) -> f64,
        range: Option<(f64, f64)>,
    ) -> Metric {
        Metric {
            key,
            what,
            y_desc,
            value,
            range,
        }
    }
}

const METRICS: [Metric; 3] = [
    Metric::new(
        "pass",
        "MoJ pass rate",
        "pass rate",
        |m| m.moj_pass_rate,
        Some((0.0, 1.0)),
    ),
    Metric::new(
        "rm_score",
        "reward-model score",
        "RM score",
        |m| m.reward,
        None,
    ),
    Metric::new("kl", "KL to the SFT policy", "KL", |m| m.kl, None),
];

/// The learning curves as small multiples, every metric for the held-out evaluations and for
/// the training batches; returns the file names (SVG; PNG beside each).
pub(super) fn write_plots(dir: &Path, inputs: &Inputs) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut names = Vec::new();
    for (kind, prefix, heading) in [
        (RecordKind::Eval, "heldout", "held-out"),
        (RecordKind::Train, "train", "training batches:"),
    ] {
        for metric in &METRICS {
            let panels = curves(inputs, kind, metric.value);
            let file = format!("{prefix}_{}.svg", metric.key);
            let title = format!("{heading} {}", metric.what);
            plots::small_multiples(
                &dir.join(&file),
                &title,
                metric.y_desc,
                metric.range,
                &panels,
            )?;
            names.push(file);
        }
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
