//! The liveness check on rendered bursts (a textured head turning per the challenge, the
//! same face as a flat picture waved through it):
//!
//! - `kycd check --kind liveness_burst --challenge …`: the interface contract, through the
//!   binary, on JPEG files;
//! - the API flow: a server-issued challenge, the burst uploaded as one `liveness_burst`
//!   capture, checked by processing and decided per the policy's `liveness_required`
//!   (a turning head passes, a flat photo declines, the wrong order asks for a new
//!   attempt), expired, reused, unknown and foreign challenges, bad frames refused with
//!   nothing kept.
//!
//! Needs the models and the test portraits (`scripts/fetch-models --test-faces`); without
//! them the tests print why and pass, except under CI.

use crate::decision::check as check_of;
use crate::flow::{create_attempt, create_verification, data, upload, wait_status};
use crate::harness::{Api, Resp, Server, document_jpeg, files_under, str_field};
use kycd_checks::face::models_present;
use kycd_checks::liveness::geometry::P2;
use kycd_checks::liveness::{LivenessModels, Step};
use kycd_testkit::synth_liveness::{Head, Pose, as_jpeg, follow, render_picture, wave};
use serde_json::{Value, json};
use std::time::Duration;

fn head() -> Option<Head> {
    let dir = kycd_checks::ocr::default_model_dir();
    let portrait = kycd_testkit::synth_face::load(&dir.join("test-faces"), kycd_testkit::synth_face::IDENTITIES[0]);
    let why = match (models_present(&dir), &portrait) {
        (false, _) => format!("face models missing in {}: run scripts/fetch-models --test-faces", dir.display()),
        (true, Err(e)) => e.clone(),
        (true, Ok(_)) => String::new(),
    };
    if !why.is_empty() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the model tests: {why}");
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let portrait = portrait.unwrap();
    let models = LivenessModels::load(&dir).unwrap();
    let face = models.faces.detector.detect(&portrait).unwrap()[0];
    let lm = models.landmarks.landmarks(&portrait, &face).unwrap();
    let pts: Vec<P2> = lm.points.iter().map(|p| [p[0], p[1]]).collect();
    Head::new(&portrait, &pts)
}

fn run(args: &[String]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(crate::harness::BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn burst(dir: &std::path::Path, name: &str, frames: &[image::RgbImage]) -> Vec<String> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = dir.join(format!("{name}-{i:02}.jpg"));
            std::fs::write(&p, as_jpeg(f)).unwrap();
            p.display().to_string()
        })
        .collect()
}

fn check(challenge: &str, files: &[String]) -> (Option<i32>, Value) {
    let mut args: Vec<String> = ["check", "--kind", "liveness_burst", "--json", "--challenge", challenge]
        .map(String::from)
        .to_vec();
    args.extend(files.iter().cloned());
    let (code, stdout, stderr) = run(&args);
    let line: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (code, line)
}

#[test]
fn a_turning_head_passes_and_a_waved_photo_is_planar_motion() {
    let Some(head) = head() else { return };
    let dir = tempfile::tempdir().unwrap();
    let asked = [Step::Left, Step::Up];
    let live = burst(
        dir.path(),
        "live",
        &follow(&asked, 12, 20.0, 4).iter().map(|p| head.render(p)).collect::<Vec<_>>(),
    );
    let (code, r) = check("left,up", &live);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["kind"], "liveness_burst");
    assert_eq!(r["challenge"], serde_json::json!(["left", "up"]));
    assert_eq!(r["passed"], true, "{r}");
    assert_eq!(r["reasons"], serde_json::json!([]), "{r}");
    let entry = &r["checks"][0];
    assert_eq!(
        (entry["name"].as_str(), &entry["passed"]),
        (Some("liveness"), &Value::Bool(true)),
        "{r}"
    );
    for figure in ["yaw", "pitch", "parallax"] {
        assert_eq!(r["figures"][figure].as_array().map(Vec::len), Some(12), "{figure}: {r}");
    }
    assert!(
        r["figures"]["yaw"].as_array().unwrap().iter().any(|y| y.as_f64().unwrap() >= 10.0),
        "{r}"
    );

    // The same frames asked for another order: not followed.
    let (code, r) = check("up,left", &live);
    assert_eq!((code, &r["passed"]), (Some(1), &Value::Bool(false)), "{r}");
    assert_eq!(r["reasons"], serde_json::json!(["challenge_not_followed"]), "{r}");

    // A photo of the head, tilted, shifted and scaled through the challenge.
    let front = head.render(&Pose::default());
    let photo = burst(
        dir.path(),
        "photo",
        &wave(&asked, 12, 35.0, 4)
            .iter()
            .map(|p| render_picture(&front, p))
            .collect::<Vec<_>>(),
    );
    let (code, r) = check("left,up", &photo);
    assert_eq!((code, &r["passed"]), (Some(1), &Value::Bool(false)), "{r}");
    assert_eq!(r["reasons"][0], "planar_motion", "{r}");

    // Too few frames: inconclusive (null), exit 1; a bad step is refused with the list.
    let (code, r) = check("left,up", &live[..5]);
    assert_eq!((code, &r["passed"]), (Some(1), &Value::Null), "{r}");
    assert_eq!(r["reasons"], serde_json::json!(["too_few_frames"]), "{r}");
    let (code, _, stderr) = run(&[
        "check".into(),
        "--kind".into(),
        "liveness_burst".into(),
        "--challenge".into(),
        "left,sideways".into(),
        live[0].clone(),
    ]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("left, right, up and down"), "{stderr}");
}

