//! One function per subcommand, each a few calls into the engine's session layer; the terminal prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burn::tensor::Device;

use peft_lab::data::batch::tokenize;
use peft_lab::data::generation::{self, GenerationData, TextLayout};
use peft_lab::data::{DataError, Dataset, Example, Remedy, Summary};
use peft_lab::method::{MethodConfig, SidePaths, catalog};
use peft_lab::model::Pretrained;
use peft_lab::model::decoder::{CausalLm, PretrainedDecoder};
use peft_lab::model::generate::{Finish, GenerationSettings};
use peft_lab::session::open::{open_decoder_files, open_decoder_link};
use peft_lab::session::report::Report;
use peft_lab::session::results::{ComparisonInfo, iso_utc, results_csv, results_json};
use peft_lab::session::timing::{time_lm_steps, time_steps_counting_launches};
use peft_lab::session::{
    self, HeldOut, MethodRuns, OpenedRun, PlannedMethod, RunRecord, SeedRun, TrainedMethod, check_methods, open_files,
    open_link, predict,
};
use peft_lab::share::link::{CHAT_LIMIT_CHARS, CheckedLink, FRAGMENT_KEY, payload_of, sha256_hex};
use peft_lab::share::merged::{export_merged, export_merged_decoder};
use peft_lab::share::peft;
use peft_lab::share::python::{DataSettings, HandoverConfig};
use peft_lab::train::{PreparedData, TrainConfig, evaluate};

use crate::args::{Backend, Common, PlanArgs, ShareArgs};
use crate::checkpoints::FolderStore;
use crate::terminal::{Terminal, print_report, print_summary};

/// `methods`: the catalog, or its keys alone.
pub fn methods(keys: bool) {
    let entries = catalog();
    if keys {
        println!("{}", entries.iter().map(|e| e.key).collect::<Vec<_>>().join(","));
    } else {
        for e in entries {
            println!("{:<13} {:<18} {}", e.key, e.title, e.description);
        }
    }
}

/// `summary`: the dataset as the model's tokenizer sees it.
pub fn summary(common: &Common) -> Result<(), String> {
    let (_, data, summary) = prepare(common)?;
    print_summary(&summary, &data);
    if common.json {
        println!("{}", serde_json::to_string_pretty(&summary).expect("plain data serialises"));
    }
    Ok(())
}

/// What `train` writes besides its table.
pub struct TrainOutputs {
    pub save_adapter: Option<PathBuf>,
    pub share: ShareArgs,
    pub continue_in_python: Option<PathBuf>,
    pub python_model: Option<String>,
}

/// `train`: one method, then its adapter folder, share link and Python hand-over as asked.
pub fn train(common: &Common, method: &str, outputs: TrainOutputs, host: &mut Terminal) -> Result<(), String> {
    let methods = common.methods(method)?;
    let [(method, lr)] = <[_; 1]>::try_from(methods)
        .map_err(|_| format!("--method {method}: train takes one method; use compare for several"))?;
    PlannedMethod { config: method.clone(), learning_rate: lr, search: false }.check()?;
    let config = common.train_config();
    config.check()?;
    let (pretrained, data, summary) = prepare(common)?;
    check(&pretrained, &[(method.clone(), lr)], &data, common)?;
    open_checkpoints(common, &pretrained.name, &pretrained.weights, host)?;
    print_summary(&summary, &data);
    let device = common.backend.device();
    let trained = pollster::block_on(session::run_method(&pretrained, &method, lr, &data, &config, &device, host))
        .map_err(|e| format!("{}: {e}", method.label()))?;
    if let Some(dir) = &outputs.save_adapter {
        peft::write_dir(&trained.adapter, dir).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        eprintln!("adapter saved to {}", dir.display());
    }
    if let Some(file) = &outputs.share.share_link {
        write_link(&pretrained, &trained, common, &data, &outputs.share, file)?;
    }
    if let Some(dir) = &outputs.continue_in_python {
        let handover = HandoverConfig::new(
            outputs.python_model.clone().unwrap_or_else(|| common.model.display().to_string()),
            &trained.adapter.config_json,
            &trained.adapter.run_info_json,
            DataSettings {
                file: common.data.display().to_string(),
                text_column: summary.columns.text.clone(),
                label_column: summary.columns.label.clone(),
                val_fraction: common.val_split,
            },
            &config,
            lr,
        )
        .map_err(|e| format!("the Python hand-over: {e}"))?;
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (name, contents) in handover.files() {
            std::fs::write(dir.join(name), contents)
                .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))?;
        }
        eprintln!("Python hand-over written to {} (accelerate launch {}/train_peft.py)", dir.display(), dir.display());
    }
    let result = trained.result;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&result).expect("plain data serialises"));
    } else {
        let runs = [MethodRuns {
            method,
            learning_rate: lr,
            search: None,
            runs: vec![SeedRun { seed: config.seed, result: Ok(result) }],
        }];
        print_report(&Report::new(&runs), &runs);
    }
    Ok(())
}

