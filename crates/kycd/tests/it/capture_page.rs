//! The hosted capture page, driven over HTTP like a browser without JavaScript would:
//! cookies kept by hand (so their attributes can be asserted), redirects not followed
//! (so every 303 can be checked), forms posted with the page's own form token.

use crate::flow::{create_attempt, create_verification, data, token_of, verification_body, wait_status};
use crate::harness::{Server, document_jpeg, selfie_png, str_field};
use serde_json::{Value, json};
use std::time::Duration;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'";

/// A cookie-keeping client that does not follow redirects.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookies: Vec<(String, String)>,
    accept_language: Option<String>,
}

pub(crate) struct Page {
    pub(crate) what: String,
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "{}: expected {status}, got {}:\n{}",
            self.what, self.status, self.body
        );
        self
    }
    pub(crate) fn location(&self) -> String {
        assert_eq!(
            self.status, 303,
            "{}: expected a 303, got {}:\n{}",
            self.what, self.status, self.body
        );
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{}: 303 without Location", self.what))
            .to_owned()
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The value of the page's form token field.
    pub(crate) fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("{}: no form token on the page:\n{}", self.what, self.body));
        let rest = &self.body[at + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
    pub(crate) fn contains(&self, text: &str) -> &Self {
        assert!(self.body.contains(text), "{}: page lacks {text:?}:\n{}", self.what, self.body);
        self
    }
    pub(crate) fn lacks(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "{}: page should not contain {text:?}:\n{}",
            self.what,
            self.body
        );
        self
    }
}

impl Browser {
    pub(crate) fn new(s: &Server) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: s.base.clone(),
            cookies: Vec::new(),
            accept_language: None,
        }
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) async fn send(&mut self, what: String, mut rb: reqwest::RequestBuilder) -> Page {
        if !self.cookies.is_empty() {
            let c: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            rb = rb.header("cookie", c.join("; "));
        }
        if let Some(l) = &self.accept_language {
            rb = rb.header("accept-language", l);
        }
        let r = rb.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for sc in &set_cookies {
            let pair = sc.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            self.cookies.push((k.to_owned(), v.to_owned()));
        }
        let body = r.text().await.unwrap();
        Page {
            what,
            status,
            headers,
            set_cookies,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let rb = self.http.get(format!("{}{path}", self.base));
        self.send(format!("GET {path}"), rb).await
    }

    pub(crate) async fn get_with(&mut self, path: &str, header: (&str, &str)) -> Page {
        let rb = self.http.get(format!("{}{path}", self.base)).header(header.0, header.1);
        self.send(format!("GET {path}"), rb).await
    }

    pub(crate) async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let rb = self.http.post(format!("{}{path}", self.base)).form(fields);
        self.send(format!("POST {path}"), rb).await
    }

    pub(crate) async fn post_file(&mut self, path: &str, csrf: Option<&str>, file_name: &str, bytes: Vec<u8>) -> Page {
        let mut form = reqwest::multipart::Form::new();
        if let Some(c) = csrf {
            form = form.text("csrf", c.to_owned());
        }
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str("application/octet-stream")
            .unwrap();
        form = form.part("file", part);
        let rb = self.http.post(format!("{}{path}", self.base)).multipart(form);
        self.send(format!("POST {path} (file)"), rb).await
    }

    /// GET a page and post its (only) form's token plus `fields` to `path`.
    pub(crate) async fn submit(&mut self, page_path: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(page_path).await;
        page.expect(200);
        let csrf = page.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }

    /// From the front's step: upload the document's front and a selfie, and submit;
    /// returns where the page sends the person then.
    pub(crate) async fn capture_front_and_selfie(&mut self, front: Vec<u8>, selfie: Vec<u8>) -> String {
        let csrf = self.get("/capture/step/document_front").await.csrf();
        let r = self.post_file("/capture/step/document_front", Some(&csrf), "front.jpg", front);
        assert_eq!(r.await.location(), "/capture/step/selfie?ok=document_front");
        let r = self.post_file("/capture/step/selfie", Some(&csrf), "selfie.png", selfie);
        assert_eq!(r.await.location(), "/capture/submit?ok=selfie");
        self.submit("/capture/submit", "/capture/submit", &[]).await.location()
    }
}

