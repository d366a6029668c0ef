//! The OpenAPI document (generated from the handlers' annotations) and a self-contained
//! HTML rendering of it at `/docs`. Rendered server-side on purpose: the usual Swagger/
//! Redoc pages load scripts from a CDN, which a self-hosted IDV service must not need.

use crate::dto::*;
use axum::response::Html;
use kycd_core::*;
use maud::{DOCTYPE, PreEscaped, html};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "kycd native API", version = "1", description = "Self-hosted identity verification: create a verification for an applicant, let the person capture their document and selfie (or upload the images yourself), and receive the decision by webhook or by polling.\n\nAuthenticate with `Authorization: Bearer kycd_…` (an API key from `kycd apikey create`, or the admin key printed at the first start). Keys have a scope: `integration` for the verification flow, `reviewer` to decide reviews, `admin` for settings.\n\nErrors are RFC 9457 `application/problem+json`: `type` is a stable URL per kind of error, `detail` says what was wrong and what to do. Every answer carries an `X-Request-Id` (yours when you send a well-formed one): quote it to the operator, whose log lines of that request carry it."),
    tags(
        (name = "applicants", description = "The people being verified."),
        (name = "verifications", description = "One identity check of one applicant: its lifecycle, decision, report and erasure."),
        (name = "attempts", description = "Capture links: each attempt is one visit of the person to the capture page."),
        (name = "captures", description = "The images of a verification: upload them yourself, list and download them."),
        (name = "capture", description = "For a capture front end of your own."),
        (name = "evidence", description = "Signed, self-checking exports of a verification, and the public keys that check them."),
        (name = "webhooks", description = "Where kycd sends events, signed, and what it sent."),
        (name = "settings", description = "This account's retention, default policy and capture page branding."),
        (name = "operations", description = "Probes and documents for operators and tools; no API key."),
    ),
    components(schemas(
        ApplicantInput, ApplicantView, ApplicantList, DeclaredDataDto, ReferenceInput, CreateVerificationRequest,
        VerificationView, VerificationList, CreateAttemptRequest, AttemptView, AttemptList, CaptureView, CaptureList,
        LivenessChallengeView, BurstForm,
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
        let bearer = |what: &str| SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build());
        comps.add_security_scheme("api_key", bearer("An API key (`kycd_test_…` or `kycd_live_…`) as a bearer token."));
        comps.add_security_scheme(
            "metrics_token",
            bearer("The operator's metrics token (`KYCD_METRICS_TOKEN`) as a bearer token."),
        );
        doc.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
    }
}

/// This API document
/// The OpenAPI 3.1 document of the native API (what `/docs` shows), for client generators.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content((OpenApiDocument = "application/json")))))]
pub async fn openapi_json() -> axum::Json<&'static serde_json::Value> {
    axum::Json(document())
}

/// An OpenAPI 3.1 document.
#[derive(utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct OpenApiDocument(#[allow(dead_code)] serde_json::Value);

/// The served API document: the annotations' document with what every operation shares
/// added once here: problem+json as the media type of every error, a description for each
/// error status, and the answers any operation can give (401 and 429 for those that take an
/// API key, 400 and 415 for those with a JSON body, 500 for all).
pub fn document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    // The routed operations' document (the body limit does not show in it).
    DOC.get_or_init(|| {
        let (_, doc) = crate::native_routes(0).split_for_parts();
        finish(serde_json::to_value(doc).unwrap_or_default())
    })
}

/// What an error status means, for a person reading the document.
fn error_description(status: &str) -> Option<&'static str> {
    Some(match status {
        "400" => "The body is not valid JSON (problem `invalid-json`): `detail` says where it broke.",
        "401" => "Missing, unknown or revoked API key (problem `unauthorized`): send `Authorization: Bearer kycd_…` with a current key.",
        "403" => "This API key's scope does not allow it (problem `forbidden`): `detail` names the scope needed.",
        "404" => "No such object in this API key's account (problem `not-found`): check the id.",
        "409" => "The object is not in a state that allows this (problem `conflict`): `detail` says which state it is in.",
        "410" => "The data was erased: the verification was anonymized or its capture link used up or expired (problem `gone`).",
        "413" => "The body is larger than the limit (problem `payload-too-large`): `detail` gives the limit.",
        "415" => "The content type is not one this operation takes (problem `unsupported-media-type`).",
        "422" => {
            "The request is well-formed but a value is not acceptable (problem `invalid-request`, `invalid-cursor` or `unprocessable-image`): `detail` names the field and what it takes."
        }
        "429" => "Rate limit reached (problem `rate-limited`): retry after the seconds in `Retry-After`.",
        "500" => "Internal error (problem `internal`): retry later; the server log has the cause under this answer's `X-Request-Id`.",
        "503" => "Not ready (problem `not-ready`): `detail` names the failing check.",
        _ => return None,
    })
}

