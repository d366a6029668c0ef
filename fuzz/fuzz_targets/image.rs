#![no_main]
//! Uploaded image bytes: HEIC conversion, sniffing, header/EXIF inspection, decode-cost estimate, JPEG
//! completeness, and the full decode under the decode memory budget.

use kycd_checks::{ImageLimits, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // kycd catches decoder panics on purpose (decode.rs `guarded`); libFuzzer's hook would
    // abort on them even so. With the default hook back, a panic kycd does not catch
    // still ends in libfuzzer-sys's own catch and abort.
    static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    // Small limits keep each run fast and make the size checks reachable.
    let limits = ImageLimits {
        max_side: 2048,
        max_pixels: 2_000_000,
    };
    // An upload is first normalised (HEIC converted to JPEG by libheif, a C library).
    let _ = kycd_checks::heic::normalise(data.to_vec(), limits);
    let _ = kycd_checks::sniff(data);
    let _ = kycd_checks::jpeg_is_complete(data);
    let _ = kycd_checks::decode_cost(data, limits);
    if let Ok(info) = kycd_checks::inspect(data, limits) {
        let _ = kycd_checks::quality_report(kycd_core::CaptureKind::Selfie, &info);
    }
    if let Ok(img) = decode::decode_full(data, limits) {
        // The budget must hold for whatever the decoder accepted.
        assert!(img.width() <= limits.max_side && img.height() <= limits.max_side);
        assert!(u64::from(img.width()) * u64::from(img.height()) <= limits.max_pixels);
    }
});
