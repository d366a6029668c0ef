//! Face checks end to end through the API: a synthetic passport whose photo is a
//! public-domain test portrait, and selfies of the same or another person, processed by
//! the real models (`scripts/fetch-models --test-faces`).
//!
//! - same person: `face_match` passes with its similarity and thresholds, the decision
//!   approves, and the portrait cut from the document is kept as an encrypted
//!   `document_portrait` capture that the API serves (and refuses as an upload);
//! - another person: `face_match` fails and the verification is never approved;
//! - two people on the selfie: `multiple_faces` feedback on upload, a
//!   `multiple_faces_detected` label, a new capture asked for;
//! - a policy with `selfie_review`: even a match goes to a person.

use crate::decision::check;
use crate::flow::*;
use crate::harness::*;
use kycd_checks::face::{FaceModels, models_present};
use kycd_testkit::synth_doc::{Distortion, sample_with_portrait};
use serde_json::{Value, json};
use std::time::Duration;

struct Doc {
    jpeg: Vec<u8>,
    name: String,
    birth: String,
}

/// A clean passport (seed 3 reads exactly) whose photo is test portrait `who`, or `None`
/// (after saying why) without the models or font outside CI.
fn passport_of(who: usize) -> Option<Doc> {
    let dir = kycd_checks::ocr::default_model_dir();
    let font = crate::decision::font_and_models(models_present(&dir) && kycd_checks::ocr::models_present(&dir))?;
    let models = FaceModels::load(&dir).unwrap();
    let src = test_face(who);
    let face = *models.detector.detect(src).unwrap().first().expect("a face on the test portrait");
    let photo = kycd_testkit::synth_face::portrait(src, &face);
    let (jpeg, name, birth) = crate::decision::passport_parts(sample_with_portrait(&font, Distortion::Clean, 3, &photo));
    Some(Doc { jpeg, name, birth })
}

/// Create, upload the passport and `selfie`, submit; wait for `want`.
async fn verify(api: &Api, doc: &Doc, selfie: &[u8], policy: Value, want: &str) -> (Value, Value) {
    let v = create_verification(
        api,
        &json!({"applicant": {"full_name": doc.name}, "declared_data": {"full_name": doc.name, "birth_date": doc.birth},
                "policy": policy}),
    )
    .await;
    let vid = str_field(&v, "id");
    create_attempt(api, &vid).await;
    upload(api, &vid, "document_front", "image/jpeg", &doc.jpeg).await;
    let s = upload(api, &vid, "selfie", "image/png", selfie).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    (wait_status(api, &vid, want, Duration::from_secs(180)).await, s)
}

fn passport_policy() -> Value {
    json!({"accepted_document_types": ["passport"], "min_age": null})
}

#[tokio::test]
async fn the_same_person_is_approved_with_the_portrait_kept_and_another_person_is_not() {
    let Some(doc) = passport_of(0) else { return };
    let server = Server::start().await;
    let api = server.admin();

    let (v, selfie) = verify(&api, &doc, &selfie_of(0, 11), passport_policy(), "approved").await;
    assert_eq!(selfie["feedback"]["accepted"], true, "{selfie}");
    assert_eq!(selfie["feedback"]["issues"], json!([]), "a face was found: no note: {selfie}");
    let m = check(&v, "face_match");
    assert_eq!(m["passed"], true, "{m}");
    let sim = m["figures"]["similarity"].as_f64().unwrap();
    assert!(sim >= 0.5, "{m}");
    assert_eq!(m["figures"]["match_threshold"], 0.5, "{m}");
    assert_eq!(m["figures"]["mismatch_threshold"], 0.3, "{m}");
    assert_eq!(check(&v, "face_found.document_front")["passed"], true, "{v}");
    assert_eq!(check(&v, "face_found.selfie")["figures"]["faces"], 1, "{v}");

    // The portrait cut from the document: listed, served as a JPEG, encrypted at rest.
    let vid = str_field(&v, "id");
    let list = api.get(&format!("/v1/verifications/{vid}/captures")).await.ok();
    let portrait = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "document_portrait")
        .unwrap_or_else(|| panic!("no document_portrait capture: {list}"))
        .clone();
    let fid = str_field(&portrait, "id");
    let img = api.get(&format!("/v1/files/{fid}")).await.expect(200).body.clone();
    assert_eq!(&img[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    let decoded = image::load_from_memory(&img).unwrap();
    assert!(
        decoded.width() > 60 && decoded.width() < 600,
        "a crop, not the document: {}",
        decoded.width()
    );
    let head = &img[..img.len().min(64)];
    for entry in files_under(&server.instance().blob_dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(head.len()).any(|w| w == head),
            "the portrait is stored in clear: {entry:?}"
        );
    }
    // Never an upload.
    let r = api
        .post_raw(
            &format!("/v1/verifications/{vid}/captures?kind=document_portrait"),
            "image/jpeg",
            img.clone(),
        )
        .await;
    assert!(r.status == 400 || r.status == 409 || r.status == 422, "{} {}", r.status, r.text());

    // Another person: the faces are not the same; never approved.
    let (v, _) = verify(&api, &doc, &selfie_of(1, 12), passport_policy(), "review_required").await;
    let m = check(&v, "face_match");
    assert_eq!(m["passed"], false, "{m}");
    assert!(m["figures"]["similarity"].as_f64().unwrap() < 0.5, "{m}");
    assert_eq!(m["figures"]["label"], "face_mismatch", "{m}");

    // A policy that always wants a person for selfies.
    let mut policy = passport_policy();
    policy["selfie_review"] = json!(true);
    let (v, _) = verify(&api, &doc, &selfie_of(0, 13), policy, "review_required").await;
    assert_eq!(check(&v, "face_match")["passed"], true, "{v}");
    assert_eq!(check(&v, "selfie_human_review")["passed"], false, "{v}");
}

