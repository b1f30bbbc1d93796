//! The GGUF reader against llama.cpp's own writer and de-quantisation (`scripts/gguf_fixture.py`, the `gguf`
//! package 0.19.0), and damaged files built here from that fixture: each refused with a message, never a panic.

use std::path::PathBuf;

use peft_lab::model::gguf::{Gguf, GgufError, TensorType, Value};

fn fixture() -> Vec<u8> {
    std::fs::read(dir().join("tiny.gguf")).unwrap()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf")
}

#[test]
fn metadata_of_every_type_reads_as_written() {
    let bytes = fixture();
    let gguf = Gguf::parse(&bytes).unwrap();
    assert_eq!(gguf.version, 3);
    let expected = [
        ("test.u8", Value::U8(200)),
        ("test.i8", Value::I8(-100)),
        ("test.u16", Value::U16(60000)),
        ("test.i16", Value::I16(-30000)),
        ("test.u32", Value::U32(4_000_000_000)),
        ("test.i32", Value::I32(-2_000_000_000)),
        ("test.f32", Value::F32(0.15625)),
        ("test.bool", Value::Bool(true)),
        ("test.string", Value::String("héllo wörld".into())),
        (
            "test.strings",
            Value::Array(vec![Value::String("a".into()), Value::String("bc".into()), Value::String("".into())]),
        ),
        ("test.u64", Value::U64((1 << 63) + 5)),
        ("test.i64", Value::I64(-(1 << 62))),
        ("test.f64", Value::F64(1e-300)),
        ("general.architecture", Value::String("llama".into())),
    ];
    for (key, value) in expected {
        assert_eq!(gguf.get(key), Some(&value), "{key}");
    }
    // The writer stores a list of Python ints as INT32.
    assert_eq!(gguf.get("test.ints"), Some(&Value::Array(vec![Value::I32(1), Value::I32(-2), Value::I32(3)])));
    assert_eq!(gguf.get_u64("llama.block_count").unwrap(), Some(2));
    assert_eq!(gguf.get_str("general.architecture").unwrap(), Some("llama"));
    let err = gguf.get_u64("test.string").unwrap_err();
    assert_eq!(err.to_string(), "metadata 'test.string' is a string; expected a non-negative integer");
}

/// Every supported type de-quantises to exactly what llama.cpp's reference gives (the same f16 scales and
/// arithmetic), in torch's shape.
#[test]
fn tensors_of_every_supported_type_match_the_reference_dequantisation() {
    let bytes = fixture();
    let gguf = Gguf::parse(&bytes).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("tiny.expected.json")).unwrap()).unwrap();
    let kinds = [
        ("f32", TensorType::F32),
        ("f16", TensorType::F16),
        ("bf16", TensorType::BF16),
        ("q8_0", TensorType::Q8_0),
        ("q4_0", TensorType::Q4_0),
        ("q4_1", TensorType::Q4_1),
    ];
    for (name, kind) in kinds {
        let reference = &expected[name];
        assert_eq!(gguf.tensor_info(name).unwrap().kind, kind, "{name}");
        let (shape, values) = gguf.tensor(name).unwrap();
        let want_shape: Vec<usize> = serde_json::from_value(reference["shape"].clone()).unwrap();
        assert_eq!(shape, want_shape, "{name}");
        let want: Vec<f32> =
            reference["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(values, want, "{name}: de-quantised values");
    }
    assert_eq!(gguf.tensor("nope").unwrap_err(), GgufError::Missing("nope".into()));
}

/// Where `name` (a key or a tensor name, as GGUF writes strings: a u64 length, then the bytes) ends in `bytes`.
fn after_string(bytes: &[u8], name: &str) -> usize {
    let mut pattern = (name.len() as u64).to_le_bytes().to_vec();
    pattern.extend(name.as_bytes());
    let at = bytes.windows(pattern.len()).position(|w| w == pattern).unwrap_or_else(|| panic!("{name} not found"));
    at + pattern.len()
}

fn patched(at: usize, new: &[u8]) -> Vec<u8> {
    let mut bytes = fixture();
    bytes[at..at + new.len()].copy_from_slice(new);
    bytes
}

/// A tensor's table entry: (where its rank is, where its type id is, where its offset is), for a rank-2 tensor.
fn entry(bytes: &[u8], name: &str) -> (usize, usize, usize) {
    let rank = after_string(bytes, name);
    (rank, rank + 4 + 16, rank + 4 + 16 + 4)
}

