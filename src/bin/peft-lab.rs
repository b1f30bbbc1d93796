//! `peft-lab`: train one method or compare several on a dataset, from the command line.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};

use peft_lab::data::batch::tokenize;
use peft_lab::data::{DataError, Dataset, Example, Remedy, Summary};
use peft_lab::method::{MethodConfig, catalog};
use peft_lab::model::Pretrained;
use peft_lab::session::timing::time_steps_counting_launches;
use peft_lab::session::{self, run_method};
use peft_lab::session::{OpenedRun, TrainedMethod, Validation, check_methods, compare, open_files, open_link, predict};
use peft_lab::share::link::{
    CHAT_LIMIT_CHARS, FRAGMENT_KEY, LinkMeta, ModelIdentity, Precision, make_checked, payload_of, sha256_hex,
};
use peft_lab::share::merged::export_merged;
use peft_lab::share::peft;
use peft_lab::share::python::{DataSettings, HandoverConfig};
use peft_lab::train::{Host, MethodResult, PreparedData, TrainConfig, TrainEvent, evaluate};

#[derive(Parser)]
#[command(
    name = "peft-lab",
    version,
    about = "Fine-tune small transformers with parameter-efficient methods and compare them"
)]
struct Cli {
    /// CPU threads for training and inference (default: every core).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one method and report its validation metrics.
    Train {
        #[command(flatten)]
        common: Common,
        /// A method key: lora, dora, prefix, ptuning-v2, ptuning-mlp, ptuning-lstm, prompt, houlsby, pfeiffer,
        /// ia3, bitfit, head, full.
        #[arg(long)]
        method: String,
        /// Write the trained adapter here (adapter_config.json + adapter_model.safetensors + peft_lab.json).
        #[arg(long)]
        save_adapter: Option<PathBuf>,
        #[command(flatten)]
        share: ShareArgs,
        /// Write train_peft.py + peft_lab_run.json here: the same run with transformers + peft, for
        /// `accelerate launch` on one GPU or many.
        #[arg(long)]
        continue_in_python: Option<PathBuf>,
        /// The base model as the Python script should load it (a Hub id or folder); default: --model.
        #[arg(long)]
        python_model: Option<String>,
    },
    /// Train several methods on the same split, seed and budget, and print a table.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Comma-separated method keys, or `all`.
        #[arg(long, default_value = "lora,prefix,head,full")]
        methods: String,
    },
    /// Load a saved adapter (ours, or a folder saved by Python's peft) onto its base model, then classify
    /// texts or evaluate a labelled file.
    Eval {
        /// The base model's directory (config.json, model.safetensors, tokenizer.json).
        #[arg(long)]
        model: PathBuf,
        /// A folder with adapter_config.json and adapter_model.safetensors (and peft_lab.json when we wrote it).
        #[arg(long, required_unless_present = "link", conflicts_with = "link")]
        adapter: Option<PathBuf>,
        /// A share link: the URL itself, or a file holding it.
        #[arg(long)]
        link: Option<String>,
        /// A text to classify; repeatable.
        #[arg(long = "text")]
        texts: Vec<String>,
        /// A labelled file (CSV, TSV, JSONL, JSON) to measure loss, accuracy and macro-F1 on; its labels must be
        /// the adapter's.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Tokens per text; by default the link's training max length, or for adapter files 128 (fewer where the
        /// model's positions and the method's virtual tokens leave less).
        #[arg(long)]
        max_length: Option<usize>,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
    },
    /// Fold a LoRA or DoRA adapter into its base model and write a plain Hugging Face checkpoint
    /// (config.json, model.safetensors, tokenizer.json) that transformers loads without peft.
    Merge {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        adapter: PathBuf,
        /// The output folder (created).
        #[arg(long)]
        out: PathBuf,
    },
    /// List the methods: key, name and what each trains.
    Methods {
        /// Print only the keys, comma-separated (what `--methods all` runs).
        #[arg(long)]
        keys: bool,
    },
    /// Print the dataset summary (rows, classes, token lengths) without training.
    Summary {
        #[command(flatten)]
        common: Common,
    },
    /// Measure training throughput and peak memory of one method on fixed synthetic batches
    /// (scripts/bench.sh runs it beside the PyTorch + peft reference).
    Bench {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        method: String,
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        #[arg(long, default_value_t = 64)]
        seq_len: usize,
        /// Measured steps, after one untimed warm-up step.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
    },
}