/// `train` on a decoder: one method fine-tunes it as a language model (documents, completions or conversations), with
/// the base model's held-out perplexity first and perplexity and samples after each epoch; then its adapter folder.
pub fn train_lm(
    common: &Common,
    method: &str,
    layout: Option<TextLayout>,
    outputs: TrainOutputs,
    host: &mut Terminal,
) -> Result<(), String> {
    let model = common.model.display();
    for (flag, given) in [
        ("--continue-in-python", outputs.continue_in_python.is_some()),
        ("--test-data", common.test_data.is_some()),
        ("--test-split", common.test_split.is_some()),
        ("--text-column", common.text_column.is_some()),
        ("--label-column", common.label_column.is_some()),
    ] {
        if given {
            return Err(format!("{flag} is for classifiers; {model} is a decoder, trained as a language model"));
        }
    }
    let [(method, lr)] = <[_; 1]>::try_from(common.methods(method)?)
        .map_err(|_| format!("--method {method}: train takes one method; use compare for several"))?;
    let config = common.train_config();
    config.check()?;
    let pretrained = PretrainedDecoder::from_path(&common.model).map_err(|e| format!("model {model}: {e}"))?;
    open_checkpoints(common, &pretrained.name, pretrained.weights(), host)?;
    let read = |path: &Path| -> Result<GenerationData, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        generation::read(&name, &bytes, layout, common.skip_bad_rows).map_err(|e| format!("{}: {e}", path.display()))
    };
    let data = read(&common.data)?;
    let val = common.val_data.as_deref().map(read).transpose()?;
    let prepared =
        session::lm::prepare_lm(&pretrained, &data, val.as_ref(), common.val_split, common.seed, config.max_length)
            .map_err(|e| format!("{}: {e}", common.data.display()))?;
    let t = &prepared.tokenizing;
    eprintln!(
        "{} training and {} held-out examples: {} tokens, {} learned; {} cut to {} tokens, {} with nothing left to learn",
        prepared.train.len(),
        prepared.val.len(),
        t.tokens,
        t.learned_tokens,
        t.truncated,
        config.max_length,
        t.dropped
    );
    for (line, why) in data.skipped.iter().chain(val.iter().flat_map(|v| &v.skipped)) {
        eprintln!("skipped record {line}: {why}");
    }
    let device = common.backend.device();
    let trained =
        pollster::block_on(session::lm::train_lm(&pretrained, &method, lr, &prepared, &config, &device, host))
            .map_err(|e| format!("{}: {e}", method.label()))?;
    if let Some(dir) = &outputs.save_adapter {
        peft::write_dir(&trained.adapter, dir).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        eprintln!("adapter saved to {}", dir.display());
    }
    if let Some(file) = &outputs.share.share_link {
        let sha = sha256_hex(pretrained.weights());
        let dataset = file_name(&common.data);
        let precision = outputs.share.link_precision;
        let link = session::make_lm_link(&pretrained, sha, &trained, &prepared, config.clone(), dataset, precision);
        let checked = pollster::block_on(link).map_err(|e| format!("share link: {e}"))?;
        let check = format!(
            "held-out perplexity {} full precision, {} from the link",
            perplexity(checked.full_perplexity),
            perplexity(checked.link_perplexity)
        );
        write_link_file(file, &outputs.share, &checked, &check)?;
    }
    let result = trained.result;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&result).expect("plain data serialises"));
        return Ok(());
    }
    let evaluated =
        |e: Option<&session::lm::LmEvaluation>| e.map_or("-".into(), |e| format!("{:.2}", e.metrics.perplexity));
    println!(
        "{}: {} of {} parameters train ({:.3} %), {} steps at {:.2} s/step; held-out perplexity {} before, {} after",
        result.method,
        result.trainable_params,
        result.total_params,
        100.0 * result.trainable_params as f64 / result.total_params.max(1) as f64,
        result.steps,
        result.seconds_per_step,
        evaluated(result.base.as_ref()),
        evaluated(result.evaluations.last().map(|(_, e)| e)),
    );
    Ok(())
}