// ----- the API flow -------------------------------------------------------------------

/// A verification whose policy requires the liveness burst (no selfie: the burst's frames
/// are compared with each other only), its attempt opened and its document uploaded.
async fn liveness_verification(api: &Api, seed: u64) -> String {
    // kycd's default time to live: 7 days.
    short_lived(api, seed, 7 * 24 * 3600).await
}

/// [`liveness_verification`] with `seconds` to live.
async fn short_lived(api: &Api, seed: u64, seconds: u32) -> String {
    let v = create_verification(
        api,
        &json!({"applicant": {"full_name": "Liv Eness"}, "delivery": "none", "time_to_live": seconds,
                "policy": {"selfie_required": false, "liveness_required": true, "max_attempts": 3}}),
    )
    .await;
    let vid = str_field(&v, "id");
    create_attempt(api, &vid).await;
    upload(api, &vid, "document_front", "image/jpeg", &document_jpeg(seed)).await;
    vid
}

/// A verification for a passport, no selfie, the liveness burst required, and its attempt
/// (for the capture page).
async fn passport_with_liveness(api: &Api) -> (String, Value) {
    let v = create_verification(
        api,
        &json!({"applicant": {"full_name": "Liv Eness"}, "delivery": "none",
                "policy": {"accepted_document_types": ["passport"], "selfie_required": false, "liveness_required": true}}),
    )
    .await;
    let vid = str_field(&v, "id");
    let att = create_attempt(api, &vid).await;
    (vid, att)
}

/// A new challenge for `vid`: its id and steps.
async fn challenge(api: &Api, vid: &str) -> (String, Vec<Step>) {
    let c = api.post_empty(&format!("/v1/verifications/{vid}/liveness_challenge")).await;
    assert_eq!(c.status, 201, "{}", c.text());
    let c = c.json();
    let steps: Vec<Step> = c["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{c}"))
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(steps.len(), 2, "{c}");
    assert_ne!(steps[0], steps[1], "{c}");
    assert!(c["expires_at"].is_string(), "{c}");
    (str_field(&c, "challenge_id"), steps)
}

/// POST the frames of a burst (multipart parts `file`, in order).
async fn send_burst(api: &Api, vid: &str, challenge: &str, frames: &[Vec<u8>]) -> Resp {
    let form = frames.iter().enumerate().fold(reqwest::multipart::Form::new(), |f, (i, b)| {
        let part = reqwest::multipart::Part::bytes(b.clone())
            .file_name(format!("frame-{i:02}.jpg"))
            .mime_str("image/jpeg")
            .unwrap();
        f.part("file", part)
    });
    let path = format!("/v1/verifications/{vid}/captures?kind=liveness_burst&challenge_id={challenge}");
    api.send(format!("POST {path}"), api.req(reqwest::Method::POST, &path).multipart(form))
        .await
}

/// The head turning through `steps`, as JPEG frames.
fn turning(head: &Head, steps: &[Step], seed: u32) -> Vec<Vec<u8>> {
    follow(steps, 12, 20.0, seed).iter().map(|p| as_jpeg(&head.render(p))).collect()
}

