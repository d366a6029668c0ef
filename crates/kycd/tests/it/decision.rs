//! The automated decision end to end: a synthetic passport photo (OCR-B zone with valid
//! check digits, rendered by kycd-checks' generator) is uploaded, processed by the real
//! pipeline (quality, MRZ OCR, document rules) and decided by policy.
//!
//! Needs the OCR models (scripts/fetch-models, KYCD_MODEL_DIR) and fonts-ocr-b; scripts/test
//! installs both. Without them the tests say so and pass, except under CI, where they fail.

use crate::flow::{create_attempt, create_verification, upload, wait_status};
use crate::harness::{Server, str_field};
use kycd_testkit::synth_doc::{Distortion, DocFormat, OcrB, sample};
use serde_json::{Value, json};
use std::time::Duration;

/// A passport photo the OCR reads exactly, and the holder's data as the MRZ states it.
pub fn passport() -> Option<(Vec<u8>, String, String)> {
    let font = font_and_models(kycd_checks::ocr::models_present(&kycd_checks::ocr::default_model_dir()))?;
    // Seed 3's clean passport reads exactly (see the MRZ corpus tests).
    Some(passport_parts(sample(&font, DocFormat::Passport, Distortion::Clean, 3)))
}

/// The OCR-B font when `models` (the models a test needs are present) and the font is
/// installed; otherwise `None` after saying why (a failure under CI).
pub fn font_and_models(models: bool) -> Option<OcrB> {
    let font = OcrB::load_default();
    let missing = match (&font, models) {
        (Ok(_), true) => None,
        (Err(e), _) => Some(e.to_string()),
        (_, false) => Some("models are missing: run scripts/fetch-models --test-faces".to_owned()),
    };
    if let Some(why) = missing {
        assert!(std::env::var_os("CI").is_none(), "CI must run the model tests: {why}");
        eprintln!("SKIPPED: {why}");
        return None;
    }
    font.ok()
}

/// A photographed passport as a JPEG, with its holder's name and birth date.
pub fn passport_parts(s: kycd_testkit::synth_doc::Sample) -> (Vec<u8>, String, String) {
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageLuma8(s.image)
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let d = &s.doc.data;
    let name = format!("{} {}", d.given_names.replace('<', " "), d.surname.replace('<', " "));
    let today = chrono::Utc::now().date_naive();
    let birth = kycd_checks::mrz::birth_date(&d.birth_date, today).unwrap();
    (jpeg, name, birth.to_string())
}

async fn decide(server: &Server, declared: Value, policy: Value, doc: &[u8], want: &str) -> Value {
    let api = server.admin();
    let v = create_verification(
        &api,
        &json!({"applicant": {"full_name": "Synthetic Holder"}, "declared_data": declared, "policy": policy}),
    )
    .await;
    let vid = str_field(&v, "id");
    create_attempt(&api, &vid).await;
    let c = upload(&api, &vid, "document_front", "image/jpeg", doc).await;
    assert_eq!(
        c["feedback"]["accepted"], true,
        "the synthetic passport passes the quality checks: {c}"
    );
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(&api, &vid, want, Duration::from_secs(180)).await
}

/// The check `name` of a verification (panics naming it when absent).
pub(crate) fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v}"))
}

#[tokio::test]
async fn a_matching_passport_is_approved_a_mismatch_declined_or_reviewed_an_unmatched_selfie_reviewed() {
    let Some((doc, name, birth)) = passport() else { return };
    let server = Server::start().await;
    let passport_only = json!({"accepted_document_types": ["passport"], "selfie_required": false, "min_age": null});

    let v = decide(
        &server,
        json!({"full_name": name, "birth_date": birth}),
        passport_only.clone(),
        &doc,
        "approved",
    )
    .await;
    let mrz = check(&v, "mrz");
    assert_eq!(mrz["passed"], true, "{mrz}");
    assert_eq!(mrz["figures"]["format"], "td3", "{mrz}");
    for name in [
        "document_not_expired",
        "name_consistency",
        "birth_date_consistency",
        "document_allowed",
    ] {
        assert_eq!(check(&v, name)["passed"], true, "{name}: {v}");
    }
    let text = v["checks"].to_string();
    assert!(!text.contains(&birth), "check figures carry no personal data: {text}");
    let mrz = &v["document_data"]["mrz"];
    assert_eq!(mrz["valid"], true, "{v}");
    assert_eq!(mrz["fields"]["birth_date"], birth.as_str(), "{v}");
    assert_eq!(mrz["lines"].as_array().map(Vec::len), Some(2), "{v}");

    // Another name: names carry no check digit (a misread letter looks the same), so a
    // person decides. Another birth date is protected by its check digit: declined.
    let v = decide(
        &server,
        json!({"full_name": "Quentin Otherperson", "birth_date": birth}),
        passport_only.clone(),
        &doc,
        "review_required",
    )
    .await;
    assert_eq!(check(&v, "name_consistency")["passed"], false, "{v}");
    let v = decide(
        &server,
        json!({"full_name": name, "birth_date": "1901-01-01"}),
        passport_only.clone(),
        &doc,
        "declined",
    )
    .await;
    assert_eq!(check(&v, "birth_date_consistency")["passed"], false, "{v}");

    // The default policy wants a selfie; this passport's photo is a drawn silhouette, so
    // no face is found to compare with and a person decides.
    let api = server.admin();
    let v = create_verification(
        &api,
        &json!({"applicant": {"full_name": name}, "declared_data": {"full_name": name, "birth_date": birth},
                "policy": {"accepted_document_types": ["passport"], "min_age": null}}),
    )
    .await;
    let vid = str_field(&v, "id");
    create_attempt(&api, &vid).await;
    upload(&api, &vid, "document_front", "image/jpeg", &doc).await;
    upload(&api, &vid, "selfie", "image/png", &crate::harness::selfie_png(7)).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    let v = wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    assert_eq!(check(&v, "mrz")["passed"], true, "{v}");
    assert_eq!(check(&v, "face_match")["figures"]["outcome"], "inconclusive", "{v}");
}

