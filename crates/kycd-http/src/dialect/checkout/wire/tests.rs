use super::*;
use serde_json::json;

fn obj(v: Value) -> Obj {
    v.as_object().unwrap().clone()
}

fn codes(e: CheckoutError) -> Vec<String> {
    e.codes
}

#[test]
fn bodies() {
    assert!(json_object(b"").unwrap().is_empty());
    assert_eq!(json_object(b"{x").unwrap_err().status.as_u16(), 400);
    assert_eq!(json_object(b"[1]").unwrap_err().status.as_u16(), 422);
}

#[test]
fn verification_requests_name_every_bad_field() {
    let e = create_verification(&obj(json!({}))).err().unwrap();
    assert_eq!(e.status.as_u16(), 422);
    assert_eq!(codes(e), vec!["applicant_id_required", "declared_data_required"]);
    let e = create_verification(&obj(json!({
        "applicant_id": "idv_x",
        "declared_data": {"name": "A", "birth_date": "02/10/1984", "email": "no", "phone_number": {"country_code": "33", "number": "1"},
            "address": {"country": "France"}},
        "user_journey_id": "journey"
    })))
    .err()
    .unwrap();
    assert_eq!(
        codes(e),
        vec![
            "applicant_id_invalid",
            "declared_data_name_invalid",
            "declared_data_birth_date_invalid",
            "declared_data_email_invalid",
            "declared_data_phone_number_invalid",
            "declared_data_address_country_invalid",
            "user_journey_id_invalid"
        ]
    );
    let ok = create_verification(&obj(json!({
        "applicant_id": "aplt_abc",
        "declared_data": {"name": "Hannah Bret", "birth_date": "1984-10-02", "phone_number": {"country_code": "+33", "number": "5555550102"}},
        "user_journey_id": "usj_01heqt35wmjrf3wjd7w1wz33p2"
    })))
    .unwrap();
    assert_eq!(ok.new.declared.full_name.unwrap().expose(), "Hannah Bret");
    assert_eq!(ok.state.user_journey_id.as_deref(), Some("usj_01heqt35wmjrf3wjd7w1wz33p2"));
}

#[test]
fn create_and_open_needs_a_redirect_url() {
    let e = create_and_open(&obj(json!({"declared_data": {"name": "Hannah Bret"}})))
        .err()
        .unwrap();
    assert_eq!(codes(e), vec!["redirect_url_required"]);
    let e = create_and_open(&obj(json!({"declared_data": {"name": "Hannah Bret"}, "redirect_url": "ftp://x"})))
        .err()
        .unwrap();
    assert_eq!(codes(e), vec!["redirect_url_invalid"]);
    let ok = create_and_open(&obj(
        json!({"declared_data": {"name": "Hannah Bret", "email": "h@example.com"}, "redirect_url": "https://example.com/back"}),
    ))
    .unwrap();
    assert!(matches!(ok.create.new.applicant, ApplicantRef::Inline(_)));
}

#[test]
fn attempt_requests() {
    let (state, client) = create_attempt(&obj(json!({
        "redirect_url": "https://example.com",
        "client_information": {"pre_selected_residence_country": "FR", "pre_selected_language": "en-US", "pre_selected_document_type": "Passport"}
    })))
    .unwrap();
    assert_eq!(client.country.as_deref(), Some("FR"));
    assert_eq!(client.document_type, Some(DocumentType::Passport));
    assert_eq!(client.language.as_deref(), Some("en-US"));
    assert_eq!(state.redirect_url.as_deref(), Some("https://example.com"));
    let e = create_attempt(&obj(json!({
        "redirect_url": "https://example.com",
        "client_information": {"pre_selected_residence_country": "fr", "pre_selected_document_type": "passport"}
    })))
    .err()
    .unwrap();
    assert_eq!(
        codes(e),
        vec![
            "client_information_pre_selected_residence_country_invalid",
            "client_information_pre_selected_document_type_invalid"
        ]
    );
}

#[test]
fn pagination() {
    assert_eq!(page_query(None).unwrap(), PageQuery { skip: 0, limit: 10 });
    assert_eq!(page_query(Some("skip=2&limit=5")).unwrap(), PageQuery { skip: 2, limit: 5 });
    assert_eq!(page_query(Some("skip=x")).unwrap_err().status.as_u16(), 400);
    assert_eq!(page_query(Some("limit=1&limit=2")).unwrap_err().status.as_u16(), 400);
    let e = page_query(Some("skip=-1&limit=0")).unwrap_err();
    assert_eq!(e.status.as_u16(), 422);
    assert_eq!(e.codes, vec!["skip_invalid", "limit_invalid"]);
    assert_eq!(page_query(Some("limit=101")).unwrap_err().codes, vec!["limit_invalid"]);
}

#[test]
fn applicants() {
    let a = applicant(
        &obj(json!({"external_applicant_id": "eaplt_1", "email": "h@example.com", "external_applicant_name": "Hannah"})),
        true,
    )
    .unwrap();
    assert_eq!(a.external_applicant_id.unwrap().expose(), "eaplt_1");
    let e = applicant(&obj(json!({"email": 3})), false).err().unwrap();
    assert_eq!(e.codes, vec!["email_invalid"]);
}
