//! Progress bars with the key figures of every step (indicatif; plain lines when not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

use crate::metrics::{RecordKind, TaskMetrics};

pub fn bar(len: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// One line of figures per step: per task reward, MoJ pass rate, KL, loss.
pub fn summary(records: &[TaskMetrics]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "{}{} r={:.3} pass={:.2} kl={:.2}{}",
                if r.kind == RecordKind::Eval {
                    "eval:"
                } else {
                    ""
                },
                r.task,
                r.reward,
                r.moj_pass_rate,
                r.kl,
                r.loss.map(|l| format!(" loss={l:.3}")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

pub fn report_step(bar: &ProgressBar, step: usize, records: &[TaskMetrics]) {
    let line = summary(records);
    bar.set_position(step as u64);
    if bar.is_hidden() {
        eprintln!("{} step {step}: {line}", bar.prefix());
    } else {
        bar.set_message(line);
    }
}

/// Moves a bar and shows a message (or prints every tenth tick when not a terminal).
pub fn tick(bar: &ProgressBar, position: usize, message: &str) {
    bar.set_position(position as u64);
    if bar.is_hidden() {
        if position.is_multiple_of(10) {
            eprintln!("{} {position}: {message}", bar.prefix());
        }
    } else {
        bar.set_message(message.to_string());
    }
}