#[tokio::test]
async fn a_blurred_capture_asks_for_a_retry_and_an_underage_holder_is_declined() {
    let Some((doc, name, birth)) = passport() else { return };
    let server = Server::start().await;
    let api = server.admin();
    // A photo without a readable document: blurry and no zone → retry while attempts remain.
    let blurred = kycd_testkit::synth::jpeg(
        &kycd_testkit::synth::Scene {
            width: 1600,
            height: 1200,
            blur: 10,
            ..Default::default()
        },
        85,
    );
    let v = create_verification(
        &api,
        &json!({"applicant": {"full_name": name}, "policy": {"accepted_document_types": ["passport"], "selfie_required": false}}),
    )
    .await;
    let vid = str_field(&v, "id");
    create_attempt(&api, &vid).await;
    let c = upload(&api, &vid, "document_front", "image/jpeg", &blurred).await;
    assert_eq!(c["feedback"]["accepted"], false, "{c}");
    assert!(c["feedback"]["issues"].to_string().contains("blurry"), "{c}");
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    let v = wait_status(&api, &vid, "retry_required", Duration::from_secs(180)).await;
    assert_eq!(check(&v, "image_quality.document_front")["passed"], false, "{v}");

    // The holder is younger than a policy that wants at least 130 years.
    let v = decide(
        &server,
        json!({"full_name": name, "birth_date": birth}),
        json!({"accepted_document_types": ["passport"], "selfie_required": false, "min_age": 130}),
        &doc,
        "declined",
    )
    .await;
    assert_eq!(check(&v, "holder_age")["passed"], false, "{v}");
}

/// An iPhone-style HEIC photo of the passport is converted at upload, stored as a JPEG
/// (what is served back is a JPEG, never the HEIC bytes) and decided like any photo: the
/// zone is read and the data approved. A cut-off HEIC is refused as damaged, keeping nothing.
#[tokio::test]
async fn a_heic_passport_photo_is_stored_as_jpeg_and_decided() {
    let Some((doc, name, birth)) = passport() else { return };
    let rgb = image::load_from_memory(&doc).unwrap().into_rgb8();
    let heic = kycd_checks::heic::encode_heic(&rgb, 90).unwrap();
    assert!(kycd_checks::heic::is_heif(&heic));
    let server = Server::start().await;
    let api = server.admin();
    let v = create_verification(
        &api,
        &json!({"applicant": {"full_name": "Synthetic Holder"}, "declared_data": {"full_name": name, "birth_date": birth},
                "policy": {"accepted_document_types": ["passport"], "selfie_required": false, "min_age": null}}),
    )
    .await;
    let vid = str_field(&v, "id");
    create_attempt(&api, &vid).await;
    let path = format!("/v1/verifications/{vid}/captures?kind=document_front");
    api.post_raw(&path, "image/heic", heic[..heic.len() / 3].to_vec())
        .await
        .problem(422, "unprocessable-image");
    let c = upload(&api, &vid, "document_front", "image/heic", &heic).await;
    assert_eq!(c["media_type"], "image/jpeg", "{c}");
    assert_eq!(c["feedback"]["accepted"], true, "{c}");
    assert_eq!(
        (c["feedback"]["width"].as_u64(), c["feedback"]["height"].as_u64()),
        (Some(u64::from(rgb.width())), Some(u64::from(rgb.height()))),
        "{c}"
    );
    let caps = crate::flow::data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert_eq!(caps.len(), 1, "the refused HEIC left nothing: {caps:?}");
    let file = api.get(&format!("/v1/files/{}", str_field(&c, "id"))).await;
    file.expect(200);
    assert_eq!(&file.body[..3], b"\xFF\xD8\xFF", "served as the stored JPEG");
    let stored = image::load_from_memory(&file.body).unwrap();
    assert_eq!((stored.width(), stored.height()), rgb.dimensions());
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    let v = wait_status(&api, &vid, "approved", Duration::from_secs(180)).await;
    assert_eq!(check(&v, "mrz")["passed"], true, "{v}");
}
