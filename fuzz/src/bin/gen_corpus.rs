//! Writes the seed corpus under fuzz/corpus/<target>/ from the project's own generators:
//! synthetic MRZ lines and AAMVA payloads, tiny images made with the `image` crate, and
//! tokens signed with the fixed test key, request bodies shaped like the dialects' SDKs
//! send them, multipart uploads, and webhook signature inputs. No real person's data. Run from the repo root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen-corpus`.

use kycd_checks::aamva::build_payload;
use kycd_checks::mrz::{MrzData, MrzFormat, compose};
use kycd_evidence::{EvidenceClaims, IdentityClaims};
use std::{fs, io::Cursor, path::Path};

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn mrz() {
    for (i, format) in [MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3, MrzFormat::MrvA, MrzFormat::MrvB]
        .into_iter()
        .enumerate()
    {
        let code = if matches!(format, MrzFormat::MrvA | MrzFormat::MrvB) {
            "V"
        } else if format == MrzFormat::Td3 {
            "P"
        } else {
            "ID"
        };
        let d = MrzData {
            format,
            document_code: code.into(),
            issuing_state: "UTO".into(),
            surname: "SPECIMEN".into(),
            given_names: "TEST SAMPLE".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            birth_date: "740812".into(),
            sex: 'F',
            expiry_date: "300415".into(),
            optional_data: "ZE184226B".into(),
            optional_data_2: String::new(),
        };
        put("mrz", &format!("seed-{i}"), compose(&d).join("\n").as_bytes());
    }
}

fn aamva() {
    let fields: &[(&str, &str)] = &[
        ("DCS", "SPECIMEN"),
        ("DAC", "TEST"),
        ("DBB", "08121974"),
        ("DBA", "04152030"),
        ("DAQ", "T1234567"),
        ("DCG", "USA"),
        ("DBC", "2"),
    ];
    for (i, version) in [1u8, 3, 8, 10].into_iter().enumerate() {
        put(
            "aamva",
            &format!("seed-{i}"),
            &build_payload("636000", version, 0, &[("DL", fields)]),
        );
    }
}

fn image() {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(16, 12, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 20) as u8, 128])
    }));
    for (name, format) in [
        ("png", image::ImageFormat::Png),
        ("jpeg", image::ImageFormat::Jpeg),
        ("webp", image::ImageFormat::WebP),
    ] {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        put("image", &format!("seed.{name}"), out.get_ref());
    }
    put("image", "seed.heic", &kycd_checks::heic::encode_heic(&img.to_rgb8(), 50).expect("encode HEIC"));
}

fn jwt() {
    let signer = kycd_fuzz::test_signer();
    let claims = EvidenceClaims {
        iss: "https://kycd.example".into(),
        sub: "idv_fuzz".into(),
        aud: "ten_fuzz".into(),
        iat: 1_796_169_600,
        jti: "jti_fuzz".into(),
        outcome: "approved".into(),
        identity: Some(IdentityClaims {
            full_name: Some("Test Specimen".into()),
            birth_date: Some("1974-08-12".into()),
            document_number: None,
        }),
        files: vec![],
    };
    put("jwt", "seed-valid", signer.sign(&claims).expect("sign").as_bytes());
    put("jwt", "seed-none", b"eyJhbGciOiJub25lIn0.e30.");
}

