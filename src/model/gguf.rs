//! GGUF, llama.cpp's model file (versions 2 and 3, little-endian): a header, typed metadata, a table of tensors and
//! their data, each tensor at an aligned offset. Tensors are de-quantised to f32 as they are read: F32, F16, BF16,
//! Q8_0, Q4_0 and Q4_1; the other types are refused by name. Every count, length and offset is checked against
//! the file before anything is allocated for it, so that a damaged or hostile file ends in a [`GgufError`].

use std::collections::BTreeMap;

use half::{bf16, f16};

const MAGIC: &[u8; 4] = b"GGUF";
/// At most this many tensors or metadata entries (SmolLM2-135M has 272 tensors and 37 entries; the largest
/// models, a few thousand).
const MAX_ENTRIES: u64 = 1 << 16;
/// Arrays nest at most this deep (the format allows arrays of arrays; vocabularies are one level).
const MAX_DEPTH: usize = 2;
/// A tensor has 1 to this many dimensions (ggml's limit).
const MAX_DIMS: u32 = 4;
/// `general.alignment`'s default.
const DEFAULT_ALIGNMENT: u64 = 32;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GgufError {
    #[error("this is not a GGUF file (it starts with {0:?}, not \"GGUF\")")]
    NotGguf(String),
    #[error("GGUF version {0} is not supported; versions 2 and 3 are (convert the file with a recent llama.cpp)")]
    Version(u32),
    #[error("the GGUF file is truncated: {what} at byte {at} runs past its end ({len} bytes)")]
    Truncated { what: String, at: u64, len: u64 },
    #[error("the GGUF file is damaged: {0}")]
    Damaged(String),
    #[error(
        "tensor '{name}' is {kind}, which peft-lab cannot read; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (re-quantise the model with llama.cpp's llama-quantize, e.g. to Q8_0)"
    )]
    Unsupported { name: String, kind: String },
    #[error("the GGUF file has no tensor '{0}'")]
    Missing(String),
    #[error("the GGUF file has no '{key}', which a {model} model needs")]
    MissingMetadata { key: String, model: &'static str },
    #[error("metadata '{key}' is {found}; expected {expected}")]
    Metadata { key: String, found: String, expected: &'static str },
}

/// A metadata value, as typed in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// An integer of any width and sign, when it is one and is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            // The shortest decimal that reads back as the f32 (1e-5, not 9.999999747378752e-6): the value the
            // writer meant, as transformers' config.json has it.
            Self::F32(v) => v.to_string().parse().ok(),
            Self::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// What the value is, for messages: "a string", "u32 7", "an array of 3".
    fn describe(&self) -> String {
        match self {
            Self::String(_) => "a string".into(),
            Self::Array(items) => format!("an array of {}", items.len()),
            Self::Bool(b) => format!("bool {b}"),
            other => format!("{other:?}"),
        }
    }
}

/// ggml's tensor types this reader de-quantises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
}

impl TensorType {
    /// The type with ggml's id, or the name of one that is not supported.
    fn from_id(id: u32) -> Result<Self, String> {
        Ok(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            30 => Self::BF16,
            other => return Err(unsupported_name(other)),
        })
    }

    /// (values per block, bytes per block).
    fn block(self) -> (u64, u64) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q8_0 => (32, 34),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
        }
    }
}

/// ggml's names of the types not read here (ggml.h's `ggml_type`).
fn unsupported_name(id: u32) -> String {
    let name = match id {
        6 => "Q5_0",
        7 => "Q5_1",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => return format!("type {id} (unknown to this reader)"),
    };
    name.into()
}

/// A tensor of the table: its name, its shape in torch's order (slowest dimension first; GGUF stores the
/// reverse), its type and where its data lies in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: TensorType,
    /// Absolute byte range in the file.
    start: usize,
    end: usize,
}

impl TensorInfo {
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed GGUF file over its bytes.
pub struct Gguf<'a> {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    bytes: &'a [u8],
}

