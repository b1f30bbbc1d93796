//! The bytes of a share link, with no knowledge of models: a header (any serde type, plus the tensor list) and
//! the tensors in f16 or block-quantised int8, zlib-compressed and base64url-encoded.
//!
//! Layout of the decoded payload: `P`, `L`, format version (1 byte), the decompressed length (u32 LE), then the
//! zlib stream of: header length (u32 LE), header JSON, tensor data. Every size is checked before it is used,
//! so a truncated, changed or hostile link is an error, never a panic or a huge allocation.
//! This file depends on nothing else in the crate: the fuzz target compiles it on its own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use half::f16;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::share::SharedTensor;

const MAGIC: [u8; 2] = *b"PL";
pub const FORMAT_VERSION: u8 = 1;
/// The fragment key: `https://…/#share=<payload>`.
pub const FRAGMENT_KEY: &str = "share=";
/// Longest payload accepted (characters): far above any adapter worth a link, far below a browser's memory.
pub const MAX_LINK_CHARS: usize = 16 << 20;
/// Largest decompressed payload accepted; checked against the declared length before inflating.
pub const MAX_DECODED_BYTES: usize = 64 << 20;
const MAX_HEADER_BYTES: usize = 1 << 20;
/// Int8 values share one scale per block of this many (flattened) values; the block's largest magnitude is stored
/// (as f16, which keeps it a normal number for any value a model holds) and the scale is that over 127.
pub const INT8_BLOCK: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F16,
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "f16" => Ok(Self::F16),
            "int8" => Ok(Self::Int8),
            other => Err(format!("'{other}' is not a precision; choose int8 or f16")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F16 => "f16",
            Self::Int8 => "int8",
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("this is not a peft-lab link: it has no #{0} part")]
    NotALink(&'static str),
    #[error("the link is {0} characters long; links over {MAX_LINK_CHARS} characters are refused")]
    TooLong(usize),
    #[error("the link is damaged: character {0} is not base64url (was it changed, or cut by a chat tool?)")]
    NotBase64(usize),
    #[error("the link is truncated: it ends before its data does (copy the whole link)")]
    Truncated,
    #[error("this link was not made by peft-lab (its data does not start with peft-lab's marker)")]
    Foreign,
    #[error("this link uses format version {0}; this peft-lab reads version {FORMAT_VERSION} (update the page)")]
    Version(u8),
    #[error("the link declares {0} bytes of data; at most {MAX_DECODED_BYTES} are accepted")]
    TooLarge(usize),
    #[error("the link is damaged: its compressed data does not decode ({0})")]
    Corrupt(String),
    #[error("the link's header does not parse: {0}")]
    Header(String),
    #[error("the link's tensor '{0}' is malformed: {1}")]
    Tensor(String, String),
    #[error("tensor '{0}' cannot be stored in f16: a value is {1} (over f16's 65504); use int8 or the file export")]
    F16Range(String, f32),
    #[error("tensor '{0}' holds {1}: the run diverged, so there is nothing worth sharing")]
    NotFinite(String, f32),
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope<M> {
    meta: M,
    precision: Precision,
    tensors: Vec<TensorEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TensorEntry {
    name: String,
    shape: Vec<usize>,
}

/// Encodes `meta` and `tensors` as a link payload (what follows `#share=`).
pub fn encode<M: Serialize>(meta: &M, tensors: &[SharedTensor], precision: Precision) -> Result<String, LinkError> {
    let envelope = Envelope {
        meta,
        precision,
        tensors: tensors.iter().map(|t| TensorEntry { name: t.name.clone(), shape: t.shape.clone() }).collect(),
    };
    let header = serde_json::to_vec(&envelope).map_err(|e| LinkError::Header(e.to_string()))?;
    let mut raw = Vec::with_capacity(4 + header.len() + tensors.iter().map(|t| t.values.len() * 2).sum::<usize>());
    raw.extend((header.len() as u32).to_le_bytes());
    raw.extend(&header);
    for tensor in tensors {
        if let Some(&v) = tensor.values.iter().find(|v| !v.is_finite()) {
            return Err(LinkError::NotFinite(tensor.name.clone(), v));
        }
        match precision {
            Precision::F16 => {
                for &v in &tensor.values {
                    let half = f16::from_f32(v);
                    if half.is_infinite() && v.is_finite() {
                        return Err(LinkError::F16Range(tensor.name.clone(), v));
                    }
                    raw.extend(half.to_le_bytes());
                }
            }
            Precision::Int8 => {
                let (maxima, values) = quantize_int8(&tensor.values);
                raw.extend(maxima.iter().flat_map(|m| m.to_le_bytes()));
                raw.extend(values.iter().map(|&v| v as u8));
            }
        }
    }
    let mut payload = Vec::with_capacity(raw.len() / 2);
    payload.extend(MAGIC);
    payload.push(FORMAT_VERSION);
    payload.extend((raw.len() as u32).to_le_bytes());
    payload.extend(miniz_oxide::deflate::compress_to_vec_zlib(&raw, 10));
    Ok(URL_SAFE_NO_PAD.encode(payload))
}

/// Symmetric int8 per block of `INT8_BLOCK` values: the block's max |v| (as f16), value = round(v / (max / 127)).
fn quantize_int8(values: &[f32]) -> (Vec<f16>, Vec<i8>) {
    let mut maxima = Vec::with_capacity(values.len().div_ceil(INT8_BLOCK));
    let mut quantized = Vec::with_capacity(values.len());
    for block in values.chunks(INT8_BLOCK) {
        let max = f16::from_f32(block.iter().fold(0f32, |m, v| m.max(v.abs())));
        // The decoder's step, from the rounded maximum; rounding may shrink it, so values are clamped.
        let step = max.to_f32() / 127.0;
        maxima.push(max);
        quantized
            .extend(block.iter().map(|v| if step > 0.0 { (v / step).round().clamp(-127.0, 127.0) as i8 } else { 0 }));
    }
    (maxima, quantized)
}

/// Everything after `#share=` in `text` (a whole URL, a fragment, or the bare payload), surrounding blanks trimmed.
pub fn payload_of(text: &str) -> Result<&str, LinkError> {
    payload_after(text, FRAGMENT_KEY)
}

/// Everything after `#key` in `text` (a whole URL, a fragment, or the bare payload), surrounding blanks trimmed.
pub fn payload_after<'a>(text: &'a str, key: &'static str) -> Result<&'a str, LinkError> {
    let text = text.trim();
    // The last occurrence: base64url has no '=', while the page's address before it may (`?model=`).
    if let Some(at) = text.rfind(key) {
        return Ok(text[at + key.len()..].trim());
    }
    // A bare payload starts with the base64 of "PL" and the version byte.
    if text.starts_with("UEw") { Ok(text) } else { Err(LinkError::NotALink(key)) }
}

/// The link's metadata, precision and tensors (as f32), every size and value checked.
pub fn decode<M: DeserializeOwned>(link: &str) -> Result<(M, Precision, Vec<SharedTensor>), LinkError> {
    decode_payload(payload_of(link)?)
}

/// [`decode`] of a payload (the text after the fragment key).
pub fn decode_payload<M: DeserializeOwned>(payload: &str) -> Result<(M, Precision, Vec<SharedTensor>), LinkError> {
    if payload.len() > MAX_LINK_CHARS {
        return Err(LinkError::TooLong(payload.len()));
    }
    if let Some(bad) = payload.bytes().position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        return Err(LinkError::NotBase64(bad));
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Truncated)?;
    if bytes.len() < 3 {
        return Err(LinkError::Truncated);
    }
    if bytes[..2] != MAGIC {
        return Err(LinkError::Foreign);
    }
    if bytes[2] != FORMAT_VERSION {
        return Err(LinkError::Version(bytes[2]));
    }
    let mut reader = Reader { bytes: &bytes[3..] };
    let declared = reader.u32()? as usize;
    if declared > MAX_DECODED_BYTES {
        return Err(LinkError::TooLarge(declared));
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(reader.bytes, declared).map_err(|e| {
        match e.status {
            miniz_oxide::inflate::TINFLStatus::FailedCannotMakeProgress => LinkError::Truncated,
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
                LinkError::Corrupt(format!("it holds more than the {declared} bytes it declares"))
            }
            status => LinkError::Corrupt(format!("{status:?}")),
        }
    })?;
    if raw.len() != declared {
        return Err(LinkError::Corrupt(format!("{} bytes where {declared} were declared", raw.len())));
    }
    let mut reader = Reader { bytes: &raw };
    let header_len = reader.u32()? as usize;
    if header_len > MAX_HEADER_BYTES {
        return Err(LinkError::Header(format!("{header_len} bytes; at most {MAX_HEADER_BYTES}")));
    }
    let envelope: Envelope<M> =
        serde_json::from_slice(reader.take(header_len)?).map_err(|e| LinkError::Header(e.to_string()))?;
    let mut tensors = Vec::with_capacity(envelope.tensors.len().min(4096));
    for entry in envelope.tensors {
        let bad = |reason: String| LinkError::Tensor(entry.name.clone(), reason);
        let count = entry
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= MAX_DECODED_BYTES)
            .ok_or_else(|| bad(format!("shape {:?} is too large", entry.shape)))?;
        let values: Vec<f32> = match envelope.precision {
            Precision::F16 => reader
                .take(count.checked_mul(2).ok_or_else(|| bad("too large".into()))?)
                .map_err(|_| bad("its data ends early".into()))?
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Precision::Int8 => {
                let blocks = count.div_ceil(INT8_BLOCK);
                let maxima: Vec<f32> = reader
                    .take(blocks * 2)
                    .map_err(|_| bad("its block maxima end early".into()))?
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect();
                if let Some(max) = maxima.iter().find(|m| !m.is_finite() || **m < 0.0) {
                    return Err(bad(format!("a block's maximum is {max}")));
                }
                let scales: Vec<f32> = maxima.iter().map(|m| m / 127.0).collect();
                let values = reader.take(count).map_err(|_| bad("its data ends early".into()))?;
                values.iter().enumerate().map(|(i, &v)| v as i8 as f32 * scales[i / INT8_BLOCK]).collect()
            }
        };
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(bad(format!("it holds {v}")));
        }
        tensors.push(SharedTensor { name: entry.name, shape: entry.shape, values });
    }
    if !reader.bytes.is_empty() {
        return Err(LinkError::Corrupt(format!("{} bytes after the last tensor", reader.bytes.len())));
    }
    Ok((envelope.meta, envelope.precision, tensors))
}

