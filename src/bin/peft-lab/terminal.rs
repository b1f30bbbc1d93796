//! The terminal: a progress bar per method on stderr (plain lines where stderr is not a terminal, e.g. a log),
//! the data summary and the results table.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use peft_lab::data::Summary;
use peft_lab::session::report::{AT_CHANCE, NOT_DISTINGUISHABLE, Part, Report, interval, percent};
use peft_lab::session::{ComparisonHost, MethodRuns};
use peft_lab::train::{CheckpointStore, Host, PreparedData, TrainEvent};

use crate::checkpoints::FolderStore;

/// Progress on stderr; peak memory from the kernel's high-water mark (reset through clear_refs) on the CPU,
/// from the allocator's reserved bytes on wgpu.
pub struct Terminal {
    start: Instant,
    /// The bar of the run in progress, named after it.
    bar: Option<ProgressBar>,
    /// Where runs are checkpointed (`--checkpoint-dir`).
    checkpoints: Option<FolderStore>,
}

impl Terminal {
    pub fn new() -> Self {
        Self { start: Instant::now(), bar: None, checkpoints: None }
    }

    pub fn keep_checkpoints(&mut self, store: FolderStore) {
        self.checkpoints = Some(store);
    }

    /// A line beside the bar, or alone where there is none.
    fn line(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

/// The comparison's units need no more than their runs' bars and lines.
impl ComparisonHost for Terminal {}

impl Host for Terminal {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn event(&mut self, method: &str, event: &TrainEvent) -> ControlFlow<()> {
        match event {
            TrainEvent::Started { seed, learning_rate, total_steps } => {
                let bar = ProgressBar::new(*total_steps as u64).with_prefix(method.to_string());
                let style = ProgressStyle::with_template("{prefix:<24} [{bar:30}] {pos}/{len} {msg} eta {eta}")
                    .expect("the template is valid")
                    .progress_chars("#>.");
                bar.set_style(style);
                if bar.is_hidden() {
                    eprintln!("{method}: seed {seed}, learning rate {learning_rate:.2e}, {total_steps} steps");
                }
                self.bar = Some(bar);
            }
            TrainEvent::Step { step, total_steps, loss, seconds, .. } => {
                let Some(bar) = &self.bar else { return ControlFlow::Continue(()) };
                bar.set_position(*step as u64);
                bar.set_message(format!("loss {loss:.4} {seconds:.2}s/step"));
                // Not a terminal: a line every tenth of the run instead of a bar.
                if bar.is_hidden() && (step % (total_steps / 10).max(1) == 0 || step == total_steps) {
                    eprintln!("{method:<18} step {step}/{total_steps} loss {loss:.4} {seconds:.2}s/step");
                }
                if step == total_steps {
                    bar.finish();
                }
            }
            TrainEvent::Resumed { step, total_steps, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*step as u64);
                }
                self.line(format!("{method:<18} resumed from its checkpoint at step {step} of {total_steps}"));
            }
            TrainEvent::Evaluated { epoch, metrics, .. } => self.line(format!(
                "{method:<18} epoch {epoch}: val loss {:.4} accuracy {:.2}% macro-F1 {:.4}",
                metrics.loss,
                metrics.accuracy * 100.0,
                metrics.macro_f1
            )),
            TrainEvent::LmEvaluated { epoch, metrics, samples, .. } => {
                let when = if *epoch == 0 { "before training".to_string() } else { format!("epoch {epoch}") };
                self.line(format!(
                    "{method:<18} {when}: val loss {:.4} perplexity {:.2} ({} tokens)",
                    metrics.loss, metrics.perplexity, metrics.tokens
                ));
                for sample in samples {
                    let one_line = |text: &str| text.replace('\n', "⏎");
                    self.line(format!(
                        "{:<18}   {} → {}",
                        "",
                        one_line(&sample.prompt),
                        one_line(&sample.continuation)
                    ));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn checkpoints(&mut self) -> Option<&mut dyn CheckpointStore> {
        self.checkpoints.as_mut().map(|store| store as &mut dyn CheckpointStore)
    }

    fn reset_peak_memory(&mut self) {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }

    fn peak_memory(&mut self, device: &Device) -> Option<u64> {
        if let Some(usage) = device.memory_pool_usage() {
            return Some(usage.bytes_reserved);
        }
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

pub fn print_summary(summary: &Summary, data: &PreparedData) {
    let classes: Vec<String> = summary.classes.iter().map(|(l, n)| format!("{l}: {n}")).collect();
    eprintln!(
        "data: {} rows ({} train, {} validation, {} test), classes {{{}}}, tokens p50 {} p90 {} p99 {} max {}, {} truncated to {}{}",
        summary.rows,
        data.train.len(),
        data.val.len(),
        data.test.len(),
        classes.join(", "),
        summary.token_length_p50,
        summary.token_length_p90,
        summary.token_length_p99,
        summary.token_length_max,
        summary.truncated,
        summary.max_length,
        if summary.skipped_rows > 0 { format!(", {} bad rows skipped", summary.skipped_rows) } else { String::new() }
    );
    if !summary.column_reasons.is_empty() {
        eprintln!("columns: {}", summary.column_reasons.join("; "));
    }
    if let Some(quoted) = summary.quoted_lines {
        eprintln!("warning: {quoted}");
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0))
}

/// The comparison's table on stdout: per method the learning rate (* where searched), size and speed, then accuracy
/// (mean ± std over the runs that learnt), its 95 % interval, macro-F1 and the mark; then what the marks mean, the
/// runs at chance and the failures.
pub fn print_report(report: &Report, runs: &[MethodRuns]) {
    let part = report.part.name();
    println!(
        "{:<18} {:>9} {:>10} {:>13} {:>7} {:>9} {:>5} {:>16} {:>16} {:>13}  vs best",
        "method",
        "lr",
        "trainable",
        "adapter bytes",
        "s/step",
        "peak mem",
        "runs",
        format!("{part} accuracy %"),
        "95 % interval",
        "macro-F1",
    );
    for (m, r) in report.methods.iter().zip(runs) {
        let learnt = m.accuracy.map_or(0, |a| a.n);
        let mut runs_cell = format!("{learnt}/{}", r.runs.len());
        if !m.at_chance.is_empty() {
            runs_cell.push('c');
        }
        let f1 = match &m.macro_f1 {
            Some(s) if s.n > 1 => format!("{:.4}±{:.3}", s.mean, s.std),
            Some(s) => format!("{:.4}", s.mean),
            None => "n/a".into(),
        };
        println!(
            "{:<18} {:>9} {:>10} {:>13} {:>7} {:>9} {:>5} {:>16} {:>16} {:>13}  {}",
            m.method,
            format!("{:.1e}{}", m.learning_rate, if m.searched { "*" } else { "" }),
            m.trainable_params.map_or("n/a".into(), |p| p.to_string()),
            m.adapter_bytes.map_or("n/a".into(), |b| b.to_string()),
            m.seconds_per_step.map_or("n/a".into(), |s| format!("{s:.3}")),
            mib(m.peak_memory_bytes),
            runs_cell,
            percent(m.accuracy.as_ref()),
            interval(m.accuracy.as_ref()),
            f1,
            m.verdict.mark()
        );
    }
    println!();
    if report.part == Part::Validation {
        println!("No test part: these are validation figures, the same data the learning rates were chosen on.");
    }
    println!("runs: those that learnt / all. {NOT_DISTINGUISHABLE}");
    println!(
        "-x [a, b]: the best is x points better; [a, b] is the 95 % interval of that gap. ?: fewer than two paired runs."
    );
    if report.methods.iter().any(|m| m.searched) {
        println!("*: learning rate chosen by the search on validation.");
    }
    if report.methods.iter().any(|m| !m.at_chance.is_empty()) {
        println!("c: a run {AT_CHANCE}");
    }
    for m in &report.methods {
        for c in &m.at_chance {
            println!(
                "{}: seed {} stayed at chance ({:.2} % accuracy, most frequent class {:.2} %)",
                m.method,
                c.seed,
                100.0 * c.accuracy,
                100.0 * c.majority_share
            );
        }
        for (seed, error) in &m.failed {
            match seed {
                Some(seed) => println!("{}: seed {seed} failed: {error}", m.method),
                None => println!("{}: {error}", m.method),
            }
        }
    }
}
