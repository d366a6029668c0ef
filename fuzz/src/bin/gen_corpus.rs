//! Writes the seed corpus under fuzz/corpus/<target>/ from the project's own generators:
//! synthetic MRZ lines and AAMVA payloads, tiny images made with the `image` crate, and
//! tokens signed with the fixed test key. No real person's data. Run from the repo root:
//! `cargo +nightly run --manifest-path fuzz/Cargo.toml --bin gen-corpus`.

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

fn main() {
    mrz();
    aamva();
    image();
    jwt();
}
