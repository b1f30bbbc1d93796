//! Reading Hugging Face checkpoints: safetensors in f32, f16 or bf16, converted to f32 tensors.
//!
//! Every tensor is asked for by its checkpoint key and expected shape, so a mismatch names the exact key.

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

/// What can go wrong while loading a model; each message names the file or tensor involved.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("config.json does not parse: {0}")]
    Config(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("{file} is not a valid safetensors file ({reason}); is it truncated or another format?")]
    Safetensors { file: &'static str, reason: String },
    #[error("{file} has no tensor '{key}'{also}")]
    MissingTensor { file: &'static str, key: String, also: String },
    #[error("tensor '{key}' has shape {found:?}, expected {expected:?} from {config}")]
    WrongShape { config: &'static str, key: String, found: Vec<usize>, expected: Vec<usize> },
    #[error("tensor '{key}' is stored as {dtype}; supported: F32, F16, BF16")]
    UnsupportedDtype { key: String, dtype: String },
    #[error("tokenizer.json: {0}")]
    Tokenizer(String),
    #[error("the GGUF file's tokenizer: {0}")]
    GgufTokenizer(String),
    #[error("{0}")]
    Mismatch(String),
    #[error(
        "{file}: tensor '{key}' holds {value} at index {index}; the file is damaged or was saved from a diverged run"
    )]
    NonFinite { file: &'static str, key: String, index: usize, value: f32 },
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{0}")]
    Gguf(#[from] super::gguf::GgufError),
}

/// The largest size a config may give (a vocabulary, a width, a count): beyond any checkpoint a browser can hold, and
/// small enough that a size times a method's own (a rank, a token count) cannot overflow. Every tensor's shape is then
/// checked against the weights as they load.
pub const MAX_SIZE: usize = 1 << 20;

/// The checks every architecture's config gets, each refusal naming the field: sizes 1 to [`MAX_SIZE`], dropout
/// probabilities in [0, 1), normalisation epsilons above 0 and below 1.
pub fn check_config(
    sizes: &[(&str, usize)],
    dropouts: &[(&str, f64)],
    epsilons: &[(&str, f64)],
) -> Result<(), LoadError> {
    for &(field, value) in sizes {
        if !(1..=MAX_SIZE).contains(&value) {
            return Err(LoadError::Config(format!("{field} is {value}; it must be 1 to {MAX_SIZE}")));
        }
    }
    for &(field, p) in dropouts {
        if !(0.0..1.0).contains(&p) {
            return Err(LoadError::Config(format!("{field} is {p}; a dropout probability must be in [0, 1)")));
        }
    }
    for &(field, eps) in epsilons {
        if !(eps > 0.0 && eps < 1.0) {
            return Err(LoadError::Config(format!("{field} is {eps}; it must be above 0 and below 1")));
        }
    }
    Ok(())
}

/// A model file's bytes, or which file could not be read and why.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::Io { path: path.display().to_string(), reason: e.to_string() })
}

/// config.json's bytes as text.
pub fn config_text(bytes: &[u8]) -> Result<&str, LoadError> {
    std::str::from_utf8(bytes).map_err(|_| LoadError::Config("config.json is not UTF-8".into()))
}

/// Where an architecture reads its weights from, by their Hugging Face checkpoint keys and torch shapes: a
/// safetensors [`Checkpoint`], or a GGUF file seen through the architecture's names for its tensors.
pub trait Weights {
    /// The tensor `key` as f32 values in torch's row-major layout, checked against `expected` (torch's shape).
    fn values(&self, key: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError>;

    fn tensor<const D: usize>(&self, key: &str, expected: [usize; D], device: &Device) -> Result<Tensor<D>, LoadError> {
        let values = self.values(key, &expected)?;
        Ok(Tensor::from_data(TensorData::new(values, expected), device))
    }

    /// A torch `nn.Linear` weight stored [out, in], returned as burn's [in, out].
    fn linear_weight(&self, key: &str, d_in: usize, d_out: usize, device: &Device) -> Result<Tensor<2>, LoadError> {
        let values = self.values(key, &[d_out, d_in])?;
        Ok(Tensor::from_data(TensorData::new(transpose(&values, d_out, d_in), [d_in, d_out]), device))
    }
}

/// A parsed safetensors file. Keys may carry an architecture prefix (`bert.`) that is resolved on lookup.
pub struct Checkpoint<'a> {
    /// The file's role, for messages: a model's or an adapter's weights.
    role: Role,
    bytes: &'a [u8],
    tensors: SafeTensors<'a>,
    /// The architecture prefix keys are looked up under, and the one that was probed for (named when a key is
    /// missing either way).
    prefix: String,
    probed: String,
}

/// Which file a checkpoint is, and which config its shapes come from.
#[derive(Clone, Copy)]
enum Role {
    Model,
    Adapter,
}

impl Role {
    fn file(self) -> &'static str {
        match self {
            Role::Model => "model.safetensors",
            Role::Adapter => "adapter_model.safetensors",
        }
    }

    fn config(self) -> &'static str {
        match self {
            Role::Model => "config.json",
            Role::Adapter => "adapter_config.json",
        }
    }
}