/// A browser that opened `token`'s capture link, consented and chose a passport: at the
/// step of the document's front.
pub(crate) async fn at_passport_front(s: &Server, token: &str) -> Browser {
    let mut b = Browser::new(s);
    b.get(&format!("/capture?token={token}")).await.location();
    b.submit("/capture/consent", "/capture/consent", &[]).await.location();
    let r = b.submit("/capture/document", "/capture/document", &[("document_type", "passport")]);
    assert_eq!(r.await.location(), "/capture/step/document_front");
    b
}

/// A document photo so blurred that the quality feedback refuses it.
fn blurry_document() -> Vec<u8> {
    let scene = kycd_testkit::synth::Scene {
        width: 1200,
        height: 800,
        blur: 10,
        ..Default::default()
    };
    kycd_testkit::synth::jpeg(&scene, 88)
}

async fn tenant_api(s: &Server, name: &str) -> crate::harness::Api {
    s.tenant_client(name).await.1
}

/// Verification + attempt; returns (verification id, start token).
async fn open_verification(api: &crate::harness::Api, extra: Value) -> (String, String) {
    let mut body = verification_body("Camille Capture", "camille@example.org");
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let v = create_verification(api, &body).await;
    let vid = str_field(&v, "id");
    let att = create_attempt(api, &vid).await;
    (vid, token_of(&str_field(&att, "url")))
}

