//! The 12-megapixel (4000 × 3000) synthetic photos the benches and the `mrz_time` example
//! measure on, made here once so that every measure sees the same scenes.

// Each bench uses only some of these.
#![allow(dead_code)]

use kycd_testkit::synth::Scene;
use kycd_testkit::synth_barcode::BackScene;

/// A document on a table, with sensor noise of `noise` grey levels.
pub fn document_12mp(noise: u8) -> Scene {
    Scene {
        width: 4000,
        height: 3000,
        noise,
        ..Scene::default()
    }
}

/// A licence back filling 0.7 of the frame's width, turned `angle_deg`, slightly noisy
/// and blurred.
pub fn licence_back_12mp(angle_deg: f32, seed: u32) -> BackScene {
    BackScene {
        width: 4000,
        height: 3000,
        card_width: 0.7,
        angle_deg,
        noise: 4,
        blur: 1,
        seed,
        ..BackScene::default()
    }
}
