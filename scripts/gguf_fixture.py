"""Writes tests/fixtures/gguf/tiny.gguf with llama.cpp's own writer (the `gguf` package, 0.19.0) and the values its
reference de-quantisation gives (tiny.expected.json), for tests/gguf.rs: metadata of every GGUF value type and one
tensor of each type the reader supports (F32, F16, BF16, Q8_0, Q4_0, Q4_1).

    pip install gguf==0.19.0 && python3 scripts/gguf_fixture.py
"""

import json
import os

import gguf
import numpy as np
from gguf.quants import dequantize, quantize

out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "gguf")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
T = gguf.GGMLQuantizationType

writer = gguf.GGUFWriter(os.path.join(out, "tiny.gguf"), arch="llama")
writer.add_uint8("test.u8", 200)
writer.add_int8("test.i8", -100)
writer.add_uint16("test.u16", 60000)
writer.add_int16("test.i16", -30000)
writer.add_uint32("test.u32", 4000000000)
writer.add_int32("test.i32", -2000000000)
writer.add_float32("test.f32", 0.15625)
writer.add_bool("test.bool", True)
writer.add_string("test.string", "héllo wörld")
writer.add_array("test.strings", ["a", "bc", ""])
writer.add_array("test.ints", [1, -2, 3])
writer.add_uint64("test.u64", 2**63 + 5)
writer.add_int64("test.i64", -(2**62))
writer.add_float64("test.f64", 1e-300)
writer.add_block_count(2)
writer.add_context_length(64)

# torch shapes [rows, columns]; GGUF stores them reversed (columns first).
tensors = {
    "f32": (T.F32, rng.standard_normal((3, 4)).astype(np.float32)),
    "f16": (T.F16, rng.standard_normal((2, 32)).astype(np.float32)),
    "bf16": (T.BF16, rng.standard_normal((2, 32)).astype(np.float32)),
    "q8_0": (T.Q8_0, rng.standard_normal((2, 64)).astype(np.float32)),
    "q4_0": (T.Q4_0, rng.standard_normal((2, 64)).astype(np.float32)),
    "q4_1": (T.Q4_1, (rng.standard_normal((3, 32)) + 0.5).astype(np.float32)),
}
expected = {}
for name, (kind, values) in tensors.items():
    if kind == T.F32:
        data = values
    elif kind == T.F16:
        data = values.astype(np.float16)
    else:
        data = quantize(values, kind)
    writer.add_tensor(name, data, raw_dtype=kind)
    reference = data.astype(np.float32) if kind in (T.F32, T.F16) else dequantize(data, kind)
    expected[name] = {"type": kind.name, "shape": list(values.shape), "values": [float(v) for v in reference.ravel()]}

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
with open(os.path.join(out, "tiny.expected.json"), "w") as f:
    json.dump(expected, f)
print("wrote", out)

# The embedded decoder (scripts/setup.sh installs it): a few tensors of each type it holds, as the reference
# de-quantises them (their shape, sum, first values and values at a stride), for the reader's test on a real file.
smollm2 = os.path.join(os.path.dirname(__file__), "..", "public", "models", "SmolLM2-135M-Instruct",
                       "SmolLM2-135M-Instruct.Q4_1.gguf")
if os.path.exists(smollm2):
    reader = gguf.GGUFReader(smollm2)
    picked = {}
    for tensor in reader.tensors:
        if tensor.name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight",
                           "blk.0.attn_norm.weight", "output_norm.weight"):
            values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32).ravel()
            picked[tensor.name] = {
                "type": tensor.tensor_type.name,
                "shape": [int(d) for d in reversed(tensor.shape)],
                "sum": float(values.astype(np.float64).sum()),
                "first": [float(v) for v in values[:16]],
                "strided": [float(v) for v in values[:: max(1, len(values) // 16)][:16]],
            }
    with open(os.path.join(out, "smollm2.expected.json"), "w") as f:
        json.dump(picked, f, indent=1)
    print("wrote smollm2.expected.json")