#[derive(Args)]
struct ShareArgs {
    /// Write a share link (a URL the playground opens) to this file, after checking on the validation split
    /// what its precision costs.
    #[arg(long)]
    share_link: Option<PathBuf>,
    /// int8 or f16.
    #[arg(long, default_value = "int8")]
    link_precision: Precision,
    /// The playground's address the link starts with.
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    page_url: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// burn's flex CPU backend.
    Cpu,
    /// burn's wgpu backend (Vulkan, Metal, DX12; lavapipe on machines without a GPU).
    Wgpu,
}

#[derive(Args)]
struct Common {
    /// A directory with config.json, model.safetensors and tokenizer.json.
    #[arg(long)]
    model: PathBuf,
    /// CSV, TSV, JSONL or JSON array with a text and a label column.
    #[arg(long)]
    data: PathBuf,
    /// A separate validation file; without it a stratified --val-split of --data is held out.
    #[arg(long)]
    val_data: Option<PathBuf>,
    #[arg(long, default_value_t = 0.2)]
    val_split: f64,
    #[arg(long)]
    text_column: Option<String>,
    #[arg(long)]
    label_column: Option<String>,
    /// Skip unreadable rows and rows with an empty text or label, and report how many.
    #[arg(long)]
    skip_bad_rows: bool,
    /// A method setting as KEY=VALUE, repeatable, applied to every selected method that has it (e.g.
    /// r=16, lora_alpha=32, target_modules=query,key,value, num_virtual_tokens=20, reduction_factor=8,
    /// prompt_tuning_init=TEXT, prompt_tuning_init_text="Is this review positive?").
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long)]
    max_steps: Option<usize>,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    /// Learning rate for every method (default: each method's own).
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f64,
    #[arg(long, default_value_t = 0.06)]
    warmup_ratio: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Print one JSON result on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