impl<'a> Gguf<'a> {
    /// Reads the header, the metadata and the tensor table, checking that every tensor's data lies in the file.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GgufError> {
        let mut r = Reader { bytes, at: 0 };
        let magic = r.take(4, "the magic number")?;
        if magic != MAGIC {
            return Err(GgufError::NotGguf(String::from_utf8_lossy(magic).into_owned()));
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        let tensor_count = r.count("the tensor count")?;
        let metadata_count = r.count("the metadata count")?;
        let mut metadata = BTreeMap::new();
        for _ in 0..metadata_count {
            let key = r.string("a metadata key")?;
            let kind = r.u32(&format!("the type of '{key}'"))?;
            let value = r.value(kind, &key, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(GgufError::Damaged(format!("metadata key '{key}' occurs twice")));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(value) => match value.as_u64() {
                Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
                _ => {
                    return Err(GgufError::Damaged(format!(
                        "general.alignment is {}; it must be a power of two up to 65536",
                        value.describe()
                    )));
                }
            },
        };
        let mut table = Vec::with_capacity(tensor_count as usize);
        for _ in 0..tensor_count {
            let name = r.string("a tensor name")?;
            let dims = r.u32(&format!("the rank of '{name}'"))?;
            if !(1..=MAX_DIMS).contains(&dims) {
                return Err(GgufError::Damaged(format!(
                    "tensor '{name}' has {dims} dimensions; 1 to {MAX_DIMS} exist"
                )));
            }
            let mut shape = Vec::with_capacity(dims as usize);
            for _ in 0..dims {
                shape.push(r.u64(&format!("a dimension of '{name}'"))?);
            }
            let id = r.u32(&format!("the type of '{name}'"))?;
            let offset = r.u64(&format!("the offset of '{name}'"))?;
            table.push((name, shape, id, offset));
        }
        let data_start = r.at.div_ceil(alignment) * alignment;
        let len = bytes.len() as u64;
        let mut tensors = Vec::with_capacity(table.len());
        let mut names = std::collections::HashSet::new();
        for (name, ggml_shape, id, offset) in table {
            if !names.insert(name.clone()) {
                return Err(GgufError::Damaged(format!("tensor '{name}' occurs twice")));
            }
            let kind = TensorType::from_id(id).map_err(|kind| GgufError::Unsupported { name: name.clone(), kind })?;
            let damaged = |why: String| GgufError::Damaged(format!("tensor '{name}' {why}"));
            if ggml_shape.contains(&0) {
                return Err(damaged(format!("has shape {ggml_shape:?} (a dimension of 0)")));
            }
            let elements = ggml_shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d))
                .filter(|&n| n <= len.saturating_mul(2))
                .ok_or_else(|| damaged(format!("has shape {ggml_shape:?}, more values than the file can hold")))?;
            let (per_block, block_bytes) = kind.block();
            if ggml_shape[0] % per_block != 0 {
                return Err(damaged(format!(
                    "has rows of {} values, not a multiple of {kind:?}'s blocks of {per_block}",
                    ggml_shape[0]
                )));
            }
            if offset % alignment != 0 {
                return Err(damaged(format!("starts at offset {offset}, not a multiple of the alignment {alignment}")));
            }
            let size = elements / per_block * block_bytes;
            let start = data_start.checked_add(offset).filter(|s| *s <= len);
            let end = start.and_then(|s| s.checked_add(size)).filter(|e| *e <= len);
            let (Some(start), Some(end)) = (start, end) else {
                return Err(GgufError::Truncated {
                    what: format!("the data of tensor '{name}'"),
                    at: data_start.saturating_add(offset),
                    len,
                });
            };
            let shape = ggml_shape.iter().rev().map(|&d| d as usize).collect();
            tensors.push(TensorInfo { name, shape, kind, start: start as usize, end: end as usize });
        }
        Ok(Self { version, metadata, tensors, bytes })
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The rows (first dimension, in torch's order) of tensor `name`: a vocabulary or a position table's size.
    pub fn tensor_rows(&self, name: &str) -> Result<usize, GgufError> {
        self.tensor_info(name).map(|t| t.shape[0]).ok_or_else(|| GgufError::Missing(name.into()))
    }

    /// The tensor's values, de-quantised to f32, row-major in its torch shape.
    pub fn tensor(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), GgufError> {
        let info = self.tensor_info(name).ok_or_else(|| GgufError::Missing(name.into()))?;
        Ok((info.shape.clone(), dequantize(info.kind, &self.bytes[info.start..info.end])))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A metadata integer, or why it is not one.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// A metadata size, saturated at `usize::MAX` (which every config's size check refuses).
    pub fn get_size(&self, key: &str) -> Result<Option<usize>, GgufError> {
        Ok(self.get_u64(key)?.map(|v| usize::try_from(v).unwrap_or(usize::MAX)))
    }

    /// A metadata size a `model` (named in the message) cannot do without.
    pub fn required_size(&self, key: &str, model: &'static str) -> Result<usize, GgufError> {
        self.get_size(key)?.ok_or_else(|| GgufError::MissingMetadata { key: key.into(), model })
    }

    pub fn get_f64(&self, key: &str) -> Result<Option<f64>, GgufError> {
        self.typed(key, "a number", Value::as_f64)
    }

    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.typed(key, "a bool", |value| match value {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
    }

    pub fn get_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.typed(key, "a string", Value::as_str)
    }

    fn typed<'v, T>(
        &'v self,
        key: &str,
        expected: &'static str,
        read: impl Fn(&'v Value) -> Option<T>,
    ) -> Result<Option<T>, GgufError> {
        match self.metadata.get(key) {
            None => Ok(None),
            Some(value) => read(value).map(Some).ok_or_else(|| GgufError::Metadata {
                key: key.into(),
                found: value.describe(),
                expected,
            }),
        }
    }
}

/// `data` (whole blocks of `kind`) as f32, as ggml's `dequantize_row_*` computes it.
fn dequantize(kind: TensorType, data: &[u8]) -> Vec<f32> {
    let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    match kind {
        TensorType::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        TensorType::F16 => data.chunks_exact(2).map(half).collect(),
        TensorType::BF16 => data.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        // A scale d, then 32 signed bytes q: d·q.
        TensorType::Q8_0 => data
            .chunks_exact(34)
            .flat_map(|block| {
                let d = half(&block[..2]);
                block[2..].iter().map(move |&q| d * f32::from(q as i8))
            })
            .collect(),
        // A scale d, then 16 bytes: the low nibbles are values 0..16, the high ones 16..32; d·(q − 8).
        TensorType::Q4_0 => data
            .chunks_exact(18)
            .flat_map(|block| {
                let d = half(&block[..2]);
                nibbles(&block[2..]).map(move |q| d * (f32::from(q) - 8.0))
            })
            .collect(),
        // A scale d and a minimum m, then 16 bytes of nibbles as Q4_0's: d·q + m.
        TensorType::Q4_1 => data
            .chunks_exact(20)
            .flat_map(|block| {
                let (d, m) = (half(&block[..2]), half(&block[2..4]));
                nibbles(&block[4..]).map(move |q| d * f32::from(q) + m)
            })
            .collect(),
    }
}

/// A block's 16 bytes as its 32 four-bit values: every low nibble, then every high one.
fn nibbles(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().map(|b| b & 0x0f).chain(bytes.iter().map(|b| b >> 4))
}

/// Little-endian reads that say what they were reading when the file ends.
struct Reader<'a> {
    bytes: &'a [u8],
    at: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let len = self.bytes.len() as u64;
        let end = self.at.checked_add(n).filter(|e| *e <= len).ok_or_else(|| GgufError::Truncated {
            what: what.into(),
            at: self.at,
            len,
        })?;
        let out = &self.bytes[self.at as usize..end as usize];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        Ok(self.take(N as u64, what)?.try_into().expect("took N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of tensors or metadata entries.
    fn count(&mut self, what: &str) -> Result<u64, GgufError> {
        let n = self.u64(what)?;
        if n > MAX_ENTRIES {
            return Err(GgufError::Damaged(format!("{what} is {n}; at most {MAX_ENTRIES} are read")));
        }
        Ok(n)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        let at = self.at;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::Damaged(format!("{what} at byte {at} is not UTF-8")))
    }

    fn value(&mut self, kind: u32, key: &str, depth: usize) -> Result<Value, GgufError> {
        let what = format!("the value of '{key}'");
        Ok(match kind {
            0 => Value::U8(self.array::<1>(&what)?[0]),
            1 => Value::I8(self.array::<1>(&what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            4 => Value::U32(self.u32(&what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            7 => match self.array::<1>(&what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(GgufError::Damaged(format!("'{key}' is a bool of value {b}"))),
            },
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(GgufError::Damaged(format!("'{key}' nests arrays deeper than {MAX_DEPTH}")));
                }
                let item = self.u32(&what)?;
                let len = self.u64(&what)?;
                // Every item takes at least a byte: a longer array cannot be in the file.
                let left = self.bytes.len() as u64 - self.at;
                if len > left {
                    return Err(GgufError::Truncated { what, at: self.at, len: self.bytes.len() as u64 });
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(item, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            other => return Err(GgufError::Damaged(format!("'{key}' has value type {other}; types 0 to 12 exist"))),
        })
    }
}