/// `compare`: every method once per seed (after its learning-rate search where asked) on the same splits and budget,
/// then the table of means, intervals and marks, and the result files.
pub fn compare(common: &Common, methods: &str, outputs: &PlanArgs, host: &mut Terminal) -> Result<(), String> {
    let plan = outputs.plan(common, common.methods(methods)?)?;
    let (pretrained, data, summary) = prepare(common)?;
    let selected: Vec<(MethodConfig, f64)> = plan.methods.iter().map(|m| (m.config.clone(), m.learning_rate)).collect();
    check(&pretrained, &selected, &data, common)?;
    open_checkpoints(common, &pretrained.name, &pretrained.weights, host)?;
    print_summary(&summary, &data);
    let full = plan.config.total_steps(data.train.len());
    let searches = plan.methods.iter().filter(|m| m.search).count();
    eprintln!(
        "plan: {} method(s) x {} seed(s) of {full} steps{}; {} steps in all",
        plan.methods.len(),
        plan.seeds.len(),
        if searches > 0 {
            format!(", {searches} learning-rate search(es) of {} steps", plan.search.steps(full))
        } else {
            String::new()
        },
        plan.total_steps(data.train.len())
    );
    let device = common.backend.device();
    let (created_at, started) = (iso_utc(unix_seconds()), Instant::now());
    let runs = pollster::block_on(session::compare(&pretrained, &plan, &data, &device, host));
    let report = Report::new(&runs);
    let info = ComparisonInfo {
        model: pretrained.name.clone(),
        dataset: common.data.display().to_string(),
        created_at,
        total_seconds: started.elapsed().as_secs_f64(),
        backend: common.backend.describe(),
        train_examples: data.train.len(),
        validation_examples: data.val.len(),
        test_examples: data.test.len(),
    };
    let json = results_json(&info, &plan, &runs, &report);
    let write = |path: &Path, contents: &str| {
        std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &outputs.out {
        write(path, &serde_json::to_string_pretty(&json).expect("JSON values serialise"))?;
        eprintln!("results written to {}", path.display());
    }
    if let Some(path) = &outputs.out_csv {
        write(path, &results_csv(&runs, &report))?;
        eprintln!("results written to {}", path.display());
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&json).expect("JSON values serialise"));
    } else {
        print_report(&report, &runs);
    }
    if report.methods.iter().all(|m| m.accuracy.is_none() && m.at_chance.is_empty()) {
        return Err("every method failed".into());
    }
    Ok(())
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

/// With `--checkpoint-dir`, runs are checkpointed there (and resumed from there with `--resume`) for this model.
fn open_checkpoints(common: &Common, name: &str, weights: &[u8], host: &mut Terminal) -> Result<(), String> {
    if let Some(dir) = &common.checkpoint_dir {
        let model = format!("{name} (weights sha256 {})", sha256_hex(weights));
        host.keep_checkpoints(FolderStore::open(dir, common.checkpoint_every, common.resume, &model)?);
    }
    Ok(())
}

fn unix_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
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
        Some(path) => HeldOut::File(read(path)?),
        None => HeldOut::Split(common.val_split),
    };
    let test = match (&common.test_data, common.test_split) {
        (Some(path), _) => Some(HeldOut::File(read(path)?)),
        (None, Some(fraction)) => Some(HeldOut::Split(fraction)),
        (None, None) => None,
    };
    let (data, summary) = session::prepare(&pretrained, &dataset, validation, test, common.max_length, common.seed)
        .map_err(|e| {
            let fix = if matches!(e, session::Error::Data(DataError::HeldOutFractions { .. })) {
                " (--val-split, --test-split)"
            } else {
                ""
            };
            format!("{e}{fix}")
        })?;
    Ok((pretrained, data, summary))
}