#[tokio::test]
async fn capture_page_whole_flow_to_the_callback() {
    let s = Server::start().await;
    let api = tenant_api(&s, "Acme & Co").await;
    let (vid, token) = open_verification(
        &api,
        json!({
            "callback_url": "https://example.com/kyc/callback?src=app",
            "state": "st-42/x",
            "policy": {"accepted_document_types": ["passport", "id_card"], "accepted_countries": ["FRA", "D"]}
        }),
    )
    .await;
    let mut b = Browser::new(&s);

    // The link: the token is spent for a session cookie, and the address bar loses it.
    let open = b.get(&format!("/capture?token={token}")).await;
    assert_eq!(open.location(), "/capture/consent");
    assert_eq!(open.header("content-security-policy").map(|c| c.starts_with(CSP)), Some(true));
    let sc = open
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kycd_capture="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/capture", "Max-Age="] {
        assert!(sc.contains(attr), "cookie lacks {attr}: {sc}");
    }
    assert!(!sc.contains("Secure"), "plain http public URL: no Secure flag: {sc}");
    assert!(b.cookie("kycd_capture").unwrap().starts_with("kycd_cs_"));
    assert!(!sc.contains(&token), "the cookie is not the start token");

    // Consent: what, who (the tenant's name, escaped), how long (the tenant's retention).
    let consent = b.get("/capture/consent").await;
    consent
        .expect(200)
        .contains("<html lang=\"en\">")
        .contains("Acme &amp; Co")
        .contains("front of your identity document")
        .contains("its back")
        .contains("selfie")
        .contains("90 days")
        .lacks("<script")
        .lacks("style=");
    assert_eq!(consent.header("content-security-policy").map(|c| c.starts_with(CSP)), Some(true));
    assert!(consent.header("content-type").unwrap().starts_with("text/html"));
    let css = b.get("/capture/static/capture.css").await;
    css.expect(200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));

    // Every POST needs the page's form token.
    b.post_form("/capture/consent", &[])
        .await
        .expect(403)
        .contains("could not be accepted");
    b.post_form("/capture/consent", &[("csrf", "forged")]).await.expect(403);
    let r = b.submit("/capture/consent", "/capture/consent", &[]).await;
    assert_eq!(r.location(), "/capture/document");

    // Document choice: what the policy allows, and the country when it restricts them.
    let doc = b.get("/capture/document").await;
    doc.expect(200)
        .contains("value=\"passport\"")
        .contains("value=\"id_card\"")
        .lacks("value=\"driver_license\"")
        .contains("<label for=\"doc-id_card\">Identity card</label>")
        .contains("<label class=\"field\" for=\"country\">")
        .contains("value=\"FRA\"")
        .contains("Germany (D)");
    b.submit("/capture/document", "/capture/document", &[("document_type", "id_card")])
        .await
        .expect(422);
    b.submit(
        "/capture/document",
        "/capture/document",
        &[("document_type", "id_card"), ("country", "USA")],
    )
    .await
    .expect(422)
    .contains("not accepted");
    let r = b
        .submit(
            "/capture/document",
            "/capture/document",
            &[("document_type", "id_card"), ("country", "FRA")],
        )
        .await;
    assert_eq!(r.location(), "/capture/step/document_front");

    // Front: a plain file form that works without JavaScript.
    let front = b.get("/capture/step/document_front").await;
    front
        .expect(200)
        .contains("Step 1 of 3")
        .contains("enctype=\"multipart/form-data\"")
        .contains("accept=\"image/*\"")
        .contains("capture=\"environment\"")
        .contains("<label class=\"field\" for=\"file\">");
    let csrf = front.csrf();
    b.post_file("/capture/step/document_front", None, "a.jpg", document_jpeg(1))
        .await
        .expect(403);
    b.post_file("/capture/step/document_front", Some("forged"), "a.jpg", document_jpeg(1))
        .await
        .expect(403);
    assert!(
        data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok()).is_empty(),
        "refused posts stored nothing"
    );
    b.post_file("/capture/step/document_front", Some(&csrf), "a.txt", b"not an image".to_vec())
        .await
        .expect(415)
        .contains("JPEG, PNG, WebP or HEIC");

    // A blurry photo: plain words and what to do; after the second, "continue anyway".
    let r = b
        .post_file("/capture/step/document_front", Some(&csrf), "a.jpg", blurry_document())
        .await;
    assert_eq!(r.location(), "/capture/step/document_front");
    b.get("/capture/step/document_front")
        .await
        .expect(200)
        .contains("We could not use this picture")
        .contains("The picture is blurry; hold still and let the camera focus.")
        .contains("role=\"alert\"")
        .lacks("Use this picture anyway");
    let r = b
        .post_file("/capture/step/document_front", Some(&csrf), "a.jpg", blurry_document())
        .await;
    assert_eq!(r.location(), "/capture/step/document_front");
    let again = b.get("/capture/step/document_front").await;
    again.expect(200).contains("blurry").contains("Use this picture anyway");
    let r = b.post_form("/capture/step/document_front/keep", &[("csrf", &again.csrf())]).await;
    assert_eq!(r.location(), "/capture/step/document_back");

    // Back and selfie: acceptable photos move on with a "looks good" notice.
    let r = b
        .post_file("/capture/step/document_back", Some(&csrf), "b.jpg", document_jpeg(2))
        .await;
    assert_eq!(r.location(), "/capture/step/selfie?ok=document_back");
    b.get("/capture/step/selfie?ok=document_back")
        .await
        .expect(200)
        .contains("Back of your document")
        .contains("Looks good.")
        .contains("capture=\"user\"");
    let r = b.post_file("/capture/step/selfie", Some(&csrf), "s.png", selfie_png(3)).await;
    assert_eq!(r.location(), "/capture/submit?ok=selfie");

    // Submit: back to the integrator with the ids and its state, no personal data.
    let sub = b.get("/capture/submit").await;
    sub.expect(200).contains("Send for verification");
    b.post_form("/capture/submit", &[]).await.expect(403);
    let to = b.post_form("/capture/submit", &[("csrf", &sub.csrf())]).await.location();
    assert_eq!(
        to,
        format!("https://example.com/kyc/callback?src=app&verification_id={vid}&session_id={vid}&sessionId={vid}&state=st-42%2Fx")
    );
    assert!(!to.contains("Camille") && !to.contains("camille"), "no personal data in {to}");

    // The kept blurry front sends the verification to a person, not to another attempt.
    let v = wait_status(&api, &vid, "review_required", Duration::from_secs(180)).await;
    let checks = v["checks"].as_array().cloned().unwrap_or_default();
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "capture_quality_override" && c["passed"] == false),
        "the override is a check: {v}"
    );
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert_eq!(caps.len(), 3, "{caps:?}");

    // Afterwards: the done page; the steps and submit only lead there.
    b.get("/capture/done").await.expect(200).contains("Thank you");
    assert_eq!(b.get("/capture/step/selfie").await.location(), "/capture/done");
    assert_eq!(
        b.post_file("/capture/step/selfie", Some(&csrf), "s.png", selfie_png(4))
            .await
            .location(),
        "/capture/done"
    );

    // The link works once; an unknown one is not found. Both say what to do.
    let mut other = Browser::new(&s);
    other
        .get(&format!("/capture?token={token}"))
        .await
        .expect(410)
        .contains("already used")
        .contains("Ask the business that sent it for a new link.");
    assert!(other.cookie("kycd_capture").is_none());
    other
        .get("/capture?token=thisTokenWasNeverIssuedByKycd0123456789abcd")
        .await
        .expect(404)
        .contains("not valid or has expired");
}

