//! The OpenAPI document (generated from the handlers' annotations) and a self-contained
//! HTML rendering of it at `/docs`. Rendered server-side on purpose: the usual Swagger/
//! Redoc pages load scripts from a CDN, which a self-hosted IDV service must not need.

use crate::api;
use crate::dto::*;
use axum::response::Html;
use kycd_core::*;
use std::fmt::Write as _;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "kycd native API", version = "1", description = "Self-hosted identity verification. Authenticate with `Authorization: Bearer kycd_…`. Errors are RFC 9457 problem+json."),
    paths(
        api::create_applicant, api::list_applicants, api::get_applicant, api::update_applicant,
        api::create_verification, api::list_verifications, api::get_verification, api::cancel_verification,
        api::create_attempt, api::list_attempts, api::get_attempt,
        api::upload_capture, api::list_captures, api::get_file,
        api::submit, api::review, api::report, api::anonymize, api::delete_verification,
        api::start_capture_session,
        crate::webhooks_api::create_endpoint, crate::webhooks_api::list_endpoints, crate::webhooks_api::get_endpoint,
        crate::webhooks_api::update_endpoint, crate::webhooks_api::delete_endpoint, crate::webhooks_api::rotate_secret,
        crate::webhooks_api::list_deliveries, crate::webhooks_api::redeliver,
        crate::lifecycle_api::get_retention, crate::lifecycle_api::put_retention, crate::lifecycle_api::get_policy, crate::lifecycle_api::put_policy, crate::lifecycle_api::get_branding, crate::lifecycle_api::put_branding, crate::lifecycle_api::put_legal_hold,
        api::report_pdf, api::evidence_jwt, api::evidence_zip, api::jwks_all, api::jwks_tenant,
    ),
    components(schemas(
        ApplicantInput, ApplicantView, ApplicantList, DeclaredDataDto, ReferenceInput, CreateVerificationRequest,
        VerificationView, VerificationList, CreateAttemptRequest, AttemptView, AttemptList, CaptureView, CaptureList,
        ReviewRequest, CaptureSessionRequest, CaptureSessionView, Decision, ReportView, Problem,
        VerificationStatus, AttemptStatus, DocumentType, CaptureKind, Policy, HostReference, DeliveryChannel,
        CheckResult, Review, ReviewDecision, EventType, RetentionSettings, crate::dto::RetentionView, crate::lifecycle_api::LegalHoldRequest, crate::lifecycle_api::TenantPolicyView, crate::lifecycle_api::BrandingRequest, crate::lifecycle_api::BrandingView, crate::lifecycle_api::LogoView,
        crate::webhooks_api::CreateEndpointRequest, crate::webhooks_api::UpdateEndpointRequest, crate::webhooks_api::RotateSecretRequest,
        crate::webhooks_api::EndpointView, crate::webhooks_api::EndpointList, crate::webhooks_api::DeliveryView, crate::webhooks_api::DeliveryList, ClientInfo, CaptureFeedback, MediaType, TimelineEntry,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let comps = doc.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        doc.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
    }
}

pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn docs_page() -> Html<String> {
    let doc = ApiDoc::openapi();
    let json = serde_json::to_value(&doc).unwrap_or_default();
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kycd API</title>\
         <style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}\
         code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem;overflow:auto}\
         .m{display:inline-block;min-width:4.5rem;font-weight:bold}.op{border-top:1px solid #ddd;padding:.6rem 0}</style>\
         </head><body>",
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p>{}</p>",
        esc(&doc.info.title),
        esc(doc.info.description.as_deref().unwrap_or(""))
    );
    out.push_str("<p>Machine-readable: <a href=\"/v1/openapi.json\">/v1/openapi.json</a> (OpenAPI 3.1).</p><h2>Operations</h2>");
    if let Some(paths) = json.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                let summary = op
                    .get("summary")
                    .or_else(|| op.get("description"))
                    .and_then(|s| s.as_str())
                    .unwrap_or("");
                let _ = write!(
                    out,
                    "<div class=\"op\"><span class=\"m\">{}</span><code>{}</code><p>{}</p>",
                    esc(&method.to_uppercase()),
                    esc(path),
                    esc(summary)
                );
                if let Some(resps) = op.get("responses").and_then(|r| r.as_object()) {
                    let codes: Vec<String> = resps.keys().map(|c| esc(c)).collect();
                    let _ = write!(out, "<p>Responses: {}</p>", codes.join(", "));
                }
                out.push_str("</div>");
            }
        }
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = json.pointer("/components/schemas").and_then(|s| s.as_object()) {
        for (name, schema) in schemas {
            let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(out, "<h3 id=\"{0}\">{0}</h3><pre>{1}</pre>", esc(name), esc(&pretty));
        }
    }
    out.push_str("</body></html>");
    Html(out)
}
