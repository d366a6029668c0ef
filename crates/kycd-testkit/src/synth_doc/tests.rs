use super::*;
use chrono::NaiveDate;

#[test]
fn identities_have_valid_zones_and_are_reproducible() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    for seed in 0..200 {
        for format in [DocFormat::Passport, DocFormat::IdCard] {
            let d = random_identity(format, seed);
            let refs: Vec<&str> = d.lines.iter().map(String::as_str).collect();
            let r = mrz::parse_lines(&refs, today).unwrap();
            assert!(r.valid, "{:?}", d.lines);
            assert_eq!(r.format, format.mrz_format());
            assert_eq!(random_identity(format, seed).lines, d.lines);
        }
    }
}

#[test]
fn french_identity_cards_have_valid_zones_of_their_own_layout() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    for seed in 0..200 {
        let d = random_identity(DocFormat::FrenchId, seed);
        let refs: Vec<&str> = d.lines.iter().map(String::as_str).collect();
        let r = mrz::parse_lines(&refs, today).unwrap();
        assert!(r.valid, "{:?}", d.lines);
        assert_eq!(r.format, MrzFormat::FrenchId);
        assert!(d.lines[0].starts_with("IDFRA") && d.lines.iter().all(|l| l.len() == 36));
        assert_eq!(r.fields.document_number, d.data.document_number);
        assert_eq!(r.fields.surname, d.data.surname);
        assert_eq!(r.fields.given_names, d.data.given_names);
    }
}

#[test]
fn blur_has_the_requested_spread() {
    for sigma in [0.7f32, 1.5, 2.5] {
        let mut p = Plane::new(101, 1, 0.0);
        p.px[50] = 1000.0;
        // One row: the vertical passes leave it unchanged.
        p.gaussian(sigma);
        let total: f32 = p.px.iter().sum();
        let var: f32 = p.px.iter().enumerate().map(|(i, v)| v * (i as f32 - 50.0).powi(2)).sum::<f32>() / total;
        assert!((total - 1000.0).abs() < 1.0, "{total}");
        assert!((var.sqrt() - sigma).abs() < 0.15 * sigma, "σ {sigma}: got {}", var.sqrt());
    }
}

#[test]
fn photographs_are_reproducible_and_show_the_document() {
    let Ok(font) = OcrB::load_default() else {
        eprintln!("skipping: OCR-B font missing (apt-get install fonts-ocr-b)");
        assert!(std::env::var_os("CI").is_none(), "CI needs fonts-ocr-b");
        return;
    };
    let mut cam = Camera::for_distortion(Distortion::Clean, 3);
    cam.width = 400;
    cam.height = 300;
    let doc = random_identity(DocFormat::IdCard, 3);
    let flat = render_document(&font, &doc, 5.0, 3);
    assert_eq!(flat.dimensions(), (428, 270));
    let a = photograph(&flat, &cam);
    let b = photograph(&flat, &cam);
    assert_eq!(a, b);
    // The document (light paper) is brighter than most tables at the frame centre.
    let centre = a.get_pixel(200, 150)[0];
    assert!(centre > 100, "{centre}");
}