fn dialect_json() {
    use serde_json::json;
    let bodies = [
        json!({"callback_url": "https://example.test/done", "state": "s-1", "time_to_live": "1d12h",
               "customer_information": {"organization_name": "Example", "external_user_id": "user-1"},
               "mock_behavior": {"recommendation": "ALLOW", "processing_time": "5s", "force_retry": true},
               "start": {"consent": {"granted": true, "document_id": "terms-1"}}}),
        json!({"image": {"format": "jpg", "image_type": "selfie", "content": "aGVsbG8=", "image_id": "img-1"},
               "device_info": {"model": "Pixel", "os": "Android", "cameras": [{"label": "back"}]}}),
        json!({"image": {"format": "jpg", "image_type": "document_front", "content": "data:image/png;base64,aGk",
                         "capture_margins": {"top": 0.1, "bottom": 0.1, "left": 0.05, "right": 0.05}}}),
        json!({"external_applicant_id": "ext-1", "email": "specimen@example.test",
               "external_applicant_name": "Test Specimen"}),
        json!({"applicant_id": "aplt_abc", "user_journey_id": "usj_01heqt35wmjrf3wjd7w1wz33p2",
               "declared_data": {"name": "Test Specimen", "birth_date": "1974-08-12", "email": "specimen@example.test",
                                 "phone_number": {"country_code": "+44", "number": "7700900123"},
                                 "address": {"address_line1": "1 Test Street", "city": "Testville", "country": "GB"}},
               "redirect_url": "https://example.test/back"}),
        json!({"redirect_url": "https://example.test/back", "phone_number": {"country_code": "+33", "number": "5555550102"},
               "client_information": {"pre_selected_residence_country": "FR", "pre_selected_document_type": "passport",
                                      "pre_selected_language": "fr-FR"}}),
        json!({"emailId": "signer@example.test", "order": 1, "onBehalfOf": "owner@example.test",
               "fileId": "file_abc123", "redirectUrl": "https://example.test/signed"}),
        json!({"CountryCode": "+1", "PhoneNumber": "5555550100"}),
        json!({"grant_type": "client_credentials", "client_id": "key_abc", "client_secret": "kycd_test_secret"}),
        json!({"external_applicant_id": "ext-2", "full_name": "Test Specimen", "email": "specimen@example.test",
               "phone_country_code": "+44", "phone_number": "7700900123", "birth_date": "1974-08-12"}),
        json!({"applicant": {"full_name": "Test Specimen"}, "callback_url": "https://example.test/done",
               "state": "s-2", "time_to_live": 86400, "retention_days": 30}),
        json!({"language": "fr-FR", "country": "de", "document_type": "passport"}),
        json!({"decision": "approve", "reason": "document checked by hand"}),
        json!({"token": "cst_abc"}),
        json!({"url": "https://example.test/hook", "enabled_events": ["*"], "format": "checkout"}),
        json!({"enabled": false, "enabled_events": ["verification.approved"]}),
        json!({"overlap_seconds": 3600}),
        json!({"retention_days": 90, "max_retention_days": 3650, "tombstone_days": 365}),
        json!({"username": "key_abc", "api-key": "kycd_test_secret"}),
        json!({"title": "Contract", "message": "Please sign", "content": "JVBERi0xLjQK", "quality": "QES",
               "legislation": "ZERTES", "callback_success_url": "https://example.test/cb/SKRIBBLE_SIGNATURE_REQUEST_ID",
               "callback_update_url": "https://example.test/cb/SKRIBBLE_SIGNATURE_ID",
               "signatures": [{"account_email": "signer@example.test", "sequence": 1, "notify": false,
                               "signer_identity_data": {"email_address": "signer@example.test", "first_name": "Test",
                                                        "last_name": "Specimen", "mobile_number": "+41791234567",
                                                        "language": "de"}}]}),
    ];
    for (i, b) in bodies.iter().enumerate() {
        put(
            "dialect_json",
            &format!("seed-{i:02}"),
            serde_json::to_string(b).expect("json").as_bytes(),
        );
    }
    put(
        "dialect_json",
        "seed-form",
        b"grant_type=client_credentials&client_id=key_abc&client_secret=s%20x",
    );
    put("dialect_json", "seed-query", b"documentId=doc-1&skip=10&limit=20");
    put("dialect_json", "seed-login-form", b"username=key_abc&api-key=kycd_test_s%20x");
}

fn multipart() {
    let jpeg_like = b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9";
    let body = kycd_fuzz::multipart_body("b0undary", &[("csrf", None, b"token-1"), ("file", Some("capture.jpg"), jpeg_like)]);
    let mut raw = b"\x00multipart/form-data; boundary=b0undary\n".to_vec();
    raw.extend_from_slice(&body);
    put("multipart", "seed-raw", &raw);
    let mut quoted = b"\x00multipart/form-data; boundary=\"b0undary\"; charset=utf-8\n".to_vec();
    quoted.extend_from_slice(&body);
    put("multipart", "seed-raw-quoted", &quoted);
    let mut structured = vec![1u8];
    structured.extend_from_slice(jpeg_like);
    put("multipart", "seed-file", &structured);
}

fn webhook_signature() {
    // Fields: key, old key, id, timestamp (LE), flip, header/secret text; then the body.
    let field = |out: &mut Vec<u8>, f: &[u8]| {
        out.push(f.len() as u8);
        out.extend_from_slice(f);
    };
    let mut a = Vec::new();
    field(&mut a, &[0x42; 24]);
    field(&mut a, &[0x17; 24]);
    field(&mut a, b"evt_2bXy9q");
    field(&mut a, &1_796_169_600i64.to_le_bytes());
    field(&mut a, &[3, 1]);
    field(&mut a, b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    a.extend_from_slice(br#"{"type":"verification.approved","data":{"id":"idv_abc"}}"#);
    put("webhook_signature", "seed-rotation", &a);
    let mut b = Vec::new();
    field(&mut b, &[0x42; 24]);
    field(&mut b, &[0x42; 24]);
    field(&mut b, b"msg_p5jXN8AQM9LWM0D4loKWxJek");
    field(&mut b, &1_614_265_330i64.to_le_bytes());
    field(&mut b, &[0, 0]);
    field(&mut b, b"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v2,x");
    b.extend_from_slice(br#"{"test": 2432232314}"#);
    put("webhook_signature", "seed-one-secret", &b);
}

fn main() {
    mrz();
    aamva();
    image();
    jwt();
    dialect_json();
    multipart();
    webhook_signature();
}
