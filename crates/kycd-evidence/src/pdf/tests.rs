use super::*;

#[test]
fn figures_are_flattened_for_people() {
    let v = serde_json::json!({"similarity": 0.6123, "front": {"width": 1600}, "issues": ["blur", "glare"], "ok": true});
    assert_eq!(
        figures_text(&v),
        "front.width: 1600; issues: blur, glare; ok: yes; similarity: 0.612"
    );
    assert_eq!(human_size(1536), "2 KB");
    assert_eq!(human_size(3 << 20), "3.0 MB");
}

#[test]
fn renders_a_pdf_even_with_missing_and_broken_images() {
    let m = crate::model::tests::sample_model(3);
    let ids: Vec<&str> = m.captures.iter().map(|c| c.file_id.as_str()).collect();
    let pdf = render_pdf(&m, &[(ids[0], b"not an image")], "evj_test").unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
}