#[tokio::test]
async fn capture_page_sessions_are_scoped_and_localised() {
    let s = Server::start().await;
    let api = tenant_api(&s, "Banque Exemple").await;
    // Passport only and no selfie: one capture; no callback: a done page.
    let policy = json!({"policy": {"accepted_document_types": ["passport"], "selfie_required": false}});
    let (vid_a, token_a) = open_verification(&api, policy.clone()).await;
    let (vid_b, token_b) = open_verification(&api, policy).await;
    let mut a = at_passport_front(&s, &token_a).await;
    let mut b = at_passport_front(&s, &token_b).await;

    // A's form token does not work with B's session; B's uploads land on B only.
    let csrf_a = a.get("/capture/step/document_front").await.csrf();
    b.post_file("/capture/step/document_front", Some(&csrf_a), "a.jpg", document_jpeg(5))
        .await
        .expect(403);
    let csrf_b = b.get("/capture/step/document_front").await.csrf();
    let r = b
        .post_file("/capture/step/document_front", Some(&csrf_b), "b.jpg", document_jpeg(6))
        .await;
    assert_eq!(r.location(), "/capture/submit?ok=document_front");
    let caps_a = data(&api.get(&format!("/v1/verifications/{vid_a}/captures")).await.ok());
    let caps_b = data(&api.get(&format!("/v1/verifications/{vid_b}/captures")).await.ok());
    assert!(caps_a.is_empty(), "nothing reached A: {caps_a:?}");
    assert_eq!(caps_b.len(), 1, "{caps_b:?}");
    // Steps the policy does not need are not offered.
    assert_eq!(b.get("/capture/step/selfie").await.location(), "/capture/submit");
    let sub = b.get("/capture/submit").await;
    let to = b.post_form("/capture/submit", &[("csrf", &sub.csrf())]).await.location();
    assert_eq!(to, "/capture/done", "no callback URL: kycd's own done page");
    b.get("/capture/done").await.expect(200).contains("Thank you");

    // French from Accept-Language; `?lang=` switches and is remembered.
    a.accept_language = Some("fr-FR,fr;q=0.9,en;q=0.5".into());
    a.get("/capture/consent")
        .await
        .expect(200)
        .contains("<html lang=\"fr\">")
        .contains("Vérifiez votre identité")
        .contains("Banque Exemple")
        .contains("href=\"/capture/consent?lang=en\"");
    a.get("/capture/step/document_front")
        .await
        .contains("Recto de votre document")
        .contains("Prendre ou choisir une photo");
    let en = a.get("/capture/consent?lang=en").await;
    en.expect(200).contains("<html lang=\"en\">").contains("Verify your identity");
    assert_eq!(a.cookie("kycd_lang"), Some("en"));
    a.get("/capture/consent").await.contains("<html lang=\"en\">");

    // French feedback for a blurry photo.
    a.get("/capture/consent?lang=fr").await.expect(200);
    let csrf_a = a.get("/capture/step/document_front").await.csrf();
    a.post_file("/capture/step/document_front", Some(&csrf_a), "a.jpg", blurry_document())
        .await
        .location();
    a.get("/capture/step/document_front")
        .await
        .contains("Nous n’avons pas pu utiliser cette photo")
        .contains("floue");

    // Without the cookie: a clear page; arriving cross-site (the browser withholds
    // SameSite=Strict cookies there), a same-site reload that carries it.
    let mut none = Browser::new(&s);
    none.get("/capture/consent").await.expect(401).contains("Your session has ended");
    none.get_with("/capture/consent", ("sec-fetch-site", "cross-site"))
        .await
        .expect(200)
        .contains("<meta http-equiv=\"refresh\" content=\"0\">");
    none.cookies.push(("kycd_capture".into(), "kycd_cs_forged".into()));
    none.get("/capture/consent").await.expect(401);
    none.post_form("/capture/consent", &[("csrf", "x")]).await.expect(401);
}

