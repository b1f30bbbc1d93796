//! The terminal: a progress bar per method on stderr (plain lines where stderr is not a terminal, e.g. a log),
//! the data summary and the results table.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use peft_lab::data::Summary;
use peft_lab::method::MethodConfig;
use peft_lab::train::{Host, MethodResult, PreparedData, TrainEvent};

/// Progress on stderr; peak memory from the kernel's high-water mark (reset through clear_refs) on the CPU,
/// from the allocator's reserved bytes on wgpu.
pub struct Terminal {
    start: Instant,
    /// The method whose steps the bar shows, and the bar.
    bar: Option<(String, ProgressBar)>,
}

impl Terminal {
    pub fn new() -> Self {
        Self { start: Instant::now(), bar: None }
    }

    /// The bar of `method`, a new one when the method changes.
    fn bar(&mut self, method: &str, total_steps: usize) -> &ProgressBar {
        if self.bar.as_ref().is_none_or(|(m, _)| m != method) {
            let bar = ProgressBar::new(total_steps as u64).with_prefix(method.to_string());
            let style = ProgressStyle::with_template("{prefix:<18} [{bar:30}] {pos}/{len} {msg} eta {eta}")
                .expect("the template is valid")
                .progress_chars("#>.");
            bar.set_style(style);
            self.bar = Some((method.to_string(), bar));
        }
        &self.bar.as_ref().expect("just set").1
    }
}

impl Host for Terminal {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn event(&mut self, method: &str, event: &TrainEvent) -> ControlFlow<()> {
        match event {
            TrainEvent::Step { step, total_steps, loss, seconds, .. } => {
                let bar = self.bar(method, *total_steps);
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
            TrainEvent::Evaluated { epoch, metrics, .. } => {
                let line = format!(
                    "{method:<18} epoch {epoch}: val loss {:.4} accuracy {:.2}% macro-F1 {:.4}",
                    metrics.loss,
                    metrics.accuracy * 100.0,
                    metrics.macro_f1
                );
                match &self.bar {
                    Some((_, bar)) => bar.suspend(|| eprintln!("{line}")),
                    None => eprintln!("{line}"),
                }
            }
        }
        ControlFlow::Continue(())
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
        "data: {} rows ({} train, {} validation), classes {{{}}}, tokens p50 {} p90 {} p99 {} max {}, {} truncated to {}{}",
        summary.rows,
        data.train.len(),
        data.val.len(),
        classes.join(", "),
        summary.token_length_p50,
        summary.token_length_p90,
        summary.token_length_p99,
        summary.token_length_max,
        summary.truncated,
        summary.max_length,
        if summary.skipped_rows > 0 { format!(", {} bad rows skipped", summary.skipped_rows) } else { String::new() }
    );
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0))
}

pub fn print_table(rows: &[(MethodConfig, Result<MethodResult, String>)]) {
    println!(
        "{:<18} {:>12} {:>9} {:>13} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "method", "trainable", "% model", "adapter bytes", "s/step", "peak mem", "val loss", "accuracy", "macro-F1"
    );
    for (method, row) in rows {
        match row {
            Ok(r) => {
                let f = |v: Option<f64>, scale: f64, digits: usize| {
                    v.map_or("n/a".into(), |v| format!("{:.*}", digits, v * scale))
                };
                println!(
                    "{:<18} {:>12} {:>9.3} {:>13} {:>9.3} {:>10} {:>9} {:>9} {:>9}",
                    r.method,
                    r.trainable_params,
                    r.trainable_percent,
                    r.adapter_bytes,
                    r.seconds_per_step,
                    mib(r.peak_memory_bytes),
                    f(r.val_loss, 1.0, 4),
                    f(r.accuracy, 100.0, 2),
                    f(r.macro_f1, 1.0, 4)
                );
            }
            Err(e) => println!("{:<18} failed: {e}", method.label()),
        }
    }
}
