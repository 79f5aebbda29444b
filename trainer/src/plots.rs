//! Plots of training curves: every chart is written as SVG and as the same picture in PNG
//! (rendered from the SVG with resvg and the system's fonts). Legends sit beside the data,
//! never on it.
//!
//! Two kinds: [`plot_all`] draws one chart per metric with a line per (run, task), for one
//! training run; [`small_multiples`] draws one panel per task with a mean line and a band per
//! method, for the experiment's seeds.

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::metrics::{RecordKind, TaskMetrics};

/// A named series of (step, value) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// A curve with its uncertainty: at each x, the mean and a band `[low, high]`.
pub struct BandSeries {
    pub label: String,
    pub points: Vec<BandPoint>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    pub x: f64,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// One small multiple: a title and its curves.
pub struct Panel {
    pub title: String,
    pub series: Vec<BandSeries>,
}

/// Reads one metric of a record (`None` when the record has no value for it).
pub type Metric = fn(&TaskMetrics) -> Option<f64>;

/// The metrics plotted for every run.
pub const PLOTTED: [(&str, Metric); 6] = [
    ("reward", |m| Some(m.reward)),
    ("calibrated_reward", |m| Some(m.calibrated_reward)),
    ("moj_pass_rate", |m| Some(m.moj_pass_rate)),
    ("kl", |m| Some(m.kl)),
    ("loss", |m| m.loss),
    ("response_length", |m| Some(m.response_length)),
];

const LEGEND_WIDTH: u32 = 230;

/// Groups records of `kind` by `label(record)` and extracts one metric.
pub fn series(records: &[(String, TaskMetrics)], kind: RecordKind, metric: Metric) -> Vec<Series> {
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

/// One chart (SVG and PNG) per (kind, metric) for the labelled runs' records; returns the SVG
/// files written (each has its `.png` beside it).
pub fn plot_all(dir: &Path, records: &[(String, TaskMetrics)]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for kind in [RecordKind::Train, RecordKind::Eval] {
        for (name, metric) in PLOTTED {
            let s = series(records, kind, metric);
            if s.is_empty() {
                continue;
            }
            let path = dir.join(format!("{}_{name}.svg", kind.name()));
            let svg = line_chart_svg(&format!("{}: {name}", kind.name()), &s)?;
            save(&path, &svg)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Panels side by side sharing the y range (`y_range`, or fitted to the data), one colour per
/// series label across panels, the legend on the right. Writes `path` (SVG) and its PNG.
pub fn small_multiples(
    path: &Path,
    title: &str,
    y_desc: &str,
    y_range: Option<(f64, f64)>,
    panels: &[Panel],
) -> Result<()> {
    let labels = distinct_labels(panels);
    let all = panels
        .iter()
        .flat_map(|p| &p.series)
        .flat_map(|s| &s.points);
    let Some((x0, x1, y0, y1)) = bounds(all.flat_map(|p| [(p.x, p.low), (p.x, p.high)])) else {
        bail!("{title}: nothing to plot");
    };
    let (y0, y1) = y_range.unwrap_or((y0, y1));
    let panel_width = 330;
    let size = (panel_width * panels.len() as u32 + LEGEND_WIDTH, 380);
    let svg = render_svg(size, |root| {
        let root = root.titled(title, ("sans-serif", 22)).map_err(plot_error)?;
        let (data, legend) = root.split_horizontally(size.0 - LEGEND_WIDTH);
        for (panel, area) in panels.iter().zip(data.split_evenly((1, panels.len()))) {
            draw_panel(&area, panel, &labels, y_desc, (x0, x1), (y0, y1))?;
        }
        draw_legend(&legend, &labels)
    })?;
    save(path, &svg)
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    panel: &Panel,
    labels: &[String],
    y_desc: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> Result<()> {
    let pad = ((y1 - y0) * 0.04).max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("RL step")
        .y_desc(y_desc)
        .x_labels(6)
        .y_labels(6)
        .draw()
        .map_err(plot_error)?;
    for s in &panel.series {
        let color = color_of(labels, &s.label);
        if s.points.iter().any(|p| p.high > p.low) {
            let outline: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|p| (p.x, p.low))
                .chain(s.points.iter().rev().map(|p| (p.x, p.high)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.18).filled(),
                )))
                .map_err(plot_error)?;
        }
        let line = s.points.iter().map(|p| (p.x, p.mean));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// One line per series, legend on the right.
fn line_chart_svg(title: &str, series: &[Series]) -> Result<String> {
    let points = series.iter().flat_map(|s| s.points.iter().copied());
    let Some((x0, x1, y0, y1)) = bounds(points) else {
        bail!("{title}: nothing to plot");
    };
    let labels: Vec<String> = series.iter().map(|s| s.label.clone()).collect();
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let size = (760 + LEGEND_WIDTH, 460);
    render_svg(size, |root| {
        let (data, legend) = root.split_horizontally(size.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&data)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .draw()
            .map_err(plot_error)?;
        for s in series {
            let color = color_of(&labels, &s.label);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_error)?;
        }
        draw_legend(&legend, &labels)
    })
}

fn draw_legend(area: &DrawingArea<SVGBackend, Shift>, labels: &[String]) -> Result<()> {
    for (i, label) in labels.iter().enumerate() {
        let y = 60 + 22 * i as i32;
        let color = color_of(labels, label);
        area.draw(&PathElement::new(
            vec![(8, y), (34, y)],
            color.stroke_width(3),
        ))
        .map_err(plot_error)?;
        area.draw(&Text::new(label.clone(), (42, y - 8), ("sans-serif", 15)))
            .map_err(plot_error)?;
    }
    Ok(())
}

fn distinct_labels(panels: &[Panel]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for s in panels.iter().flat_map(|p| &p.series) {
        if !labels.contains(&s.label) {
            labels.push(s.label.clone());
        }
    }
    labels
}

fn color_of(labels: &[String], label: &str) -> RGBAColor {
    let index = labels.iter().position(|l| l == label).unwrap_or(0);
    Palette99::pick(index).to_rgba()
}

/// `(x0, x1, y0, y1)` of the points, widened where flat; `None` without points.
fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return None;
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    Some((x0, x1, y0, y1))
}

fn plot_error(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow!("plotting: {e:?}")
}

fn render_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Writes `svg` at `path` and its rendering beside it as PNG.
fn save(path: &Path, svg: &str) -> Result<()> {
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    let png = path.with_extension("png");
    std::fs::write(&png, png_of(svg)?).with_context(|| format!("writing {}", png.display()))
}

/// The SVG rendered at its own size.
fn png_of(svg: &str) -> Result<Vec<u8>> {
    let options = resvg::usvg::Options {
        fontdb: fonts()?,
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &options)?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).context("allocating the PNG")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap.encode_png()?)
}

/// The system's fonts, with a sans-serif face standing for the generic family the SVGs name.
/// Without any, a PNG would have no text: an error that says what to install.
pub fn fonts() -> Result<Arc<resvg::usvg::fontdb::Database>> {
    static FONTS: OnceLock<Option<Arc<resvg::usvg::fontdb::Database>>> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_system_fonts();
        let family = sans_family(&db)?;
        db.set_sans_serif_family(family);
        Some(Arc::new(db))
    });
    fonts.clone().context(
        "no sans-serif font found for the PNG plots; install one (Debian: fonts-dejavu-core)",
    )
}

