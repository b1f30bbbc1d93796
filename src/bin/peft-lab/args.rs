//! The command line: subcommands and their flags (clap).

use std::path::PathBuf;

use burn::tensor::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};

use peft_lab::data::generation::TextLayout;
use peft_lab::method::{MethodConfig, catalog};
use peft_lab::session::{ComparePlan, PlannedMethod, SearchSettings};
use peft_lab::share::link::Precision;
use peft_lab::train::TrainConfig;

#[derive(Parser)]
#[command(
    name = "peft-lab",
    version,
    about = "Fine-tune small transformers with parameter-efficient methods and compare them"
)]
pub struct Cli {
    /// CPU threads for training and inference (default: every core).
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// What to train: a classifier (an encoder folder with a labelled file) or a decoder as a language model
        /// (a GGUF file or decoder folder with text, prompt→completion or chat data); `auto` goes by the model.
        #[arg(long, value_enum, default_value_t = TaskArg::Auto)]
        task: TaskArg,
        /// How a plain-text file holds a decoder's documents: one per line, separated by `%` lines (fortune files), or
        /// the whole file cut into pieces of --max-length tokens. Default: `%` lines where the file has them, else
        /// lines.
        #[arg(long, value_enum)]
        text_layout: Option<TextLayoutArg>,
    },
    /// Train several methods on the same splits, seeds and budget, and print a table: the mean, spread and 95 %
    /// interval over the seeds, and which methods cannot be told apart from the best.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Comma-separated method keys, or `all`.
        #[arg(long, default_value = "lora,prefix,head,full")]
        methods: String,
        #[command(flatten)]
        plan: PlanArgs,
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
    /// Continue a prompt with a decoder (a GGUF file, a folder holding one, or a Hugging Face folder), printing the
    /// text as it comes.
    Generate {
        /// The decoder: a .gguf file, a folder with one, or a folder with config.json, model.safetensors and
        /// tokenizer.json (Llama family or GPT-2).
        #[arg(long)]
        model: PathBuf,
        /// A decoder adapter folder to generate with (ours, or a CAUSAL_LM one saved by Python's peft).
        #[arg(long, conflicts_with = "link")]
        adapter: Option<PathBuf>,
        /// A decoder's share link to generate with (`train --share-link` writes one): the URL, or a file holding it.
        #[arg(long)]
        link: Option<String>,
        #[arg(long)]
        prompt: String,
        /// Put the prompt in the model's chat template as a user's message, and answer as the assistant.
        #[arg(long)]
        chat: bool,
        #[arg(long, default_value_t = 128)]
        max_new_tokens: usize,
        /// 0 picks the most likely token each time (greedy); above 0 samples.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Sample among the k most likely tokens only.
        #[arg(long)]
        top_k: Option<usize>,
        /// Sample among the most likely tokens whose probabilities add up to p.
        #[arg(long)]
        top_p: Option<f32>,
        /// Stop when the text ends with this; repeatable.
        #[arg(long = "stop")]
        stop: Vec<String>,
        /// The sampling seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Run the whole text through the model at every step instead of keeping the cache (slower; for comparison).
        #[arg(long)]
        no_cache: bool,
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

/// A comparison's repeats, learning-rate search and result files.
#[derive(Args)]
pub struct PlanArgs {
    /// Every method trains once per seed, comma-separated (default: --seed alone). Seed k gives every method the same
    /// head initialisation, batch order and dropout masks; the split stays the one --seed draws.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Search the learning rate on the validation part first: for every method, or for the comma-separated keys
    /// given. Successive halving over --lr-factors × the method's rate, the last round at a third of the budget.
    #[arg(long, num_args = 0..=1, default_missing_value = "all", value_name = "METHODS")]
    pub lr_search: Option<String>,
    /// The multiples of each method's learning rate that the search tries (default 1/3, 1, 3).
    #[arg(long, value_delimiter = ',')]
    pub lr_factors: Vec<f64>,
    /// Write the results here as JSON: the summary, and per run the fields of peft's method_comparison results.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the results here as CSV, a row per method and seed.
    #[arg(long)]
    pub out_csv: Option<PathBuf>,
}

#[derive(Args)]
pub struct ShareArgs {
    /// Write a share link to this file, after checking on the validation split what its precision costs: a URL the
    /// playground opens for a classifier; a decoder's opens with `generate --link` (the page's decoder view is to
    /// come).
    #[arg(long)]
    pub share_link: Option<PathBuf>,
    /// int8 or f16.
    #[arg(long, default_value = "int8")]
    pub link_precision: Precision,
    /// The playground's address the link starts with.
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub page_url: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Auto,
    Classification,
    CausalLm,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TextLayoutArg {
    Lines,
    Percent,
    Whole,
}

impl From<TextLayoutArg> for TextLayout {
    fn from(layout: TextLayoutArg) -> Self {
        match layout {
            TextLayoutArg::Lines => Self::Lines,
            TextLayoutArg::Percent => Self::Percent,
            TextLayoutArg::Whole => Self::Whole,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// burn's flex CPU backend.
    Cpu,
    /// burn's wgpu backend (Vulkan, Metal, DX12; lavapipe on machines without a GPU).
    Wgpu,
}

#[derive(Args)]
pub struct Common {
    /// A directory with config.json, model.safetensors and tokenizer.json.
    #[arg(long)]
    pub model: PathBuf,
    /// CSV, TSV, JSONL or JSON array with a text and a label column.
    #[arg(long)]
    pub data: PathBuf,
    /// A separate validation file; without it a stratified --val-split of --data is held out.
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// The fraction of --data held out (stratified) for validation, where learning rates are chosen.
    #[arg(long, default_value_t = 0.2)]
    pub val_split: f64,
    /// A separate test file; the table reports its figures, and nothing is chosen on it.
    #[arg(long, conflicts_with = "test_split")]
    pub test_data: Option<PathBuf>,
    /// The fraction of --data held out (stratified) for testing. Without a test part the table reports validation
    /// figures.
    #[arg(long)]
    pub test_split: Option<f64>,
    #[arg(long)]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    /// Skip unreadable rows and rows with an empty text or label, and report how many.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// A method setting as KEY=VALUE, repeatable, applied to every selected method that has it (e.g.
    /// r=16, lora_alpha=32, target_modules=query,key,value, num_virtual_tokens=20, reduction_factor=8,
    /// prompt_tuning_init=TEXT, prompt_tuning_init_text="Is this review positive?").
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long)]
    pub max_steps: Option<usize>,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
    /// Learning rate for every method (default: each method's own).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 0.06)]
    pub warmup_ratio: f64,
    /// The seed of the split, and of the run where no --seeds are given.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Random batches, as transformers' Trainer draws them by default; without it each batch holds texts of similar
    /// lengths (its group_by_length), so batches pad less and steps are shorter.
    #[arg(long)]
    pub no_group_by_length: bool,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
    /// Print one JSON result on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Save each run's checkpoint into this folder (every --checkpoint-every steps, at the end of an epoch when a
    /// save is due, and at the run's end), so that --resume can go on after an interruption.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Steps between two checkpoints of a run.
    #[arg(long, default_value_t = 100, value_name = "STEPS", requires = "checkpoint_dir")]
    pub checkpoint_every: usize,
    /// Go on from the checkpoints in --checkpoint-dir: each run continues from its last one (a finished run is not
    /// trained again), as if it had not stopped.
    #[arg(long, requires = "checkpoint_dir")]
    pub resume: bool,
}

impl Common {
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size,
            max_length: self.max_length,
            weight_decay: self.weight_decay,
            warmup_ratio: self.warmup_ratio,
            max_grad_norm: 1.0,
            seed: self.seed,
            group_by_length: !self.no_group_by_length,
        }
    }

    /// Methods by key (`all` for the whole catalog), with this command line's settings applied, and each
    /// one's learning rate. `--set KEY=VALUE` applies to every selected method that has KEY;
    /// `--set METHOD.KEY=VALUE` only to that one.
    pub fn methods(&self, names: &str) -> Result<Vec<(MethodConfig, f64)>, String> {
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

impl PlanArgs {
    /// The comparison of `methods` (with their learning rates) that these flags and `common`'s budget describe.
    pub fn plan(&self, common: &Common, methods: Vec<(MethodConfig, f64)>) -> Result<ComparePlan, String> {
        let searched: Vec<&str> = match self.lr_search.as_deref().map(str::trim) {
            None => vec![],
            Some("all") => methods.iter().map(|(m, _)| m.key()).collect(),
            Some(keys) => keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect(),
        };
        if let Some(key) = searched.iter().find(|k| !methods.iter().any(|(m, _)| m.key() == **k)) {
            let selected: Vec<&str> = methods.iter().map(|(m, _)| m.key()).collect();
            return Err(format!("--lr-search {key}: not among the selected methods ({})", selected.join(", ")));
        }
        let mut search = SearchSettings::default();
        if !self.lr_factors.is_empty() {
            search.factors = self.lr_factors.clone();
        }
        let plan = ComparePlan {
            methods: methods
                .into_iter()
                .map(|(config, learning_rate)| {
                    let search = searched.contains(&config.key());
                    PlannedMethod { config, learning_rate, search }
                })
                .collect(),
            seeds: if self.seeds.is_empty() { vec![common.seed] } else { self.seeds.clone() },
            config: common.train_config(),
            search,
        };
        plan.check()?;
        Ok(plan)
    }
}

impl Backend {
    /// What the results record as the backend.
    pub fn describe(self) -> String {
        match self {
            Backend::Cpu => format!("CPU (burn flex, {} threads)", rayon::current_num_threads()),
            Backend::Wgpu => "wgpu (native)".into(),
        }
    }

    pub fn device(self) -> Device {
        match self {
            Backend::Cpu => peft_lab::device::cpu(),
            Backend::Wgpu => peft_lab::device::wgpu(),
        }
    }
}