/// Damaged and hostile files, each refused with its message (the whole message where it is fixed).
#[test]
fn damaged_files_are_refused_with_a_message() {
    let bytes = fixture();
    let len = bytes.len();
    let (q41_rank, q41_type, q41_offset) = entry(&bytes, "q4_1");
    let (_, _, q80_offset) = entry(&bytes, "q8_0");
    let q80_dim0 = entry(&bytes, "q8_0").0 + 4;
    let bool_value = after_string(&bytes, "test.bool") + 4;
    let u8_type = after_string(&bytes, "test.u8");
    let strings_len = after_string(&bytes, "test.strings") + 4 + 4;
    let offset_of = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("a zip file", b"PK\x03\x04 and more bytes".to_vec(), "this is not a GGUF file (it starts with \"PK\\u{3}\\u{4}\", not \"GGUF\")".into()),
        ("version 1", patched(4, &1u32.to_le_bytes()), "GGUF version 1 is not supported; versions 2 and 3 are (convert the file with a recent llama.cpp)".into()),
        ("cut in the header", bytes[..30].to_vec(), "the GGUF file is truncated: a metadata key at byte 24 runs past its end (30 bytes)".into()),
        ("cut in the data", bytes[..len - 10].to_vec(), format!("the GGUF file is truncated: the data of tensor 'q4_1' at byte {} runs past its end ({} bytes)", 832 + offset_of(q41_offset), len - 10)),
        ("2^40 tensors", patched(8, &(1u64 << 40).to_le_bytes()), "the GGUF file is damaged: the tensor count is 1099511627776; at most 65536 are read".into()),
        ("a key of u64::MAX bytes", patched(24, &u64::MAX.to_le_bytes()), "the GGUF file is truncated: a metadata key at byte 32 runs past its end (1472 bytes)".into()),
        ("an array longer than the file", patched(strings_len, &(1u64 << 50).to_le_bytes()), format!("the GGUF file is truncated: the value of 'test.strings' at byte {} runs past its end (1472 bytes)", strings_len + 8)),
        ("Q4_K", patched(q41_type, &12u32.to_le_bytes()), "tensor 'q4_1' is Q4_K, which peft-lab cannot read; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (re-quantise the model with llama.cpp's llama-quantize, e.g. to Q8_0)".into()),
        ("type 99", patched(q41_type, &99u32.to_le_bytes()), "tensor 'q4_1' is type 99 (unknown to this reader), which peft-lab cannot read…".into()),
        ("rank 0", patched(q41_rank, &0u32.to_le_bytes()), "the GGUF file is damaged: tensor 'q4_1' has 0 dimensions; 1 to 4 exist".into()),
        ("rank 5", patched(q41_rank, &5u32.to_le_bytes()), "the GGUF file is damaged: tensor 'q4_1' has 5 dimensions; 1 to 4 exist".into()),
        ("a dimension of 0", patched(q41_rank + 4, &0u64.to_le_bytes()), "the GGUF file is damaged: tensor 'q4_1' has shape [0, 3] (a dimension of 0)".into()),
        ("2^62 values", patched(q41_rank + 4, &(1u64 << 62).to_le_bytes()), "the GGUF file is damaged: tensor 'q4_1' has shape [4611686018427387904, 3], more values than the file can hold".into()),
        ("rows not whole blocks", patched(q80_dim0, &48u64.to_le_bytes()), "the GGUF file is damaged: tensor 'q8_0' has rows of 48 values, not a multiple of Q8_0's blocks of 32".into()),
        ("a misaligned offset", patched(q80_offset, &(offset_of(q80_offset) + 1).to_le_bytes()), format!("the GGUF file is damaged: tensor 'q8_0' starts at offset {}, not a multiple of the alignment 32", offset_of(q80_offset) + 1)),
        ("an offset past the end", patched(q80_offset, &(1u64 << 40).to_le_bytes()), format!("the GGUF file is truncated: the data of tensor 'q8_0' at byte {} runs past its end ({len} bytes)", 832 + (1u64 << 40))),
        ("a bool of 2", patched(bool_value, &[2]), "the GGUF file is damaged: 'test.bool' is a bool of value 2".into()),
        ("value type 13", patched(u8_type, &13u32.to_le_bytes()), "the GGUF file is damaged: 'test.u8' has value type 13; types 0 to 12 exist".into()),
        ("a key twice", { let at = after_string(&bytes, "test.i8") - 2; patched(at, b"u8") }, "the GGUF file is damaged: metadata key 'test.u8' occurs twice".into()),
        ("a tensor twice", { let at = after_string(&bytes, "f16") - 3; patched(at, b"f32") }, "the GGUF file is damaged: tensor 'f32' occurs twice".into()),
        ("a key not UTF-8", { let at = after_string(&bytes, "test.string") - 1; patched(at, &[0xff]) }, "the GGUF file is damaged: a metadata key at byte ".into()),
    ];
    for (case, file, expected) in &cases {
        let message = match Gguf::parse(file) {
            Ok(_) => panic!("{case}: accepted"),
            Err(e) => e.to_string(),
        };
        let fits = match expected.strip_suffix('…') {
            Some(start) => message.starts_with(start),
            None if expected.ends_with("byte ") => {
                message.starts_with(expected.as_str()) && message.ends_with("is not UTF-8")
            }
            None => message == *expected,
        };
        assert!(fits, "{case}:\n  got      {message}\n  expected {expected}");
    }
    assert_eq!(cases.len(), 21);
}

