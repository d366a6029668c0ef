#![no_main]
//! AAMVA DL/ID payloads (the bytes a PDF417 decode yields).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kycd_checks::aamva::parse(data);
});
