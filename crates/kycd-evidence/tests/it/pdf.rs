use crate::common::*;
use kycd_evidence::*;
use std::process::Command;

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn report_pdf_paginates_embeds_fonts_and_has_a_text_layer() {
    for tool in ["pdfinfo", "pdftotext", "pdftoppm", "pdffonts"] {
        require_tool(tool, "poppler-utils");
    }
    let s = sample(40);
    let jti = "evj_Test0000000000000000000";
    let pdf = render_pdf(&s.model, &s.image_refs(), jti).unwrap();
    let dir = scratch("pdf");
    let path = dir.join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let path_s = path.to_str().unwrap();

    let info = run("pdfinfo", &[path_s]);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in:\n{info}"));
    assert!(pages >= 2, "expected several pages, got {pages}");
    let size = info.lines().find(|l| l.starts_with("Page size:")).unwrap_or_default();
    assert!(size.contains("(A4)"), "not A4: {size}");
    assert!(
        info.contains(&s.model.verification_id),
        "title should name the verification:\n{info}"
    );

    let fonts = run("pdffonts", &[path_s]);
    assert!(fonts.contains("DejaVuSans") && fonts.contains("DejaVuSans-Bold"), "{fonts}");
    for line in fonts.lines().filter(|l| l.contains("DejaVu")) {
        assert!(line.split_whitespace().any(|w| w == "yes"), "font not embedded: {line}");
    }

    let text = run("pdftotext", &["-layout", path_s, "-"]);
    for needle in [
        s.model.verification_id.as_str(),
        s.model.tenant.id.as_str(),
        "Approved",
        "Northwind Bank plc",
        "Erika Mustermann",
        "T220001293",
        "face_match",
        "similarity: 0.612",
        jti,
        "Page 1 of",
    ] {
        assert!(text.contains(needle), "{needle:?} is not in the text layer");
    }
    for c in &s.model.captures {
        assert!(text.contains(&c.sha256), "SHA-256 of {} is not in the text layer", c.file_id);
        assert!(text.contains(&c.file_id));
    }
    // Every timeline row made it, across pages.
    assert_eq!(text.matches("verification.created").count(), 5);

    let prefix = dir.join("page");
    run("pdftoppm", &["-r", "50", "-png", path_s, prefix.to_str().unwrap()]);
    let pngs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
        .collect();
    assert_eq!(pngs.len(), pages);
    for png in pngs {
        let img = image::open(png.path()).unwrap().to_rgb8();
        // A4 at 50 dpi is 413 × 585 pixels; a blank page would be one colour.
        assert!(
            (413..=414).contains(&img.width()) && (584..=585).contains(&img.height()),
            "{}x{}",
            img.width(),
            img.height()
        );
        let first = img.get_pixel(0, 0);
        assert!(img.pixels().any(|p| p != first), "{} is blank", png.path().display());
    }
    assert!(pdf.len() < 2 << 20, "the report should stay small, it is {} bytes", pdf.len());
}

#[test]
fn an_anonymized_verification_renders_without_personal_data() {
    require_tool("pdftotext", "poppler-utils");
    let mut s = sample(3);
    s.model = EvidenceModel::from_json_slice(
        &serde_json::to_vec(&{
            let mut v = serde_json::to_value(&s.model).unwrap();
            v["person"] = serde_json::json!({});
            v["declared"] = serde_json::json!({});
            v["redacted"] = true.into();
            for c in v["captures"].as_array_mut().unwrap() {
                c["available"] = false.into();
            }
            v
        })
        .unwrap(),
    )
    .unwrap();
    let pdf = render_pdf(&s.model, &[], "evj_x").unwrap();
    let path = scratch("pdf-redacted").join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    let text = run("pdftotext", &[path.to_str().unwrap(), "-"]);
    assert!(!text.contains("Erika"));
    assert!(text.contains("anonymized"));
    assert!(text.contains("Image erased"));
}