/// The embedded decoder (`scripts/setup.sh` installs it): its architecture, tokenizer and tensor table as llama.cpp
/// wrote them, and tensors of each of its types de-quantised as the reference does.
#[test]
fn smollm2_reads_as_llama_cpp_wrote_it() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("public/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let bytes = std::fs::read(&path).expect("the embedded decoder (scripts/setup.sh installs it)");
    let gguf = Gguf::parse(&bytes).unwrap();
    assert_eq!(gguf.version, 3);
    let int = |key: &str| gguf.get_u64(key).unwrap().unwrap_or_else(|| panic!("{key}"));
    let hyper = [
        ("llama.block_count", 30),
        ("llama.embedding_length", 576),
        ("llama.feed_forward_length", 1536),
        ("llama.attention.head_count", 9),
        ("llama.attention.head_count_kv", 3),
        ("llama.context_length", 8192),
        ("llama.vocab_size", 49152),
        ("tokenizer.ggml.bos_token_id", 1),
        ("tokenizer.ggml.eos_token_id", 2),
        ("tokenizer.ggml.padding_token_id", 2),
    ];
    for (key, value) in hyper {
        assert_eq!(int(key), value, "{key}");
    }
    assert_eq!(gguf.get_f64("llama.rope.freq_base").unwrap(), Some(100_000.0));
    assert_eq!(
        gguf.get_f64("llama.attention.layer_norm_rms_epsilon").unwrap(),
        Some(1e-5),
        "the f32 read as the decimal it was written from"
    );
    assert_eq!(gguf.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(gguf.get_str("tokenizer.ggml.model").unwrap(), Some("gpt2"));
    assert_eq!(gguf.get_str("tokenizer.ggml.pre").unwrap(), Some("smollm"));
    let length = |key: &str| match gguf.get(key) {
        Some(Value::Array(items)) => items.len(),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!((length("tokenizer.ggml.tokens"), length("tokenizer.ggml.merges")), (49152, 48900));
    assert!(gguf.get_str("tokenizer.chat_template").unwrap().unwrap().contains("<|im_start|>"));
    // The head is the embedding (tied): no output.weight.
    assert!(gguf.tensor_info("output.weight").is_none());
    let count = |kind| gguf.tensors.iter().filter(|t| t.kind == kind).count();
    assert_eq!((count(TensorType::Q4_1), count(TensorType::Q8_0), count(TensorType::F32)), (210, 1, 61));
    assert_eq!(gguf.tensors.iter().map(|t| t.num_elements()).sum::<usize>(), 134_515_008);

    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir().join("smollm2.expected.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    for (name, reference) in expected.as_object().unwrap() {
        let (shape, values) = gguf.tensor(name).unwrap();
        assert_eq!(shape, serde_json::from_value::<Vec<usize>>(reference["shape"].clone()).unwrap(), "{name}");
        assert_eq!(values[..16], floats(&reference["first"]), "{name}: first values");
        let stride = (values.len() / 16).max(1);
        let strided: Vec<f32> = values.iter().step_by(stride).take(16).copied().collect();
        assert_eq!(strided, floats(&reference["strided"]), "{name}: values at a stride of {stride}");
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        let want = reference["sum"].as_f64().unwrap();
        assert!((sum - want).abs() <= 1e-9 * want.abs().max(1.0), "{name}: sum {sum}, reference {want}");
    }
}