fn problem_content() -> serde_json::Value {
    serde_json::json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}})
}

fn finish(mut doc: serde_json::Value) -> serde_json::Value {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return doc;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                continue;
            }
            // `security(())` is an empty requirement: the operation takes no credential. No
            // `security` of its own: the document's, an API key (which rate limits count).
            let security = op.get("security").and_then(|s| s.as_array());
            let public = security.is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|r| r.is_empty())));
            let api_key = security.is_none_or(|s| s.iter().any(|r| r.get("api_key").is_some()));
            let json_body = op.pointer("/requestBody/content/application~1json").is_some();
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            let mut shared = vec!["500"];
            if !public {
                shared.push("401");
            }
            if api_key && !public {
                shared.push("429");
            }
            if json_body {
                shared.extend(["400", "415"]);
            }
            for status in shared {
                responses
                    .entry(status)
                    .or_insert_with(|| serde_json::json!({"description": "", "content": problem_content()}));
            }
            for (status, resp) in responses.iter_mut() {
                let Some(resp) = resp.as_object_mut() else {
                    continue;
                };
                let is_problem = resp
                    .get("content")
                    .and_then(|c| c.pointer("/application~1json/schema/$ref"))
                    .and_then(|r| r.as_str())
                    .is_some_and(|r| r.ends_with("/Problem"));
                if is_problem {
                    resp.insert("content".into(), problem_content());
                }
                let empty = resp.get("description").and_then(|d| d.as_str()).is_none_or(str::is_empty);
                if empty && let Some(text) = error_description(status) {
                    resp.insert("description".into(), text.into());
                }
            }
        }
    }
    doc
}

/// The page's own look, in its `<style>` (the page loads nothing from elsewhere).
const DOCS_CSS: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}\
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}pre{padding:.6rem;overflow:auto}\
.m{display:inline-block;min-width:4.5rem;font-weight:bold}.op{border-top:1px solid #ddd;padding:.6rem 0}";

/// This API document for a person
/// The API document as a self-contained HTML page (no scripts, nothing loaded from elsewhere).
#[utoipa::path(get, path = "/docs", tag = "operations", security(()),
    responses((status = 200, description = "The HTML page.", content((String = "text/html")))))]
pub async fn docs_page() -> Html<String> {
    let doc = ApiDoc::openapi();
    let json = document();
    let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|s| s.as_str()).unwrap_or("").to_owned();
    let no_fields = serde_json::Map::new();
    let paths = json.get("paths").and_then(|p| p.as_object()).unwrap_or(&no_fields);
    let schemas = json
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .unwrap_or(&no_fields);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "kycd API" }
                style { (PreEscaped(DOCS_CSS)) }
            }
            body {
                h1 { (doc.info.title) }
                p { (doc.info.description.as_deref().unwrap_or("")) }
                p { "Machine-readable: " a href="/v1/openapi.json" { "/v1/openapi.json" } " (OpenAPI 3.1)." }
                h2 { "Operations" }
                @for (path, item) in paths {
                    @for (method, op) in item.as_object().unwrap_or(&no_fields) {
                        @let params: Vec<&serde_json::Value> = op.get("parameters").and_then(|p| p.as_array()).into_iter().flatten().collect();
                        div class="op" {
                            span class="m" { (method.to_uppercase()) }
                            code { (path) } " " strong { (text(op, "summary")) }
                            p { (text(op, "description")) }
                            @if !params.is_empty() {
                                p { "Parameters:" }
                                ul {
                                    @for p in params {
                                        li { code { (text(p, "name")) } " (" (text(p, "in")) "): " (text(p, "description")) }
                                    }
                                }
                            }
                            @if let Some(resps) = op.get("responses").and_then(|r| r.as_object()) {
                                p { "Responses:" }
                                ul {
                                    @for (code, r) in resps {
                                        li { code { (code) } ": " (text(r, "description")) }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Schemas" }
                @for (name, schema) in schemas {
                    h3 id=(name) { (name) }
                    pre { (serde_json::to_string_pretty(schema).unwrap_or_default()) }
                }
            }
        }
    };
    Html(page.into_string())
}