#[tokio::test]
async fn capture_page_returns_to_checkout_redirect_url_and_refuses_a_superseded_attempt() {
    let s = Server::start().await;
    let api = tenant_api(&s, "Shop").await;
    let open = |name: &'static str| {
        let api = api.clone();
        async move {
            let v = api
                .post(
                    "/compat/checkout/create-and-open-idv",
                    &json!({"declared_data": {"name": name}, "redirect_url": "https://shop.example/kyc/return"}),
                )
                .await
                .ok();
            let url = v["_links"]["verification_url"]["href"].as_str().unwrap().to_owned();
            (str_field(&v, "id"), token_of(&url))
        }
    };

    // Checkout's per-attempt redirect_url, with the verification and attempt ids.
    let (vid, token) = open("Toby Arden").await;
    let attempts = api.get(&format!("/v1/verifications/{vid}/attempts")).await.ok();
    let attempt_id = str_field(&data(&attempts)[0], "id");
    let mut b = at_passport_front(&s, &token).await;
    let to = b.capture_front_and_selfie(document_jpeg(7), selfie_png(8)).await;
    assert_eq!(
        to,
        format!("https://shop.example/kyc/return?verification_id={vid}&attempt_id={attempt_id}")
    );
    assert!(!to.contains("Toby"), "no personal data in {to}");

    // A new attempt closes the open one: its session can no longer upload.
    let (vid2, token2) = open("Hannah Bret").await;
    let mut c = at_passport_front(&s, &token2).await;
    let csrf = c.get("/capture/step/document_front").await.csrf();
    api.post(
        &format!("/compat/checkout/identity-verifications/{vid2}/attempts"),
        &json!({"redirect_url": "https://shop.example/kyc/return"}),
    )
    .await
    .ok();
    let r = c
        .post_file("/capture/step/document_front", Some(&csrf), "a.jpg", document_jpeg(9))
        .await;
    assert_eq!(r.location(), "/capture/done");
    c.get("/capture/done").await.expect(200).contains("This verification is closed");
    let caps = data(&api.get(&format!("/v1/verifications/{vid2}/captures")).await.ok());
    assert!(caps.is_empty(), "nothing reached the closed attempt: {caps:?}");
}