/// DejaVu Sans when installed, else the first family whose name says sans.
fn sans_family(db: &resvg::usvg::fontdb::Database) -> Option<String> {
    let families: Vec<&str> = db
        .faces()
        .flat_map(|face| face.families.iter().map(|(name, _)| name.as_str()))
        .collect();
    families
        .iter()
        .find(|f| **f == "DejaVu Sans")
        .or_else(|| {
            families
                .iter()
                .find(|f| f.contains("Sans") && !f.contains("Mono"))
        })
        .map(|f| f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize, task: &str, reward: f64) -> TaskMetrics {
        TaskMetrics {
            kind: RecordKind::Train,
            step,
            task: task.into(),
            reward,
            ..Default::default()
        }
    }

    #[test]
    fn writes_an_svg_and_a_png_with_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            ("crpg".to_string(), record(1, "math", 0.1)),
            ("crpg".to_string(), record(2, "math", 0.3)),
            ("crpg".to_string(), record(1, "code", 0.5)),
        ];
        let files = plot_all(dir.path(), &records).unwrap();
        let reward = files
            .iter()
            .find(|p| p.ends_with("train_reward.svg"))
            .unwrap();
        let svg = std::fs::read_to_string(reward).unwrap();
        assert!(svg.contains("crpg/math") && svg.contains("crpg/code") && svg.contains("<svg"));
        let png = std::fs::read(reward.with_extension("png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn small_multiples_draw_bands_and_an_outside_legend() {
        let dir = tempfile::tempdir().unwrap();
        let band = |label: &str, shift: f64| BandSeries {
            label: label.into(),
            points: (0..3)
                .map(|i| BandPoint {
                    x: 4.0 * i as f64,
                    mean: 0.3 + shift + 0.1 * i as f64,
                    low: 0.25 + shift,
                    high: 0.45 + shift + 0.1 * i as f64,
                })
                .collect(),
        };
        let panels = ["math", "code"].map(|t| Panel {
            title: t.into(),
            series: vec![band("crpg", 0.0), band("reward_pg", -0.2)],
        });
        let path = dir.path().join("pass.svg");
        small_multiples(
            &path,
            "held-out pass",
            "pass rate",
            Some((0.0, 1.0)),
            &panels,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for text in ["math", "code", "crpg", "reward_pg", "<polygon"] {
            assert!(svg.contains(text), "no {text}");
        }
        // the legend lies right of both panels
        let at = svg.find(">\nreward_pg\n<").unwrap();
        let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
        let x: f64 = tag
            .split("x=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(x > 2.0 * 330.0, "legend at x = {x}");
        let png = image_size(&std::fs::read(path.with_extension("png")).unwrap());
        assert_eq!(png, (2 * 330 + LEGEND_WIDTH, 380));
    }

    /// Width and height from a PNG's IHDR chunk.
    fn image_size(png: &[u8]) -> (u32, u32) {
        let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    }
}
