//! Fraud signals across verifications: the same document picture in another applicant's
//! verification (byte for byte, or re-encoded) raises `document_reused` and sends it to a
//! person; the same applicant verifying again does not; an anonymized verification's
//! pictures are matched by nothing. A file that names an image editor raises
//! `image_provenance.document_front`. Neither declines.

use crate::decision::check;
use crate::flow::{create_attempt, create_verification, upload, wait_status};
use crate::harness::{Api, Server, document_jpeg, str_field};
use serde_json::{Value, json};
use std::time::Duration;

/// Verify `document` for an applicant (new when `applicant` is `None`) up to review.
async fn verify(api: &Api, applicant: Option<&str>, name: &str, document: &[u8]) -> Value {
    let mut body = json!({"declared_data": {"full_name": name}, "delivery": "none", "policy": {"selfie_required": false}});
    match applicant {
        Some(id) => body["applicant_id"] = json!(id),
        None => body["applicant"] = json!({"full_name": name}),
    }
    let v = create_verification(api, &body).await;
    let vid = str_field(&v, "id");
    create_attempt(api, &vid).await;
    upload(api, &vid, "document_front", "image/jpeg", document).await;
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.ok();
    wait_status(api, &vid, "review_required", Duration::from_secs(180)).await
}

#[tokio::test]
async fn reused_and_edited_documents_are_flagged_for_review() {
    let server = Server::start().await;
    let api = server.admin();
    let doc = document_jpeg(501);

    let first = verify(&api, None, "Ana First", &doc).await;
    assert_eq!(check(&first, "document_reused")["passed"], true, "{first}");
    assert_eq!(check(&first, "image_provenance.document_front")["passed"], true, "{first}");
    let first_id = str_field(&first, "id");

    // Another applicant, the very same file: flagged, naming the first verification.
    let copy = verify(&api, None, "Bea Copy", &doc).await;
    let reused = check(&copy, "document_reused");
    assert_eq!(reused["passed"], false, "{copy}");
    assert_eq!(reused["figures"]["outcome"], "review", "{copy}");
    let m = &reused["figures"]["matches"][0];
    assert_eq!(m["other_verification_id"], first_id.as_str(), "{copy}");
    assert_eq!(m["exact_copy"], true, "{copy}");

    // The same picture decoded and saved again at another quality: still the same picture.
    let img = image::load_from_memory(&doc).unwrap();
    let mut resaved = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut resaved, 70)
        .encode_image(&img)
        .unwrap();
    assert_ne!(resaved, doc);
    let recoded = verify(&api, None, "Cid Recode", &resaved).await;
    let reused = check(&recoded, "document_reused");
    assert_eq!(reused["passed"], false, "a re-encoding is the same picture: {recoded}");
    assert_eq!(reused["figures"]["matches"][0]["exact_copy"], false, "{recoded}");

    // A different photo is not (document_jpeg's seed only changes the sensor noise: a
    // different framing is a different picture); nor is the first applicant verifying again.
    let different = kycd_testkit::synth::jpeg(
        &kycd_testkit::synth::Scene {
            width: 1200,
            height: 800,
            centre: (0.42, 0.56),
            card_width: 0.6,
            angle_deg: -7.0,
            ..Default::default()
        },
        88,
    );
    let other = verify(&api, None, "Dan Other", &different).await;
    assert_eq!(check(&other, "document_reused")["passed"], true, "{other}");
    let again = verify(&api, Some(&str_field(&first, "applicant_id")), "Ana First", &doc).await;
    let mine = check(&again, "document_reused");
    let foreign: Vec<&Value> = mine["figures"]["matches"]
        .as_array()
        .map(|a| a.iter().filter(|m| m["other_verification_id"] == first_id.as_str()).collect())
        .unwrap_or_default();
    assert!(
        foreign.is_empty(),
        "the applicant's own earlier verification is not a reuse: {again}"
    );

    // Once the earlier ones are anonymized, their pictures match nothing.
    for v in [&first, &copy, &recoded, &again] {
        let id = str_field(v, "id");
        api.post_empty(&format!("/v1/verifications/{id}/cancel")).await;
        api.post_empty(&format!("/v1/verifications/{id}/anonymize")).await.ok();
    }
    let after = verify(&api, None, "Eve After", &doc).await;
    assert_eq!(check(&after, "document_reused")["passed"], true, "{after}");

    // A file that names an image editor in its EXIF: a person looks, nothing is declined.
    let edited = kycd_testkit::synth::with_exif(&document_jpeg(900), &[(0x0131, "Adobe Photoshop 25.0")]);
    let v = verify(&api, None, "Fay Edited", &edited).await;
    let p = check(&v, "image_provenance.document_front");
    assert_eq!(p["passed"], false, "{v}");
    assert!(
        p["figures"]["labels"].as_array().unwrap().contains(&json!("edited_with_software")),
        "{v}"
    );
    assert!(
        p["figures"]["evidence"]["edited_with_software"].to_string().contains("Photoshop"),
        "{v}"
    );
}