/// Transmit's start token opens the hosted capture page; after it, the person returns to
/// the session's `callback_url` with the session id and the integrator's `state`, and the
/// backend's result follows.
#[tokio::test]
async fn capture_page_runs_a_transmit_session_from_its_start_token() {
    let s = Server::start().await;
    let c = crate::transmit::client(&s, "Transmit Hosted", false).await;
    let r = c
        .api
        .post(
            "/compat/transmit/verify/api/v1/verification",
            &json!({"callback_url": "https://bank.example/idv/done", "state": "csrf-T-42"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let sid = str_field(&created, "session_id");
    let token = str_field(&created, "start_token");

    let mut b = at_passport_front(&s, &token).await;
    let to = b.capture_front_and_selfie(document_jpeg(17), selfie_png(18)).await;
    let url = reqwest::Url::parse(&to).unwrap();
    assert_eq!(url.host_str(), Some("bank.example"), "{to}");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q.get("sessionId"), Some(&sid), "{to}");
    assert_eq!(q.get("state").map(String::as_str), Some("csrf-T-42"), "{to}");

    // The start token was spent by the page: a second open is refused.
    b.get(&format!("/capture?token={token}")).await.expect(410);
    // The backend polls the result as it would with the vendor.
    let r = crate::transmit::wait_result(&c.api, &sid, "complete").await;
    assert_eq!(r["recommendation"], "CHALLENGE", "faces are not compared yet: {r}");
    // The consent the person gave on the page is the session's consent.
    let consent = c
        .api
        .get(&format!("/compat/transmit/verify/api/v1/verification/{sid}/consent"))
        .await
        .ok();
    assert_eq!(consent["consent_granted"], true, "{consent}");
    assert!(consent["consent_date"].is_string(), "{consent}");
}

/// No camera on the computer: the desktop makes a one-time link (QR code), the phone opens
/// it into a session of its own for the same attempt and finishes; the desktop page follows
/// the progress and moves on; the link works once.
#[tokio::test]
async fn capture_continues_on_a_phone_and_the_desktop_follows() {
    let s = Server::start().await;
    let api = tenant_api(&s, "Handoff Ltd").await;
    let policy = json!({"policy": {"accepted_document_types": ["passport"], "selfie_required": false}});
    let (vid, token) = open_verification(&api, policy).await;
    let mut desktop = at_passport_front(&s, &token).await;
    desktop
        .get("/capture/step/document_front")
        .await
        .expect(200)
        .contains("Continue on your phone");
    // Nothing to follow before a link was made.
    assert_eq!(desktop.get("/capture/handoff").await.location(), "/capture/step/document_front");
    let r = desktop.submit("/capture/step/document_front", "/capture/handoff", &[]).await;
    assert_eq!(r.location(), "/capture/handoff");
    let page = desktop.get("/capture/handoff").await;
    page.expect(200)
        .contains("<meta http-equiv=\"refresh\" content=\"5\">")
        .contains("src=\"/capture/handoff/qr.svg\"")
        .contains("Waiting for your phone");
    let at = page.body.find("/capture/continue?token=kycd_ho_").expect("the link is on the page");
    let rest = &page.body[at..];
    let link = rest[..rest.find('"').unwrap()].to_owned();
    let qr = desktop.get("/capture/handoff/qr.svg").await;
    qr.expect(200).contains("<svg");
    assert_eq!(qr.header("content-type"), Some("image/svg+xml"));

    // The phone: its own session, straight to the step the desktop was at.
    let mut phone = Browser::new(&s);
    let opened = phone.get(&link).await;
    assert_eq!(opened.location(), "/capture/step/document_front");
    assert_ne!(phone.cookie("kycd_capture"), desktop.cookie("kycd_capture"));
    desktop.get("/capture/handoff").await.expect(200).contains("Opened on your phone");
    let csrf = phone.get("/capture/step/document_front").await.csrf();
    let r = phone
        .post_file("/capture/step/document_front", Some(&csrf), "front.jpg", document_jpeg(21))
        .await;
    assert_eq!(r.location(), "/capture/submit?ok=document_front");
    desktop.get("/capture/handoff").await.contains("done");
    let sub = phone.get("/capture/submit").await;
    assert_eq!(
        phone.post_form("/capture/submit", &[("csrf", &sub.csrf())]).await.location(),
        "/capture/done"
    );

    // The desktop moves on by itself; the link is spent; a made-up one is unknown.
    assert_eq!(desktop.get("/capture/handoff").await.location(), "/capture/done");
    let mut third = Browser::new(&s);
    third.get(&link).await.expect(410);
    third.get("/capture/continue?token=kycd_ho_made-up").await.expect(404);
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    assert_eq!(caps.len(), 1, "the phone's upload reached the verification: {caps:?}");
}

/// The tenant's colour and logo on its capture pages (a stylesheet and an image served per
/// session: the CSP allows no inline style), admins only, validated; another tenant's
/// pages keep kycd's look.
#[tokio::test]
async fn capture_pages_carry_the_tenant_branding() {
    use base64::Engine as _;
    let s = Server::start().await;
    let (keys, api) = s.tenant_client("Brand Bank").await;
    let mut logo = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(120, 40, image::Rgb([200, 30, 60])))
        .write_to(&mut std::io::Cursor::new(&mut logo), image::ImageFormat::Png)
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&logo);
    let bad = api.put("/v1/settings/branding", &json!({"colour": "red"})).await;
    assert!(matches!(bad.status, 400 | 422), "{}", bad.text());
    assert!(bad.text().contains("#rrggbb"), "{}", bad.text());
    let not_image = base64::engine::general_purpose::STANDARD.encode(b"<svg/>");
    let bad = api.put("/v1/settings/branding", &json!({"logo": not_image})).await;
    assert!(matches!(bad.status, 400 | 422), "{}", bad.text());
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 300 * 1024]);
    assert_eq!(api.put("/v1/settings/branding", &json!({"logo": huge})).await.status, 413);
    let (_, reviewer) = s.inst.create_key(&keys.tenant_id, "reviewer").await;
    s.client_for(&reviewer)
        .put("/v1/settings/branding", &json!({"colour": "#123456"}))
        .await
        .problem(403, "forbidden");
    let set = api
        .put("/v1/settings/branding", &json!({"colour": "#FFD700", "logo": b64}))
        .await
        .ok();
    assert_eq!(set["colour"], "#ffd700", "{set}");
    assert_eq!(set["frame_ancestors"], json!([]), "no framing unless asked: {set}");
    assert_eq!(set["logo"]["media_type"], "image/png", "{set}");
    assert_eq!(api.get("/v1/settings/branding").await.ok(), set);

    let (_, token) = open_verification(&api, json!({})).await;
    let mut b = Browser::new(&s);
    b.get(&format!("/capture?token={token}")).await.location();
    b.get("/capture/consent")
        .await
        .expect(200)
        .contains("<link rel=\"stylesheet\" href=\"/capture/brand.css\">");
    // Gold is light: black text on it.
    b.get("/capture/brand.css")
        .await
        .expect(200)
        .contains("--accent: #ffd700; --accent-ink: #000000;")
        .contains("url(/capture/brand/logo)");
    let img = b.get("/capture/brand/logo").await;
    img.expect(200);
    assert_eq!(img.header("content-type"), Some("image/png"));
    assert_eq!(img.header("content-length"), Some(logo.len().to_string().as_str()));

    // Framing: refused origins are named; allowed ones replace frame-ancestors 'none'
    // (and X-Frame-Options goes, which cannot name origins).
    let bad = api
        .put(
            "/v1/settings/branding",
            &json!({"colour": "#ffd700", "frame_ancestors": ["https://app.example.com/path"]}),
        )
        .await;
    assert!(matches!(bad.status, 400 | 422) && bad.text().contains("/path"), "{}", bad.text());
    let framed = api
        .put(
            "/v1/settings/branding",
            &json!({"colour": "#ffd700", "logo": base64::engine::general_purpose::STANDARD.encode(&logo), "frame_ancestors": ["https://App.Example.com", "https://*.example.org:8443"]}),
        )
        .await
        .ok();
    assert_eq!(
        framed["frame_ancestors"],
        json!(["https://app.example.com", "https://*.example.org:8443"])
    );
    let page = b.get("/capture/consent").await;
    let csp = page.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(
        csp.contains("frame-ancestors https://app.example.com https://*.example.org:8443;"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), None);

    // Another business's page: kycd's look, no framing; no session: nothing.
    let other = tenant_api(&s, "Plain Co").await;
    let (_, token) = open_verification(&other, json!({})).await;
    let mut c = Browser::new(&s);
    c.get(&format!("/capture?token={token}")).await.location();
    let plain = c.get("/capture/consent").await;
    assert!(
        plain
            .header("content-security-policy")
            .unwrap_or_default()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(plain.header("x-frame-options"), Some("DENY"));
    let css = c.get("/capture/brand.css").await;
    css.expect(200);
    assert!(css.body.trim().is_empty(), "{}", css.body);
    c.get("/capture/brand/logo").await.expect(404);
    Browser::new(&s).get("/capture/brand/logo").await.expect(404);
}