/// Bounds-checked reads from a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LinkError> {
        if n > self.bytes.len() {
            return Err(LinkError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, LinkError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<SharedTensor> {
        let values: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        vec![
            SharedTensor { name: "a.weight".into(), shape: vec![3, 100], values },
            SharedTensor { name: "b.bias".into(), shape: vec![2], values: vec![0.5, -0.25] },
        ]
    }

    #[test]
    fn f16_round_trip_is_within_half_precision() {
        let link = encode(&"meta", &tensors(), Precision::F16).unwrap();
        let (meta, precision, back): (String, _, _) = decode(&format!("http://x/#{FRAGMENT_KEY}{link}")).unwrap();
        assert_eq!((meta.as_str(), precision), ("meta", Precision::F16));
        for (a, b) in tensors().iter().zip(&back) {
            assert_eq!((&a.name, &a.shape), (&b.name, &b.shape));
            for (x, y) in a.values.iter().zip(&b.values) {
                assert!((x - y).abs() <= x.abs() * 1e-3, "{x} {y}");
            }
        }
    }

    #[test]
    fn int8_error_is_at_most_half_a_step_per_block() {
        let mut tensors = tensors();
        // Small values (a LoRA B early in training) keep their precision too.
        let small = (0..200).map(|i| (i as f32 - 99.5) * 1e-6).collect();
        tensors.push(SharedTensor { name: "small".into(), shape: vec![200], values: small });
        let link = encode(&(), &tensors, Precision::Int8).unwrap();
        let ((), _, back) = decode(&link).unwrap();
        for (a, b) in tensors.iter().zip(&back) {
            for (block_a, block_b) in a.values.chunks(INT8_BLOCK).zip(b.values.chunks(INT8_BLOCK)) {
                let step = block_a.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                for (x, y) in block_a.iter().zip(block_b) {
                    assert!((x - y).abs() <= step * 0.5 + step * 2e-3, "{x} {y} step {step}");
                }
            }
        }
    }

    #[test]
    fn damaged_links_are_errors() {
        let link = encode(&"meta", &tensors(), Precision::Int8).unwrap();
        assert_eq!(decode::<String>("https://example.com/page").unwrap_err(), LinkError::NotALink(FRAGMENT_KEY));
        for cut in [1, 3, 7, link.len() / 2, link.len() - 1] {
            assert!(decode::<String>(&link[..cut]).is_err(), "cut at {cut}");
        }
        assert!(matches!(decode::<String>(&format!("{}!{}", &link[..10], &link[11..])), Err(LinkError::NotBase64(10))));
        // A flipped bit in the compressed body fails zlib's checksum or the sizes.
        let mut bytes = URL_SAFE_NO_PAD.decode(&link).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0x10;
        assert!(decode::<String>(&URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        bytes = URL_SAFE_NO_PAD.decode(&link).unwrap();
        bytes[2] = 9;
        assert_eq!(decode::<String>(&URL_SAFE_NO_PAD.encode(&bytes)).unwrap_err(), LinkError::Version(9));
        bytes[0] = b'X';
        assert_eq!(
            decode::<String>(&format!("share={}", URL_SAFE_NO_PAD.encode(&bytes))).unwrap_err(),
            LinkError::Foreign
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_inflating() {
        // 64 MiB of zeros compresses to ~64 KB; declaring more than the limit is refused up front…
        let mut payload = MAGIC.to_vec();
        payload.push(FORMAT_VERSION);
        payload.extend(((MAX_DECODED_BYTES + 1) as u32).to_le_bytes());
        payload.extend(miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; 1 << 20], 10));
        assert_eq!(
            decode::<()>(&URL_SAFE_NO_PAD.encode(&payload)).unwrap_err(),
            LinkError::TooLarge(MAX_DECODED_BYTES + 1)
        );
        // …and declaring less than the stream holds stops inflating at the declared size.
        payload[3..7].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(decode::<()>(&URL_SAFE_NO_PAD.encode(&payload)), Err(LinkError::Corrupt(_))));
    }

    #[test]
    fn non_finite_values_and_impossible_shapes_are_refused() {
        let nan = vec![SharedTensor { name: "x".into(), shape: vec![1], values: vec![f32::NAN] }];
        for precision in [Precision::F16, Precision::Int8] {
            assert!(matches!(encode(&(), &nan, precision), Err(LinkError::NotFinite(..))));
        }
        // A NaN written by another encoder (f16 0x7e00) is refused on decoding.
        let one = vec![SharedTensor { name: "x".into(), shape: vec![1], values: vec![1.0] }];
        let mut bytes = URL_SAFE_NO_PAD.decode(encode(&(), &one, Precision::F16).unwrap()).unwrap();
        let mut raw = miniz_oxide::inflate::decompress_to_vec_zlib(&bytes[7..]).unwrap();
        let at = raw.len() - 2;
        raw[at..].copy_from_slice(&f16::NAN.to_le_bytes());
        bytes.truncate(7);
        bytes.extend(miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6));
        assert!(
            matches!(decode::<()>(&URL_SAFE_NO_PAD.encode(&bytes)), Err(LinkError::Tensor(name, _)) if name == "x")
        );
        let big = vec![SharedTensor { name: "x".into(), shape: vec![1], values: vec![1e6] }];
        assert!(matches!(encode(&(), &big, Precision::F16), Err(LinkError::F16Range(..))));
        // A header whose shape claims more values than the data holds.
        let lying = vec![SharedTensor { name: "y".into(), shape: vec![usize::MAX, 2], values: vec![1.0] }];
        let link = encode(&(), &lying, Precision::Int8).unwrap();
        assert!(matches!(decode::<()>(&link), Err(LinkError::Tensor(name, _)) if name == "y"));
    }
}
