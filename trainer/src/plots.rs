//! SVG plots of the training curves in `metrics.jsonl`: one chart per metric, one line per
//! (run, task) series.

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

use crate::metrics::TaskMetrics;

/// A named series of (step, value) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The metrics plotted for every run.
/// Reads one metric of a record (`None` when the record has no value for it).
pub type Metric = fn(&TaskMetrics) -> Option<f64>;

pub const PLOTTED: [(&str, Metric); 6] = [
    ("reward", |m| Some(m.reward)),
    ("calibrated_reward", |m| Some(m.calibrated_reward)),
    ("moj_pass_rate", |m| Some(m.moj_pass_rate)),
    ("kl", |m| Some(m.kl)),
    ("loss", |m| m.loss),
    ("response_length", |m| Some(m.response_length)),
];

/// Groups records of `kind` by `label(record)` and extracts one metric.
pub fn series(records: &[(String, TaskMetrics)], kind: &str, metric: Metric) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for (run, m) in records.iter().filter(|(_, m)| m.kind == kind) {
        let Some(value) = metric(m) else { continue };
        let label = format!("{run}/{}", m.task);
        match out.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push((m.step as f64, value)),
            None => out.push(Series {
                label,
                points: vec![(m.step as f64, value)],
            }),
        }
    }
    out
}

/// Draws `series` into an SVG file.
pub fn line_chart(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Ok(());
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e:?}"))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// One SVG per (kind, metric) for the labelled runs' records; returns the files written.
pub fn plot_all(dir: &Path, records: &[(String, TaskMetrics)]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for kind in ["train", "eval"] {
        for (name, metric) in PLOTTED {
            let s = series(records, kind, metric);
            if s.is_empty() {
                continue;
            }
            let path = dir.join(format!("{kind}_{name}.svg"));
            line_chart(&path, &format!("{kind}: {name}"), &s)?;
            written.push(path);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let rec = |step, task: &str, reward| TaskMetrics {
            kind: "train".into(),
            step,
            task: task.into(),
            reward,
            ..Default::default()
        };
        let records = vec![
            ("crpg".to_string(), rec(1, "math", 0.1)),
            ("crpg".to_string(), rec(2, "math", 0.3)),
            ("crpg".to_string(), rec(1, "code", 0.5)),
        ];
        let files = plot_all(dir.path(), &records).unwrap();
        let reward = files
            .iter()
            .find(|p| p.ends_with("train_reward.svg"))
            .unwrap();
        let svg = std::fs::read_to_string(reward).unwrap();
        assert!(svg.contains("crpg/math") && svg.contains("crpg/code") && svg.contains("<svg"));
    }
}
