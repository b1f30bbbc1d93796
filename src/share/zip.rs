//! A zip archive of a few files, stored uncompressed (the page hands several files over as one download).
//! Plain zip (no zip64): archives up to 4 GiB, which is far more than any model the page can load.

#[derive(Debug, thiserror::Error)]
#[error("{0} is too large for a zip archive (over 4 GiB)")]
pub struct ZipTooLarge(String);

/// The archive of `files` (name, contents), in order.
pub fn archive(files: &[(&str, &[u8])]) -> Result<Vec<u8>, ZipTooLarge> {
    let mut out = Vec::with_capacity(files.iter().map(|(n, c)| c.len() + 2 * n.len() + 100).sum::<usize>() + 22);
    let mut central = Vec::new();
    // 1980-01-01 00:00, the earliest DOS date: archives do not depend on the clock.
    let (time, date) = (0u16, (1 << 5) | 1);
    for (name, contents) in files {
        let size = u32::try_from(contents.len()).map_err(|_| ZipTooLarge(name.to_string()))?;
        let offset = u32::try_from(out.len()).map_err(|_| ZipTooLarge(name.to_string()))?;
        let crc = crc32(contents);
        // Local file header: version 2.0, UTF-8 names (bit 11), method 0 (stored).
        let common = |buf: &mut Vec<u8>| {
            for v in [20u16, 1 << 11, 0, time, date] {
                buf.extend(v.to_le_bytes());
            }
            for v in [crc, size, size] {
                buf.extend(v.to_le_bytes());
            }
            buf.extend((name.len() as u16).to_le_bytes());
            buf.extend(0u16.to_le_bytes());
        };
        out.extend(0x04034b50u32.to_le_bytes());
        common(&mut out);
        out.extend(name.as_bytes());
        out.extend(*contents);
        // Central directory entry: made by Unix, version 2.0 (else unzip reads names as a DOS code page), the
        // local header's fields, no comment, disk 0, a regular file readable by all (0644), the header's offset.
        central.extend(0x02014b50u32.to_le_bytes());
        central.extend(((3u16 << 8) | 20).to_le_bytes());
        common(&mut central);
        for v in [0u16, 0, 0] {
            central.extend(v.to_le_bytes());
        }
        central.extend((0o100644u32 << 16).to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let central_offset = u32::try_from(out.len()).map_err(|_| ZipTooLarge("the archive".into()))?;
    let count = files.len() as u16;
    out.extend(&central);
    out.extend(0x06054b50u32.to_le_bytes());
    for v in [0u16, 0, count, count] {
        out.extend(v.to_le_bytes());
    }
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    Ok(out)
}

/// CRC-32 (IEEE 802.3, as zip uses it), one table lookup a byte; a table built at compile time instead of a crate
/// whose SIMD tables add 16 KB of incompressible data to the wasm.
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut bit = 0;
            while bit < 8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                bit += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |c, &b| TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8))
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_is_zips() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926, "the CRC-32 check value");
        assert_eq!(super::crc32(b""), 0);
    }

    #[test]
    fn unzip_reads_the_archive_back() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let zip = super::archive(&[("adapter_config.json", b"{\"r\": 8}"), ("weights/ü.bin", &big)]).unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, zip).unwrap();
        let status = std::process::Command::new("unzip").arg("-q").arg(&path).arg("-d").arg(dir.path()).status();
        assert!(status.unwrap().success(), "unzip (Debian's unzip package) must read the archive");
        assert_eq!(std::fs::read(dir.path().join("adapter_config.json")).unwrap(), b"{\"r\": 8}");
        assert_eq!(std::fs::read(dir.path().join("weights/ü.bin")).unwrap(), big);
    }
}