/// The benchmark's inputs: `count` examples of exactly `seq_len` tokens ([CLS] ids... [SEP]) with ids from a
/// fixed formula that scripts/bench_reference.py repeats, labels alternating.
pub fn bench(
    model: &Path,
    method: &str,
    batch_size: usize,
    seq_len: usize,
    steps: usize,
    backend: Backend,
    host: &mut Terminal,
) -> Result<(), String> {
    let method = MethodConfig::from_name(method).map_err(|e| e.to_string())?;
    TrainConfig { batch_size, max_steps: Some(steps), max_length: seq_len, ..Default::default() }.check()?;
    let device = backend.device();
    let (label, seconds_per_step, first_step_seconds, peak_memory_bytes, trainable_params, kernel_launches_per_step) =
        if PretrainedDecoder::is_decoder_path(model) {
            let pretrained =
                PretrainedDecoder::from_path(model).map_err(|e| format!("model {}: {e}", model.display()))?;
            let timing = time_lm_steps(&pretrained, &method, batch_size, seq_len, steps, &device, host);
            let r = pollster::block_on(timing).map_err(|e| e.to_string())?;
            (r.method, r.seconds_per_step, r.first_step_seconds, r.peak_memory_bytes, r.trainable_params, None)
        } else {
            let pretrained = Pretrained::from_dir(model).map_err(|e| format!("model {}: {e}", model.display()))?;
            pretrained.check_max_length(seq_len, method.virtual_tokens())?;
            let timing = time_steps_counting_launches(&pretrained, &method, batch_size, seq_len, steps, &device, host);
            let (r, launches) = pollster::block_on(timing).map_err(|e| e.to_string())?;
            (
                r.method,
                r.seconds_per_step,
                r.first_step_seconds,
                r.peak_memory_bytes,
                r.trainable_params,
                Some(launches),
            )
        };
    let json = serde_json::json!({
        "implementation": "peft-lab",
        "method": label,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "steps": steps,
        "seconds_per_step": seconds_per_step,
        "examples_per_second": batch_size as f64 / seconds_per_step,
        "first_step_seconds": first_step_seconds,
        "peak_memory_bytes": peak_memory_bytes,
        "trainable_params": trainable_params,
        "kernel_launches_per_step": kernel_launches_per_step,
    });
    println!("{json}");
    Ok(())
}

/// An adapter folder's adapter_config.json, adapter_model.safetensors and, where there is one, peft_lab.json.
fn read_adapter_files(adapter: &Path) -> Result<(String, Vec<u8>, Option<String>), String> {
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
    Ok((config, weights, run_info))
}

/// Reads an adapter folder (ours or peft's) and puts it on `pretrained`.
fn load_adapter(pretrained: &Pretrained, adapter: &Path, device: &Device) -> Result<OpenedRun, String> {
    let (config, weights, run_info) = read_adapter_files(adapter)?;
    open_files(pretrained, &config, &weights, run_info.as_deref(), device)
        .map_err(|e| format!("adapter {}: {e}", adapter.display()))
}

