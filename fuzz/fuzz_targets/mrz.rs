#![no_main]
//! MRZ text (what OCR hands the parser): arbitrary UTF-8, split into lines.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines: Vec<&str> = text.lines().collect();
    let _ = kycd_checks::mrz::parse_lines(&lines, kycd_fuzz::today());
});
