//! A 100 MB evidence archive is written and verified as a stream: the process's peak
//! memory must stay flat. Its own test binary, so no other test shares the process and
//! skews the peak (VmHWM is per process).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kycd_evidence::*;
use std::io::{self, Read};
use std::path::PathBuf;

const MB: u64 = 1 << 20;

/// Pseudo-random bytes made on the fly (xorshift64*): `len` bytes, never held at once.
struct Noise {
    state: u64,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is needed to measure memory (Linux only)");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resets the peak-RSS mark where the kernel allows it (Linux ≥ 4.0), so the peak
/// measured afterwards belongs to what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[test]
fn a_100_mb_archive_is_written_and_verified_in_flat_memory() {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v unzip"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`unzip` is not installed; install it with: apt-get install -y unzip (scripts/test does this)"
    );

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kycd-evidence").join("zip-memory");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.zip");

    let (signer, _) = EvidenceSigner::generate().unwrap();
    // Warm up allocator, signer and zip code paths before measuring.
    write_evidence_zip(io::sink(), vec![EvidenceFile::from_bytes("report.json", b"{}".to_vec())], |_| {
        Ok(String::new())
    })
    .unwrap();

    reset_peak();
    let before = status_kb("VmHWM:");
    let files = (0..5u64).map(|i| {
        EvidenceFile::new(
            format!("images/file_big{i}.jpg"),
            Noise {
                state: 0x9e37_79b9_7f4a_7c15 ^ (i + 1),
                left: 20 * MB,
            },
        )
    });
    let files = std::iter::once(EvidenceFile::from_bytes("report.json", b"{\"note\":\"memory test\"}\n".to_vec())).chain(files);
    let out = io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let manifest = write_evidence_zip(out, files, |digests| {
        let claims = EvidenceClaims {
            iss: "https://kycd.example".into(),
            sub: "idv_memorytest".into(),
            aud: "ten_memorytest".into(),
            iat: 1_773_478_800,
            jti: EvidenceClaims::new_jti(),
            outcome: "approved".into(),
            identity: None,
            files: digests.to_vec(),
        };
        signer.sign(&claims)
    })
    .unwrap();
    let after_write = status_kb("VmHWM:");
    let verdict = verify_archive(&path, &signer.jwks()).unwrap();
    let after_verify = status_kb("VmHWM:");

    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 100 * MB, "archive is only {size} bytes");
    assert_eq!(manifest.files.len(), 6);
    assert_eq!(verdict.files.len(), 7);
    let growth_write = (after_write - before) / 1024;
    let growth_verify = (after_verify - before) / 1024;
    eprintln!(
        "archive {} MB; peak RSS grew {growth_write} MB writing, {growth_verify} MB after verifying",
        size / MB
    );
    assert!(growth_write < 30, "writing a 100 MB archive grew peak memory by {growth_write} MB");
    assert!(
        growth_verify < 30,
        "verifying a 100 MB archive grew peak memory by {growth_verify} MB"
    );

    // The probe itself works: touching 40 MB moves the peak by about that much.
    let probe = std::hint::black_box(vec![1u8; 40 * MB as usize]);
    let after_probe = status_kb("VmHWM:");
    drop(probe);
    assert!(
        (after_probe - after_verify) / 1024 >= 35,
        "VmHWM did not see a 40 MB allocation; the measurement is broken"
    );

    let out = std::process::Command::new("unzip").arg("-t").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("No errors detected"),
        "unzip -t failed:\n{stdout}"
    );
    std::fs::remove_file(&path).unwrap();
}