/// `merge`: LoRA/DoRA folded into the weights, written with the base model's tokenizer.
pub fn merge(model: &Path, adapter: &Path, out: &Path) -> Result<(), String> {
    if PretrainedDecoder::is_decoder_path(model) {
        return merge_decoder(model, adapter, out);
    }
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

/// `merge` of a decoder's LoRA/DoRA adapter: the merged model.safetensors beside copies of the base folder's
/// config.json, tokenizer and chat template files. A GGUF base has no config.json to give: refused.
fn merge_decoder(model: &Path, adapter: &Path, out: &Path) -> Result<(), String> {
    if !model.join("config.json").is_file() {
        return Err(format!(
            "merge writes a Hugging Face checkpoint and takes its config.json and tokenizer from the base model's \
             folder; {} is a GGUF model: merge into a Hugging Face folder of the same model, or use the adapter as it \
             is (generate --adapter)",
            model.display()
        ));
    }
    let pretrained = PretrainedDecoder::from_path(model).map_err(|e| format!("model {}: {e}", model.display()))?;
    let (config, weights, run_info) = read_adapter_files(adapter)?;
    let device = peft_lab::device::cpu();
    let (decoder, info) = open_decoder_files(&pretrained, &config, &weights, run_info.as_deref(), &device)
        .map_err(|e| format!("adapter {}: {e}", adapter.display()))?;
    let weights = pollster::block_on(export_merged_decoder(decoder)).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    std::fs::write(out.join("model.safetensors"), weights)
        .map_err(|e| format!("cannot write {}: {e}", out.join("model.safetensors").display()))?;
    for file in
        ["config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"]
    {
        if model.join(file).is_file() {
            std::fs::copy(model.join(file), out.join(file))
                .map_err(|e| format!("cannot copy {} to {}: {e}", file, out.display()))?;
        }
    }
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
    let record = RunRecord {
        labels: data.labels.clone(),
        result: &trained.result,
        config: common.train_config(),
        dataset: file_name(&common.data),
    };
    let sha = sha256_hex(&pretrained.weights);
    let link = session::make_link(pretrained, sha, &trained.model, record, precision, &data.val);
    let checked = pollster::block_on(link).map_err(|e| format!("share link: {e}"))?;
    let check = format!(
        "validation accuracy {} full precision, {} from the link, same prediction on {}",
        percent(checked.full_accuracy),
        percent(checked.link_accuracy),
        percent(checked.agreement),
    );
    write_link_file(file, share, &checked, &check)
}

/// Writes the link's URL to `file` and says how long it is and what its check found.
fn write_link_file(file: &Path, share: &ShareArgs, checked: &CheckedLink, check: &str) -> Result<(), String> {
    let url = format!("{}#{FRAGMENT_KEY}{}", share.page_url, checked.payload);
    std::fs::write(file, format!("{url}\n")).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    eprintln!("share link ({}) written to {}: {} characters; {check}", checked.precision, file.display(), url.len());
    if url.len() > CHAT_LIMIT_CHARS {
        eprintln!(
            "note: over {CHAT_LIMIT_CHARS} characters, longer than chat tools accept in one message; \
             send the --save-adapter folder instead"
        );
    }
    Ok(())
}

/// The last part of `path`, as a link records its dataset.
fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// A perplexity with 3 decimals, or "n/a".
fn perplexity(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{v:.3}"))
}

/// A fraction as a percentage with 2 decimals, or "n/a".
fn percent(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{:.2}%", v * 100.0))
}

/// Where `eval` and `generate` take the trained model from.
pub enum Saved {
    Adapter(PathBuf),
    /// A link, or a file holding one.
    Link(String),
}

/// `--link`'s value: a file holding a link, or the link itself.
fn link_text(link: &str) -> Result<String, String> {
    match std::fs::read_to_string(link) {
        Ok(text) => Ok(text),
        Err(_) if payload_of(link).is_ok() => Ok(link.to_string()),
        Err(e) => Err(format!("--link {link}: not a link, and not a readable file ({e})")),
    }
}

/// The saved adapter or link on `pretrained`.
fn load_saved(pretrained: &Pretrained, saved: &Saved, device: &Device) -> Result<OpenedRun, String> {
    match saved {
        Saved::Adapter(dir) => load_adapter(pretrained, dir, device),
        Saved::Link(link) => {
            let text = link_text(link)?;
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
pub fn eval(
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
    pretrained.check_max_length(max_length, info.method.virtual_tokens())?;
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
        let (tokenized, _) = tokenize(&pretrained.tokenizer, &examples, max_length);
        let (m, _) = pollster::block_on(evaluate(&classifier, &tokenized, pretrained.tokenizer.pad_id(), 16))
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

/// `generate`: the decoder continues `prompt`, printed as it comes, then a line on stderr with the counts and speed.
pub fn generate(
    model: &Path,
    saved: Option<&Saved>,
    prompt: &str,
    chat: bool,
    settings: GenerationSettings,
    backend: Backend,
) -> Result<(), String> {
    let pretrained = PretrainedDecoder::from_path(model).map_err(|e| format!("model {}: {e}", model.display()))?;
    // Generation needs no gradients: the model lives off the autodiff device.
    let device = backend.device().inner();
    let decoder: CausalLm<SidePaths> = match saved {
        None => pretrained.causal_lm(&device).map_err(|e| format!("model {}: {e}", model.display()))?,
        Some(Saved::Adapter(dir)) => {
            let (config, weights, run_info) = read_adapter_files(dir)?;
            let (decoder, info) = open_decoder_files(&pretrained, &config, &weights, run_info.as_deref(), &device)
                .map_err(|e| format!("adapter {}: {e}", dir.display()))?;
            eprintln!("adapter {}: {}", dir.display(), info.method.label());
            decoder
        }
        Some(Saved::Link(link)) => {
            let sha = sha256_hex(pretrained.weights());
            let (decoder, meta, precision) =
                open_decoder_link(&pretrained, &sha, &link_text(link)?, &device).map_err(|e| format!("link: {e}"))?;
            eprintln!(
                "link ({precision}, {}): {} trained on {} for {} steps, recorded held-out perplexity {}",
                meta.made_by,
                meta.method.label(),
                meta.dataset,
                meta.metrics.steps,
                perplexity(meta.metrics.perplexity)
            );
            decoder
        }
    };
    let started = Instant::now();
    let mut stdout = std::io::stdout();
    let generated = pollster::block_on(session::generate::generate(
        &pretrained,
        &decoder,
        prompt,
        chat,
        settings,
        &device,
        |piece| {
            print!("{piece}");
            let _ = stdout.flush();
        },
    ))
    .map_err(|e| e.to_string())?;
    println!();
    let seconds = started.elapsed().as_secs_f64();
    let finish = match generated.finish {
        Finish::EndToken => "the model's end token",
        Finish::Stop => "a stop sequence",
        Finish::Budget => "--max-new-tokens",
        Finish::Context => "the model's last position",
    };
    eprintln!(
        "{} prompt tokens, {} new in {seconds:.2} s ({:.1} tokens/s); ended by {finish}",
        generated.prompt_tokens,
        generated.new_tokens,
        generated.new_tokens as f64 / seconds.max(1e-9)
    );
    Ok(())
}