impl<'a> Checkpoint<'a> {
    /// A model's weights (model.safetensors).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, LoadError> {
        Self::parse_as(bytes, Role::Model)
    }

    /// An adapter's weights (adapter_model.safetensors, shapes from adapter_config.json).
    pub fn parse_adapter(bytes: &'a [u8]) -> Result<Self, LoadError> {
        Self::parse_as(bytes, Role::Adapter)
    }

    fn parse_as(bytes: &'a [u8], role: Role) -> Result<Self, LoadError> {
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| LoadError::Safetensors { file: role.file(), reason: e.to_string() })?;
        Ok(Self { role, bytes, tensors, prefix: String::new(), probed: String::new() })
    }

    /// A second view of the same file (to look it up under another prefix).
    pub fn reparse(&self) -> Result<Self, LoadError> {
        Self::parse_as(self.bytes, self.role)
    }

    /// Uses `prefix` for every lookup when the checkpoint stores keys under it (e.g. `bert.` in a
    /// `BertForSequenceClassification` file), found by probing for `probe_key`.
    pub fn with_prefix_if_present(mut self, prefix: &str, probe_key: &str) -> Self {
        let has_plain = self.tensors.tensor(probe_key).is_ok();
        let has_prefixed = self.tensors.tensor(&format!("{prefix}{probe_key}")).is_ok();
        if !has_plain && has_prefixed {
            self.prefix = prefix.to_string();
        }
        self.probed = prefix.to_string();
        self
    }

    /// The largest tensor's name and its size once converted to f32 (what one GPU buffer must hold).
    pub fn largest_tensor(&self) -> Option<(String, usize)> {
        self.tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().iter().product::<usize>() * 4))
            .max_by_key(|(_, bytes)| *bytes)
    }

    /// The name and shape of every tensor whose key ends with `suffix`, by name.
    pub fn shapes_of_suffix(&self, suffix: &str) -> Vec<(String, Vec<usize>)> {
        let mut found: Vec<(String, Vec<usize>)> = self
            .tensors
            .tensors()
            .into_iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .map(|(name, view)| (name, view.shape().to_vec()))
            .collect();
        found.sort();
        found
    }

    /// How many numbers the checkpoint holds.
    pub fn parameter_count(&self) -> usize {
        self.tensors.tensors().iter().map(|(_, view)| view.shape().iter().product::<usize>()).sum()
    }
}

impl Weights for Checkpoint<'_> {
    fn values(&self, key: &str, expected: &[usize]) -> Result<Vec<f32>, LoadError> {
        let full_key = format!("{}{key}", self.prefix);
        let view = self.tensors.tensor(&full_key).map_err(|_| LoadError::MissingTensor {
            file: self.role.file(),
            key: full_key.clone(),
            also: match (self.prefix.is_empty(), self.probed.is_empty()) {
                (_, true) => String::new(),
                (true, false) => format!(" (nor '{}{key}')", self.probed),
                (false, false) => format!(" (nor '{key}')"),
            },
        })?;
        if view.shape() != expected {
            return Err(LoadError::WrongShape {
                config: self.role.config(),
                key: full_key,
                found: view.shape().to_vec(),
                expected: expected.to_vec(),
            });
        }
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => return Err(LoadError::UnsupportedDtype { key: full_key, dtype: format!("{other:?}") }),
        };
        all_finite(self.role.file(), &full_key, values)
    }
}

/// `values`, unless one is NaN or infinite: then which, in which tensor of which file.
pub fn all_finite(file: &'static str, key: &str, values: Vec<f32>) -> Result<Vec<f32>, LoadError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(LoadError::NonFinite { file, key: key.into(), index, value: values[index] }),
        None => Ok(values),
    }
}

/// Row-major [rows, cols] -> row-major [cols, rows].
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}