/// A photo of the head waved through `steps`.
fn flat_photo(head: &Head, steps: &[Step], seed: u32) -> Vec<Vec<u8>> {
    let front = head.render(&Pose::default());
    wave(steps, 12, 35.0, seed)
        .iter()
        .map(|p| as_jpeg(&render_picture(&front, p)))
        .collect()
}

async fn submit_and_wait(api: &Api, vid: &str, want: &str) -> Value {
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.expect(202);
    wait_status(api, vid, want, Duration::from_secs(120)).await
}

#[tokio::test]
async fn a_required_burst_passes_a_flat_photo_declines_the_wrong_order_retries() {
    let Some(head) = head() else { return };
    let (clock, server) = crate::common::TestClock::with_server(&[]).await;
    let api = server.admin();

    // Without the burst the policy's verification cannot be submitted.
    let vid = liveness_verification(&api, 1).await;
    let r = api.post_empty(&format!("/v1/verifications/{vid}/submit")).await;
    let p = r.problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("liveness_burst"), "{p}");

    // A head turning as asked: one capture, encrypted at rest, its challenge spent.
    let (cid, steps) = challenge(&api, &vid).await;
    let frames = turning(&head, &steps, 3);
    let c = send_burst(&api, &vid, &cid, &frames).await;
    assert_eq!(c.status, 201, "{}", c.text());
    let c = c.json();
    assert_eq!(c["kind"], "liveness_burst", "{c}");
    assert_eq!(c["media_type"], "application/vnd.kycd.liveness-burst", "{c}");
    assert_eq!(c["feedback"]["accepted"], true, "{c}");
    assert_eq!(
        (c["feedback"]["width"].as_u64(), c["feedback"]["height"].as_u64()),
        (Some(640), Some(480)),
        "{c}"
    );
    let again = send_burst(&api, &vid, &cid, &frames).await;
    let p = again.problem(409, "conflict");
    assert!(p["detail"].as_str().unwrap().contains("already used"), "{p}");
    let head_bytes = &frames[5][..64];
    for f in files_under(&server.instance().blob_dir()) {
        let stored = std::fs::read(&f).unwrap();
        assert!(!stored.windows(64).any(|w| w == head_bytes), "a frame is stored in clear: {f:?}");
    }
    let fid = str_field(&c, "id");
    let file = api.get(&format!("/v1/files/{fid}")).await.expect(200).body.clone();
    assert_eq!(
        kycd_checks::burst::Burst::parse(&file).unwrap().frames,
        frames,
        "the download is the burst as sent"
    );
    api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.expect(202);
    let v = wait_until_decided(&api, &vid).await;
    let l = check_of(&v, "liveness");
    assert_eq!(l["passed"], true, "{l}");
    assert_eq!(l["figures"]["outcome"], "pass", "{l}");
    assert_eq!(l["figures"]["required"], true, "{l}");
    assert_eq!(l["figures"]["file_id"], fid.as_str(), "{l}");
    let asked: Vec<&str> = steps.iter().map(|s| s.as_str()).collect();
    assert_eq!(l["figures"]["challenge"], json!(asked), "the server's steps: {l}");
    assert!(
        ["approved", "review_required"].contains(&v["status"].as_str().unwrap()),
        "a passed burst neither declines nor asks again: {v}"
    );
    // Erased with the verification's other images.
    api.post_empty(&format!("/v1/verifications/{vid}/anonymize")).await.expect(200);
    api.get(&format!("/v1/files/{fid}")).await.problem(410, "gone");

    // A flat photo of the same face waved through the challenge: declined.
    let vid = liveness_verification(&api, 2).await;
    let (cid, steps) = challenge(&api, &vid).await;
    send_burst(&api, &vid, &cid, &flat_photo(&head, &steps, 5)).await.expect(201);
    let v = submit_and_wait(&api, &vid, "declined").await;
    let l = check_of(&v, "liveness");
    assert_eq!(
        (&l["passed"], &l["figures"]["reasons"][0]),
        (&json!(false), &json!("planar_motion")),
        "{l}"
    );
    // The evidence keeps the burst as sent; the PDF shows its first frame.
    let name = format!("images/{}.burst", str_field(&l["figures"], "file_id"));
    let zip = api
        .get(&format!("/v1/verifications/{vid}/evidence.zip"))
        .await
        .expect(200)
        .body
        .clone();
    assert!(zip.windows(name.len()).any(|w| w == name.as_bytes()), "{name} in the archive");
    api.get(&format!("/v1/verifications/{vid}/report.pdf")).await.expect(200);

    // The head turns, in the other order: a new attempt is asked for.
    let vid = liveness_verification(&api, 4).await;
    let (cid, steps) = challenge(&api, &vid).await;
    let reversed = [steps[1], steps[0]];
    send_burst(&api, &vid, &cid, &turning(&head, &reversed, 6)).await.expect(201);
    let v = submit_and_wait(&api, &vid, "retry_required").await;
    assert_eq!(
        check_of(&v, "liveness")["figures"]["reasons"],
        json!(["challenge_not_followed"]),
        "{v}"
    );

    // Refusals keep nothing and leave the challenge unused.
    let vid = liveness_verification(&api, 7).await;
    let (cid, steps) = challenge(&api, &vid).await;
    let good = turning(&head, &steps, 8);
    let p = send_burst(&api, &vid, &cid, &good[..9]).await.problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("at least 10"), "{p}");
    let mut png = good.clone();
    let mut b = std::io::Cursor::new(Vec::new());
    image::load_from_memory(&good[3])
        .unwrap()
        .write_to(&mut b, image::ImageFormat::Png)
        .unwrap();
    png[3] = b.into_inner();
    let p = send_burst(&api, &vid, &cid, &png).await.problem(415, "unsupported-media-type");
    assert!(p["detail"].as_str().unwrap().contains("frame 3"), "{p}");
    let mut small = good.clone();
    small[0] = as_jpeg(&image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128])));
    let p = send_burst(&api, &vid, &cid, &small).await.problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("640×480"), "{p}");
    let p = send_burst(&api, &vid, "lch_unknown0000000000000000", &good)
        .await
        .problem(404, "not-found");
    assert!(p["detail"].as_str().unwrap().contains("liveness challenge"), "{p}");
    let path = format!("/v1/verifications/{vid}/captures?kind=liveness_burst");
    let p = api
        .post_raw(&path, "image/jpeg", good[0].clone())
        .await
        .problem(422, "invalid-request");
    assert!(p["detail"].as_str().unwrap().contains("challenge_id"), "{p}");
    let path = format!("/v1/verifications/{vid}/captures?kind=selfie&challenge_id={cid}");
    api.post_raw(&path, "image/jpeg", good[0].clone())
        .await
        .problem(422, "invalid-request");
    let kinds: Vec<Value> = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok())
        .iter()
        .map(|c| c["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("document_front")], "nothing kept of the refused bursts");

    // Another tenant's key: neither its verification nor its challenge exists there.
    let b = server.instance().create_tenant("Other", false).await;
    let other = server.client_for(&b.api_key);
    other
        .post_empty(&format!("/v1/verifications/{vid}/liveness_challenge"))
        .await
        .problem(404, "not-found");
    let own = create_verification(&other, &json!({"applicant": {"full_name": "B"}, "delivery": "none"})).await;
    let own = str_field(&own, "id");
    create_attempt(&other, &own).await;
    send_burst(&other, &own, &cid, &good).await.problem(404, "not-found");

    // Two verifications that will run out of time (300 s): one with a challenge never
    // answered, one whose person never got that far.
    let (late, idle) = (short_lived(&api, 61, 300).await, short_lived(&api, 62, 300).await);
    challenge(&api, &late).await;

    // Past its deadline the challenge is gone; the untouched one above still works before.
    clock.set(61);
    let p = send_burst(&api, &vid, &cid, &good).await.problem(410, "gone");
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
    let (cid, steps) = challenge(&api, &vid).await;
    send_burst(&api, &vid, &cid, &turning(&head, &steps, 9)).await.expect(201);

    // Expired: the unanswered challenge is recorded (Checkout's 61413), no challenge none.
    clock.set(400);
    let v = api.get(&format!("/v1/verifications/{late}")).await.ok();
    assert_eq!(v["status"], "expired", "{v}");
    assert_eq!(check_of(&v, "liveness")["figures"]["reasons"], json!(["challenge_timeout"]), "{v}");
    checkout_has_code(&api, &late, 61413, "face_challenge_timeout").await;
    let v = api.get(&format!("/v1/verifications/{idle}")).await.ok();
    assert_eq!(v["status"], "expired", "{v}");
    assert_eq!(v["checks"], json!([]), "{v}");
}

/// Wait until processing decided (approved or sent to a person: which one depends on the
/// document's checks, not on the burst).
async fn wait_until_decided(api: &Api, vid: &str) -> Value {
    for _ in 0..1200 {
        let v = api.get(&format!("/v1/verifications/{vid}")).await.ok();
        if v["status"] != "processing" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("verification {vid} was not decided within 120 s");
}

/// KYCD_FACE_MATCHING=off: the head's motion is still judged, but whether one person
/// turned throughout is not, so the burst is inconclusive and says why (a person looks).
#[tokio::test]
async fn face_matching_off_leaves_the_identity_part_unchecked() {
    let Some(head) = head() else { return };
    let server = Server::start_with_env(&[("KYCD_FACE_MATCHING", "off")]).await;
    let api = server.admin();
    let vid = liveness_verification(&api, 11).await;
    let (cid, steps) = challenge(&api, &vid).await;
    send_burst(&api, &vid, &cid, &turning(&head, &steps, 12)).await.expect(201);
    let v = submit_and_wait(&api, &vid, "review_required").await;
    let l = check_of(&v, "liveness");
    assert_eq!(l["figures"]["outcome"], "inconclusive", "{l}");
    assert_eq!(l["figures"]["reasons"], json!(["identity_not_checked"]), "{l}");
    assert_eq!(l["figures"]["identity"], "not_checked", "{l}");
    assert!(l["detail"].as_str().unwrap().contains("KYCD_FACE_MATCHING=off"), "{l}");

    // The reviewer's case page: the frames, each streamed as a JPEG, with their figures.
    let tenant = crate::console::first_tenant(&server).await;
    let mut b = crate::console::operator(&server, &tenant, "rev@example.com", "reviewer").await;
    let page = b.get(&format!("/console/verifications/{vid}")).await;
    let fid = str_field(&l["figures"], "file_id");
    let n = l["figures"]["frames"].as_u64().unwrap();
    page.expect(200)
        .contains("Liveness burst: the frames in capture order")
        .contains(&format!("/console/verifications/{vid}/files/{fid}?frame={}", n - 1))
        .contains("identity_not_checked")
        .contains("Yaw°");
    let frame = b.get(&format!("/console/verifications/{vid}/files/{fid}?frame=3")).await;
    frame.expect(200);
    assert_eq!(frame.header("content-type"), Some("image/jpeg"));
    b.get(&format!("/console/verifications/{vid}/files/{fid}?frame={n}"))
        .await
        .expect(404);
}

/// The capture page's liveness step, driven over HTTP as `liveness.js` drives it: the
/// step page (camera section, its words, no file field), the challenge as JSON for the
/// session's form token only, the burst posted with the challenge, then the next step.
#[tokio::test]
async fn the_capture_page_asks_for_the_challenge_and_takes_the_burst() {
    use crate::capture_page::Browser;
    let Some(head) = head() else { return };
    let server = Server::start().await;
    let api = server.admin();
    let (vid, att) = passport_with_liveness(&api).await;
    let token = crate::flow::token_of(&str_field(&att, "url"));
    let mut b = Browser::new(&server);
    assert_eq!(b.get(&format!("/capture?token={token}")).await.location(), "/capture/consent");
    b.get("/capture/consent").await.expect(200).contains("turn your head");
    b.submit("/capture/consent", "/capture/consent", &[]).await.location();
    let r = b
        .submit("/capture/document", "/capture/document", &[("document_type", "passport")])
        .await;
    assert_eq!(r.location(), "/capture/step/document_front");
    let csrf = b.get("/capture/step/document_front").await.csrf();
    let r = b
        .post_file("/capture/step/document_front", Some(&csrf), "front.jpg", document_jpeg(21))
        .await;
    assert_eq!(r.location(), "/capture/step/liveness_burst?ok=document_front");

    let step = b.get("/capture/step/liveness_burst").await;
    step.expect(200)
        .contains("Step 2 of 2")
        .contains("id=\"liveness\"")
        .contains("data-challenge=\"/capture/liveness/challenge\"")
        .contains("Turn your head to your left")
        .contains("src=\"/capture/static/liveness.js\"")
        .contains("Continue on your phone")
        .lacks("type=\"file\"");
    let js = b.get("/capture/static/liveness.js").await;
    js.expect(200);
    assert!(js.header("content-type").unwrap().starts_with("text/javascript"));
    let csrf = step.csrf();
    b.post_form("/capture/liveness/challenge", &[("csrf", "forged")]).await.expect(403);
    let c = b.post_form("/capture/liveness/challenge", &[("csrf", &csrf)]).await;
    c.expect(200);
    let c: Value = serde_json::from_str(&c.body).unwrap();
    let steps: Vec<Step> = c["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    let cid = str_field(&c, "challenge_id");

    let (http, base) = (b.http.clone(), b.base.clone());
    let post = |csrf: &str, cid: &str, frames: &[Vec<u8>]| {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_owned())
            .text("challenge_id", cid.to_owned());
        for (i, f) in frames.iter().enumerate() {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(f.clone())
                    .file_name(format!("frame-{i}.jpg"))
                    .mime_str("image/jpeg")
                    .unwrap(),
            );
        }
        http.post(format!("{base}/capture/step/liveness_burst")).multipart(form)
    };
    let frames = turning(&head, &steps, 22);
    // Too few frames: the step again, with the problem; the challenge stays usable.
    let rb = post(&csrf, &cid, &frames[..4]);
    b.send("POST burst (4 frames)".into(), rb)
        .await
        .expect(422)
        .contains("That did not work");
    let rb = post(&csrf, &cid, &frames);
    let r = b.send("POST burst".into(), rb).await;
    assert_eq!(r.location(), "/capture/submit?ok=liveness_burst");
    let rb = post(&csrf, &cid, &frames);
    b.send("POST burst again".into(), rb).await.expect(409);
    let r = b.submit("/capture/submit", "/capture/submit", &[]).await;
    assert_eq!(r.location(), "/capture/done");
    let v = wait_until_decided(&api, &vid).await;
    let l = check_of(&v, "liveness");
    assert_eq!(l["passed"], true, "{l}");
}

/// The fake camera's video for a `left` then `up` challenge, at 10 frames a second: the
/// face still for 1.5 s, turned 20° to the person's left and back over 3 s, then up and
/// back over 3 s, then still. The page starts recording when Start is pressed, a few
/// tenths of a second after the camera (and the video) started: the first turn comes
/// after that, and both fit in the page's 6.5 s of recording.
fn turning_video(head: &Head) -> Vec<u8> {
    let fps = 10u32;
    let frames: Vec<image::RgbImage> = (0..110)
        .map(|i| {
            let t = f64::from(i) / f64::from(fps);
            let swing = |from: f64| 20.0 * (std::f64::consts::PI * ((t - from) / 3.0).clamp(0.0, 1.0)).sin();
            let pose = Pose {
                yaw: if t < 4.5 { swing(1.5) } else { 0.0 },
                pitch: if t >= 4.5 { swing(4.5) } else { 0.0 },
                ..Pose::default()
            };
            head.render(&pose)
        })
        .collect();
    crate::capture_browser::y4m(&frames, fps)
}

/// The liveness step in Chromium with a fake camera playing a rendered head that turns
/// as the (test-fixed) challenge asks: the page shows the camera, prompts "left" then
/// "up", records and sends the burst, moves on to submit; processing passes the burst.
#[tokio::test]
async fn the_liveness_step_in_chromium() {
    let Some(tools) = crate::capture_browser::browser_tools_or_skip() else {
        return;
    };
    let Some(head) = head() else { return };
    let server = Server::start_with_env(&[("KYCD_TEST_LIVENESS_STEPS", "left,up")]).await;
    let api = server.admin();
    let (vid, att) = passport_with_liveness(&api).await;
    upload(&api, &vid, "document_front", "image/jpeg", &document_jpeg(31)).await;
    let link = format!("{}/capture?token={}", server.base, crate::flow::token_of(&str_field(&att, "url")));
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("turning.y4m");
    std::fs::write(&video, turning_video(&head)).unwrap();
    let shots = crate::capture_browser::screenshot_dir("liveness-screenshots");
    crate::capture_browser::run_browser_script(
        &server,
        &tools,
        "liveness_browser.py",
        &[("LINK", link), ("VIDEO", video.display().to_string())],
        &shots,
        "liveness browser flow OK",
        4,
    )
    .await;
    let v = wait_until_decided(&api, &vid).await;
    let l = check_of(&v, "liveness");
    assert_eq!(l["passed"], true, "the burst Chromium recorded passes: {l}");
    assert_eq!(l["figures"]["challenge"], json!(["left", "up"]), "{l}");
    let frames = l["figures"]["frames"].as_u64().unwrap();
    assert!((20..=30).contains(&frames), "about 26 frames in 6.5 s: {l}");
}

/// The Checkout dialect's view of `vid` lists response code `code`.
async fn checkout_has_code(api: &Api, vid: &str, code: u32, summary: &str) {
    let ck = api.get(&format!("/compat/checkout/identity-verifications/{vid}")).await.ok();
    let codes = ck["response_codes"].as_array().unwrap();
    assert!(codes.contains(&json!({"code": code, "summary": summary})), "{ck}");
}

/// The dialects say it in their vendors' words: a flat photo is Transmit's
/// `biometric_liveness` `DENY` with `printed_copy_capture` and Checkout's 62305
/// `face_not_live`; turns in the wrong order are Checkout's 61412 `face_not_turned`.
/// Two uploads racing with one challenge keep one burst.
#[tokio::test]
async fn the_dialects_map_the_liveness_result_and_a_challenge_serves_once_under_a_race() {
    let Some(head) = head() else { return };
    let server = Server::start().await;
    let transmit = crate::transmit::client(&server, "Dialects", false).await;
    let api = server.client_for(&transmit.api_key);

    let vid = liveness_verification(&api, 41).await;
    let (cid, steps) = challenge(&api, &vid).await;
    let photo = flat_photo(&head, &steps, 42);
    let (a, b) = tokio::join!(send_burst(&api, &vid, &cid, &photo), send_burst(&api, &vid, &cid, &photo));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "one upload wins the challenge: {} / {}", a.text(), b.text());
    let bursts = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok())
        .iter()
        .filter(|c| c["kind"] == "liveness_burst")
        .count();
    assert_eq!(bursts, 1);
    submit_and_wait(&api, &vid, "declined").await;
    let r = transmit
        .api
        .get(&format!("/compat/transmit/verify/api/v1/verification/{vid}/result"))
        .await
        .ok();
    assert_eq!(
        r["checks"]["biometric_liveness"],
        json!({"recommendation": "DENY", "reasons": ["printed_copy_capture"]}),
        "{r}"
    );
    checkout_has_code(&api, &vid, 62305, "face_not_live").await;

    let vid = liveness_verification(&api, 43).await;
    let (cid, steps) = challenge(&api, &vid).await;
    send_burst(&api, &vid, &cid, &turning(&head, &[steps[1], steps[0]], 44))
        .await
        .expect(201);
    submit_and_wait(&api, &vid, "retry_required").await;
    checkout_has_code(&api, &vid, 61412, "face_not_turned").await;
}