#[tokio::test]
async fn two_faces_on_a_selfie_ask_for_a_new_one_and_a_mismatch_declines() {
    let Some(doc) = passport_of(0) else { return };
    let server = Server::start().await;
    let api = server.admin();
    // Two people side by side.
    let (a, b) = (test_face(0), test_face(1));
    let mut both = image::RgbImage::from_pixel(a.width() + b.width(), a.height().max(b.height()), image::Rgb([120, 130, 140]));
    image::imageops::overlay(&mut both, a, 0, 0);
    image::imageops::overlay(&mut both, b, i64::from(a.width()), 0);
    let mut png = std::io::Cursor::new(Vec::new());
    both.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let (v, selfie) = verify(&api, &doc, png.get_ref(), passport_policy(), "retry_required").await;
    assert_eq!(selfie["feedback"]["accepted"], false, "{selfie}");
    assert_eq!(selfie["feedback"]["issues"], json!(["multiple_faces"]), "{selfie}");
    let single = check(&v, "selfie_single_face");
    assert_eq!(single["figures"]["label"], "multiple_faces_detected", "{single}");
    assert_eq!(single["figures"]["faces"], 2, "{single}");

    // A strict policy: anything below 0.9 is someone else, and declines.
    let mut policy = passport_policy();
    policy["face_match_threshold"] = json!(0.95);
    policy["face_mismatch_threshold"] = json!(0.9);
    let (v, _) = verify(&api, &doc, &selfie_of(1, 14), policy, "declined").await;
    assert_eq!(check(&v, "face_match")["figures"]["band"], "mismatch", "{v}");
    // A policy whose thresholds are the wrong way round is refused with the reason.
    let r = api
        .post(
            "/v1/verifications",
            &json!({"applicant": {"full_name": "X"}, "policy": {"face_match_threshold": 0.2, "face_mismatch_threshold": 0.4}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("face_mismatch_threshold"), "{}", r.text());
}

/// An operator who turns face matching off (KYCD_FACE_MATCHING=off): a selfie of the same
/// person is not compared (no face found, no portrait cut), face_match is inconclusive and
/// says why, and the verification goes to a person instead of being approved.
#[tokio::test]
async fn face_matching_off_sends_a_matching_selfie_to_review() {
    let Some(doc) = passport_of(0) else { return };
    let server = Server::start_with_env(&[("KYCD_FACE_MATCHING", "off")]).await;
    let api = server.admin();
    let (v, selfie) = verify(&api, &doc, &selfie_of(0, 11), passport_policy(), "review_required").await;
    assert_eq!(selfie["feedback"]["accepted"], true, "{selfie}");
    let m = check(&v, "face_match");
    assert_eq!(m["passed"], false, "{m}");
    assert!(m["detail"].as_str().unwrap().contains("KYCD_FACE_MATCHING=off"), "{m}");
    assert!(
        !v["checks"].as_array().unwrap().iter().any(|c| c["name"] == "face_found.selfie"),
        "no face is looked for: {v}"
    );
    assert_eq!(check(&v, "mrz")["passed"], true, "the document is still read: {v}");
    let vid = str_field(&v, "id");
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert!(
        !caps.iter().any(|c| c["kind"] == "document_portrait"),
        "no portrait is cut: {caps:?}"
    );
    // Ready without face models in use: they are not needed.
    let ready = server.anon().get("/readyz").await.ok();
    assert_eq!(ready["checks"]["models"], "ok", "{ready}");
}