impl Common {
    fn train_config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size,
            max_length: self.max_length,
            weight_decay: self.weight_decay,
            warmup_ratio: self.warmup_ratio,
            max_grad_norm: 1.0,
            seed: self.seed,
        }
    }

    /// Methods by key (`all` for the whole catalog), with this command line's settings applied, and each
    /// one's learning rate. `--set KEY=VALUE` applies to every selected method that has KEY;
    /// `--set METHOD.KEY=VALUE` only to that one.
    fn methods(&self, names: &str) -> Result<Vec<(MethodConfig, f64)>, String> {
        let keys: Vec<String> = if names.trim() == "all" {
            catalog().into_iter().map(|e| e.key.to_string()).collect()
        } else {
            names.split(',').map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect()
        };
        let mut methods = keys
            .iter()
            .map(|k| MethodConfig::from_name(k).map(|m| (k.as_str(), m)).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        for setting in &self.settings {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("--set {setting}: expected KEY=VALUE, e.g. --set r=16"))?;
            let (scope, key) = match key.trim().split_once('.') {
                Some((method, key)) => (Some(method), key),
                None => (None, key.trim()),
            };
            if let Some(method) = scope.filter(|m| !keys.iter().any(|k| k == m)) {
                return Err(format!(
                    "--set {setting}: '{method}' is not among the selected methods ({})",
                    keys.join(", ")
                ));
            }
            let mut used = false;
            for (name, method) in &mut methods {
                if scope.is_none_or(|s| s == *name) {
                    used |= method.set(key, value).map_err(|e| e.to_string())?;
                }
            }
            if !used {
                let mut known: Vec<String> = methods.iter().flat_map(|(_, m)| m.setting_names()).collect();
                known.sort();
                known.dedup();
                return Err(format!(
                    "--set {setting}: no selected method has a setting '{key}'; their settings: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(methods
            .into_iter()
            .map(|(_, m)| {
                let lr = self.lr.unwrap_or_else(|| m.default_learning_rate());
                (m, lr)
            })
            .collect())
    }
}

/// Refuses, before any training, the methods whose settings do not fit the model, naming each and why.
fn check(
    pretrained: &Pretrained,
    methods: &[(MethodConfig, f64)],
    data: &PreparedData,
    common: &Common,
) -> Result<(), String> {
    let configs: Vec<MethodConfig> = methods.iter().map(|(m, _)| m.clone()).collect();
    let refused = check_methods(pretrained, &configs, data.labels.len(), common.max_length, &common.backend.device())
        .map_err(|e| e.to_string())?;
    if refused.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = refused.iter().map(|(label, reason)| format!("  {label}: {reason}")).collect();
    Err(format!("these settings do not fit {}:\n{}", pretrained.name, lines.join("\n")))
}

impl Backend {
    fn device(self) -> Device {
        match self {
            Backend::Cpu => peft_lab::device::cpu(),
            Backend::Wgpu => peft_lab::device::wgpu(),
        }
    }
}

/// A dataset error with the flag that fixes it.
fn data_message(error: &DataError) -> String {
    match error.remedy() {
        Some(Remedy::SkipBadRows) => format!("{error} (--skip-bad-rows)"),
        Some(Remedy::NameColumn(what)) => format!("{error} (--{what}-column NAME)"),
        None => error.to_string(),
    }
}

/// Loads the model and data, tokenises once, prints the summary to stderr.
fn prepare(common: &Common) -> Result<(Pretrained, PreparedData, Summary), String> {
    let pretrained =
        Pretrained::from_dir(&common.model).map_err(|e| format!("model {}: {e}", common.model.display()))?;
    let read = |path: &PathBuf| -> Result<Dataset, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        Dataset::from_bytes(
            &name,
            &bytes,
            common.text_column.as_deref(),
            common.label_column.as_deref(),
            common.skip_bad_rows,
        )
        .map_err(|e| format!("{}: {}", path.display(), data_message(&e)))
    };
    let dataset = read(&common.data)?;
    let validation = match &common.val_data {
        Some(path) => Validation::File(read(path)?),
        None => Validation::Split(common.val_split),
    };
    let (data, summary) = session::prepare(&pretrained, &dataset, validation, common.max_length, common.seed)
        .map_err(|e| e.to_string())?;
    Ok((pretrained, data, summary))
}

fn print_summary(summary: &Summary, data: &PreparedData) {
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

/// Progress on stderr; peak memory from the kernel's high-water mark (reset through clear_refs) on the CPU,
/// from the allocator's reserved bytes on wgpu.
struct Terminal {
    start: Instant,
}

impl Host for Terminal {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn event(&mut self, method: &str, event: &TrainEvent) -> ControlFlow<()> {
        match event {
            TrainEvent::Step { step, total_steps, loss, seconds, .. } => {
                let width = 30;
                let filled = width * step / total_steps.max(&1);
                let eta = seconds * (total_steps - step) as f64;
                eprint!(
                    "\r{method:<18} [{}{}] {step}/{total_steps} loss {loss:.4} {seconds:.2}s/step eta {eta:.0}s   ",
                    "#".repeat(filled),
                    ".".repeat(width - filled)
                );
                let _ = std::io::stderr().flush();
            }
            TrainEvent::Evaluated { epoch, metrics, .. } => {
                eprintln!(
                    "\n{method:<18} epoch {epoch}: val loss {:.4} accuracy {:.2}% macro-F1 {:.4}",
                    metrics.loss,
                    metrics.accuracy * 100.0,
                    metrics.macro_f1
                );
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

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0))
}

fn print_table(rows: &[(MethodConfig, Result<MethodResult, String>)]) {
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

/// The benchmark's inputs: `count` examples of exactly `seq_len` tokens ([CLS] ids... [SEP]) with ids from a
/// fixed formula that scripts/bench_reference.py repeats, labels alternating.
fn bench(
    model: &Path,
    method: &str,
    batch_size: usize,
    seq_len: usize,
    steps: usize,
    backend: Backend,
    host: &mut Terminal,
) -> Result<(), String> {
    let pretrained = Pretrained::from_dir(model).map_err(|e| format!("model {}: {e}", model.display()))?;
    let method = MethodConfig::from_name(method).map_err(|e| e.to_string())?;
    let device = backend.device();
    let timing = time_steps_counting_launches(&pretrained, &method, batch_size, seq_len, steps, &device, host);
    let (result, kernel_launches_per_step) = pollster::block_on(timing).map_err(|e| e.to_string())?;
    eprintln!();
    let json = serde_json::json!({
        "implementation": "peft-lab",
        "method": result.method,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "steps": steps,
        "seconds_per_step": result.seconds_per_step,
        "examples_per_second": batch_size as f64 / result.seconds_per_step,
        "first_step_seconds": result.first_step_seconds,
        "peak_memory_bytes": result.peak_memory_bytes,
        "trainable_params": result.trainable_params,
        "kernel_launches_per_step": kernel_launches_per_step,
    });
    println!("{json}");
    Ok(())
}

/// Reads an adapter folder (ours or peft's) and puts it on `pretrained`.
fn load_adapter(pretrained: &Pretrained, adapter: &Path, device: &Device) -> Result<OpenedRun, String> {
    let read = |file: &str| {
        std::fs::read(adapter.join(file)).map_err(|e| format!("cannot read {}: {e}", adapter.join(file).display()))
    };
    let config =
        String::from_utf8(read("adapter_config.json")?).map_err(|_| "adapter_config.json is not UTF-8".to_string())?;
    let weights = read("adapter_model.safetensors")?;
    let run_info = match read("peft_lab.json") {
        Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| "peft_lab.json is not UTF-8".to_string())?),
        Err(_) => None,
    };
    open_files(pretrained, &config, &weights, run_info.as_deref(), device)
        .map_err(|e| format!("adapter {}: {e}", adapter.display()))
}

/// `merge`: LoRA/DoRA folded into the weights, written with the base model's tokenizer.
fn merge(model: &Path, adapter: &Path, out: &Path) -> Result<(), String> {
    let pretrained = Pretrained::from_dir(model).map_err(|e| format!("model {}: {e}", model.display()))?;
    let OpenedRun { model: classifier, info, .. } = load_adapter(&pretrained, adapter, &peft_lab::device::cpu())?;
    let merged = pollster::block_on(export_merged(classifier, &info.labels)).map_err(|e| e.to_string())?;
    let write = |file: &str, bytes: &[u8]| {
        std::fs::write(out.join(file), bytes).map_err(|e| format!("cannot write {}: {e}", out.join(file).display()))
    };
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    write("config.json", merged.config_json.as_bytes())?;
    write("model.safetensors", &merged.weights)?;
    let tokenizer =
        std::fs::read(model.join("tokenizer.json")).map_err(|e| format!("cannot read tokenizer.json: {e}"))?;
    write("tokenizer.json", &tokenizer)?;
    eprintln!("{} merged into {} -> {}", info.method.label(), pretrained.name, out.display());
    Ok(())
}

/// `train --share-link`: the link for the trained model, checked on the validation split, written to `file`.
fn write_link(
    pretrained: &Pretrained,
    trained: &TrainedMethod,
    common: &Common,
    data: &PreparedData,
    share: &ShareArgs,
    file: &Path,
) -> Result<(), String> {
    let precision = share.link_precision;
    let meta = LinkMeta::for_run(
        ModelIdentity { name: pretrained.name.clone(), sha256: sha256_hex(&pretrained.weights) },
        data.labels.clone(),
        &trained.result,
        common.train_config(),
        common.data.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
    );
    let checked = pollster::block_on(make_checked(pretrained, &trained.model, &meta, precision, &data.val))
        .map_err(|e| format!("share link: {e}"))?;
    let url = format!("{}#{FRAGMENT_KEY}{}", share.page_url, checked.payload);
    std::fs::write(file, format!("{url}\n")).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    eprintln!(
        "share link ({precision}) written to {}: {} characters; validation accuracy {} full precision, {} from the link, \
         same prediction on {}",
        file.display(),
        url.len(),
        percent(checked.full_accuracy),
        percent(checked.link_accuracy),
        percent(checked.agreement),
    );
    if url.len() > CHAT_LIMIT_CHARS {
        eprintln!(
            "note: over {CHAT_LIMIT_CHARS} characters, longer than chat tools accept in one message; \
             send the --save-adapter folder instead"
        );
    }
    Ok(())
}

/// A fraction as a percentage with 2 decimals, or "n/a".
fn percent(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{:.2}%", v * 100.0))
}

/// Where `eval` takes the trained model from.
enum Saved {
    Adapter(PathBuf),
    /// A link, or a file holding one.
    Link(String),
}

/// The saved adapter or link on `pretrained`.
fn load_saved(pretrained: &Pretrained, saved: &Saved, device: &Device) -> Result<OpenedRun, String> {
    match saved {
        Saved::Adapter(dir) => load_adapter(pretrained, dir, device),
        Saved::Link(link) => {
            let text = match std::fs::read_to_string(link) {
                Ok(text) => text,
                Err(_) if payload_of(link).is_ok() => link.clone(),
                Err(e) => return Err(format!("--link {link}: not a link, and not a readable file ({e})")),
            };
            let (run, meta, precision) = open_link(pretrained, &sha256_hex(&pretrained.weights), &text, device)
                .map_err(|e| format!("link: {e}"))?;
            eprintln!(
                "link ({precision}, {}): trained on {} for {} steps, recorded validation accuracy {}",
                meta.made_by,
                meta.dataset,
                meta.metrics.steps,
                percent(meta.metrics.accuracy)
            );
            Ok(run)
        }
    }
}

/// `eval`: the adapter on the model, then predictions for `texts` and metrics on `data`.
fn eval(
    model: &Path,
    saved: &Saved,
    texts: &[String],
    data: Option<&Path>,
    max_length: Option<usize>,
    backend: Backend,
) -> Result<(), String> {
    if texts.is_empty() && data.is_none() {
        return Err("eval needs --text or --data".into());
    }
    let pretrained = Pretrained::from_dir(model).map_err(|e| format!("model {}: {e}", model.display()))?;
    let device = backend.device();
    let run = load_saved(&pretrained, saved, &device)?;
    let (classifier, info, max_length) = (run.model, run.info, max_length.unwrap_or(run.max_length));
    eprintln!(
        "{} on {} ({} labels: {})",
        info.method.label(),
        pretrained.name,
        info.labels.len(),
        info.labels.join(", ")
    );
    if !texts.is_empty() {
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let probabilities = pollster::block_on(predict(&classifier, &pretrained.tokenizer, &texts, max_length))
            .map_err(|e| e.to_string())?;
        for (text, p) in texts.iter().zip(probabilities) {
            let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
            let all: Vec<String> = info.labels.iter().zip(&p).map(|(l, p)| format!("{l} {:.3}", p)).collect();
            println!("{}\t{}\t{text}", info.labels[best], all.join(" "));
        }
    }
    if let Some(path) = data {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let dataset =
            Dataset::from_bytes(&name, &bytes, None, None, false).map_err(|e| format!("{}: {e}", path.display()))?;
        let index: Vec<usize> = dataset
            .labels
            .iter()
            .map(|l| {
                info.labels.iter().position(|a| a == l).ok_or_else(|| {
                    format!(
                        "{}: label '{l}' is not one of the adapter's labels ({})",
                        path.display(),
                        info.labels.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let examples: Vec<Example> =
            dataset.examples.iter().map(|e| Example { text: e.text.clone(), label: index[e.label] }).collect();
        let (tokenized, _) = tokenize(&pretrained.tokenizer, &examples, max_length).map_err(|e| e.to_string())?;
        let m = pollster::block_on(evaluate(&classifier, &tokenized, pretrained.tokenizer.pad_id(), 16))
            .map_err(|e| e.to_string())?;
        println!(
            "examples {}  loss {:.4}  accuracy {:.2}%  macro-F1 {:.4}",
            m.examples,
            m.loss,
            m.accuracy * 100.0,
            m.macro_f1
        );
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    let mut host = Terminal { start: Instant::now() };
    match cli.command {
        Command::Bench { model, method, batch_size, seq_len, steps, backend } => {
            bench(&model, &method, batch_size, seq_len, steps, backend, &mut host)?
        }
        Command::Eval { model, adapter, link, texts, data, max_length, backend } => {
            let source = match (adapter, link) {
                (Some(dir), _) => Saved::Adapter(dir),
                (None, Some(link)) => Saved::Link(link),
                (None, None) => return Err("eval needs --adapter or --link".into()),
            };
            eval(&model, &source, &texts, data.as_deref(), max_length, backend)?
        }
        Command::Merge { model, adapter, out } => merge(&model, &adapter, &out)?,
        Command::Methods { keys } => {
            let entries = catalog();
            if keys {
                println!("{}", entries.iter().map(|e| e.key).collect::<Vec<_>>().join(","));
            } else {
                for e in entries {
                    println!("{:<13} {:<18} {}", e.key, e.title, e.description);
                }
            }
        }
        Command::Summary { common } => {
            let (_, data, summary) = prepare(&common)?;
            print_summary(&summary, &data);
            if common.json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("plain data serialises"));
            }
        }
        Command::Train { common, method, save_adapter, share, continue_in_python, python_model } => {
            let methods = common.methods(&method)?;
            let [(method, lr)] = <[_; 1]>::try_from(methods)
                .map_err(|_| format!("--method {method}: train takes one method; use compare for several"))?;
            let (pretrained, data, summary) = prepare(&common)?;
            check(&pretrained, &[(method.clone(), lr)], &data, &common)?;
            print_summary(&summary, &data);
            let device = common.backend.device();
            let trained = pollster::block_on(run_method(
                &pretrained,
                &method,
                lr,
                &data,
                &common.train_config(),
                &device,
                &mut host,
            ))
            .map_err(|e| format!("{}: {e}", method.label()))?;
            if let Some(dir) = save_adapter {
                peft::write_dir(&trained.adapter, &dir).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
                eprintln!("adapter saved to {}", dir.display());
            }
            if let Some(file) = &share.share_link {
                write_link(&pretrained, &trained, &common, &data, &share, file)?;
            }
            if let Some(dir) = &continue_in_python {
                let handover = HandoverConfig::new(
                    python_model.unwrap_or_else(|| common.model.display().to_string()),
                    &trained.adapter.config_json,
                    &trained.adapter.run_info_json,
                    DataSettings {
                        file: common.data.display().to_string(),
                        text_column: summary.columns.text.clone(),
                        label_column: summary.columns.label.clone(),
                        val_fraction: common.val_split,
                    },
                    &common.train_config(),
                    lr,
                )
                .map_err(|e| format!("the Python hand-over: {e}"))?;
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                for (name, contents) in handover.files() {
                    std::fs::write(dir.join(name), contents)
                        .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))?;
                }
                eprintln!(
                    "Python hand-over written to {} (accelerate launch {}/train_peft.py)",
                    dir.display(),
                    dir.display()
                );
            }
            let result = trained.result;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&result).expect("plain data serialises"));
            } else {
                print_table(&[(method, Ok(result))]);
            }
        }
        Command::Compare { common, methods } => {
            let methods = common.methods(&methods)?;
            let (pretrained, data, summary) = prepare(&common)?;
            check(&pretrained, &methods, &data, &common)?;
            print_summary(&summary, &data);
            let device = common.backend.device();
            let rows =
                pollster::block_on(compare(&pretrained, &methods, &data, &common.train_config(), &device, &mut host));
            let rows: Vec<(MethodConfig, Result<MethodResult, String>)> =
                rows.into_iter().map(|(m, r)| (m, r.map_err(|e| e.to_string()))).collect();
            if common.json {
                let json: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(m, r)| match r {
                        Ok(r) => serde_json::to_value(r).expect("plain data serialises"),
                        Err(e) => serde_json::json!({ "method": m.label(), "error": e }),
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json).expect("plain data serialises"));
            } else {
                print_table(&rows);
            }
            if rows.iter().all(|(_, r)| r.is_err()) {
                return Err("every method failed".into());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(threads) = cli.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(threads.into()).build_global()
    {
        eprintln!("error: cannot start {threads} CPU threads: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nerror: {message}");
            ExitCode::FAILURE
        }
    }
}