/// With a selfie, the burst is compared with it: the same person's burst passes (the
/// selfie is `reference 0`), a burst of someone else than the selfie is
/// `reference_mismatch` and goes to a person rather than declining.
#[tokio::test]
async fn the_burst_is_compared_with_the_selfie() {
    let Some(head) = head() else { return };
    let server = Server::start().await;
    let api = server.admin();
    let mut figures = Vec::new();
    for (who, seed) in [(0, 51), (1, 52)] {
        let v = create_verification(
            &api,
            &json!({"applicant": {"full_name": "Liv Eness"}, "delivery": "none",
                    "policy": {"liveness_required": true}}),
        )
        .await;
        let vid = str_field(&v, "id");
        create_attempt(&api, &vid).await;
        upload(&api, &vid, "document_front", "image/jpeg", &document_jpeg(seed)).await;
        upload(&api, &vid, "selfie", "image/png", &crate::harness::selfie_of(who, seed)).await;
        let (cid, steps) = challenge(&api, &vid).await;
        send_burst(&api, &vid, &cid, &turning(&head, &steps, seed as u32)).await.expect(201);
        api.post_empty(&format!("/v1/verifications/{vid}/submit")).await.expect(202);
        let v = wait_until_decided(&api, &vid).await;
        let l = check_of(&v, "liveness").clone();
        assert_eq!(l["figures"]["references"], json!(["selfie"]), "{l}");
        figures.push((v["status"].clone(), l));
    }
    let (_, same) = &figures[0];
    assert_eq!(same["passed"], true, "the selfie's own person: {same}");
    let (status, other) = &figures[1];
    assert_eq!(other["figures"]["reasons"], json!(["reference_mismatch"]), "{other}");
    assert_eq!(status, "review_required", "{other}");
}
