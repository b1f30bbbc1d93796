//! The share-link decoder on arbitrary input. The first byte picks what the rest is: the link text itself, the
//! payload's bytes (base64url-encoded here), or the decompressed body (wrapped and compressed here, so the
//! fuzzer reaches the header and tensor parsing that zlib's checksum would otherwise guard).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;

#[path = "../../src/share/link/codec.rs"]
mod codec;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let link = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => URL_SAFE_NO_PAD.encode(rest),
        _ => {
            let mut payload = b"PL\x01".to_vec();
            payload.extend((rest.len() as u32).to_le_bytes());
            payload.extend(miniz_oxide::deflate::compress_to_vec_zlib(rest, 1));
            URL_SAFE_NO_PAD.encode(payload)
        }
    };
    if let Ok((meta, precision, tensors)) = codec::decode::<serde_json::Value>(&link) {
        // Whatever decodes re-encodes, and decodes to the same shapes.
        let again = codec::encode(&meta, &tensors, precision).expect("decoded tensors are finite and in range");
        let (_, _, back) = codec::decode::<serde_json::Value>(&again).expect("a fresh link decodes");
        assert_eq!(back.len(), tensors.len());
    }
});
