//! The hosted capture page in a real browser: headless Chromium driven over WebDriver
//! (selenium, `capture_browser.py`) against a running kycd, with a fake camera that shows
//! a synthetic document (a generated `.y4m` video). Screenshots of every step at phone and
//! desktop sizes go to `$CARGO_TARGET_DIR/capture-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` and `selenium` in `KYCD_TEST_PYTHON`'s
//! environment (`scripts/test` installs them). Without them the test says so and passes,
//! except under CI (`CI` set), where it fails.

use crate::flow::{create_attempt, create_verification, data, token_of, verification_body};
use crate::harness::{Server, document_jpeg, selfie_png, str_field};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The browser, its driver and the Python with selenium, if all are there.
fn browser_tools() -> Result<(String, PathBuf, PathBuf), String> {
    let python = std::env::var("KYCD_TEST_PYTHON")
        .map_err(|_| "KYCD_TEST_PYTHON is not set: run scripts/test (it makes the venv with selenium)".to_owned())?;
    let find = |names: &[&str]| -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
    };
    let chromium = find(&["chromium", "chromium-browser"]).ok_or("chromium is not installed (apt-get install chromium)")?;
    let driver = find(&["chromedriver"]).ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    let has_selenium = std::process::Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_selenium {
        return Err(format!(
            "{python} cannot import selenium: run scripts/test, or {python} -m pip install selenium"
        ));
    }
    Ok((python, chromium, driver))
}

/// The browser tools, or `None` after saying why the test is skipped (never under CI).
pub(crate) fn browser_tools_or_skip() -> Option<(String, PathBuf, PathBuf)> {
    match browser_tools() {
        Ok(t) => Some(t),
        Err(why) => {
            assert!(std::env::var_os("CI").is_none(), "CI must run the browser test: {why}");
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// RGB frames as a YUV4MPEG2 (I420) video, the format Chromium's fake camera reads.
/// Odd sizes are cut to even ones.
pub(crate) fn y4m(frames: &[image::RgbImage], fps: u32) -> Vec<u8> {
    let (w, h) = (frames[0].width() & !1, frames[0].height() & !1);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n").into_bytes();
    for img in frames {
        out.extend_from_slice(b"FRAME\n");
        let px = |x: u32, y: u32| {
            let p = img.get_pixel(x, y).0;
            (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]))
        };
        // BT.601, full range (C420jpeg).
        for y in 0..h {
            for x in 0..w {
                let (r, g, b) = px(x, y);
                out.push((0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8);
            }
        }
        let mut u = Vec::with_capacity((w * h / 4) as usize);
        let mut v = Vec::with_capacity((w * h / 4) as usize);
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (pr, pg, pb) = px(x + dx, y + dy);
                    r += pr / 4.0;
                    g += pg / 4.0;
                    b += pb / 4.0;
                }
                u.push((128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b).round().clamp(0.0, 255.0) as u8);
                v.push((128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b).round().clamp(0.0, 255.0) as u8);
            }
        }
        out.extend_from_slice(&u);
        out.extend_from_slice(&v);
    }
    out
}

/// A fresh, empty screenshot folder `$CARGO_TARGET_DIR/<name>` for a browser test.
pub(crate) fn screenshot_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let shots = target.join(name);
    if shots.exists() {
        std::fs::remove_dir_all(&shots).unwrap();
    }
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

/// Run a selenium script (`tests/it/<script>`) with `env` and the browser's paths; fail
/// with its output, the screenshots so far and the server's logs unless it succeeds,
/// prints `ok_line` and took at least `min_shots` screenshots. Returns its stdout.
pub(crate) async fn run_browser_script(
    s: &Server,
    tools: &(String, PathBuf, PathBuf),
    script: &str,
    env: &[(&str, String)],
    shots: &Path,
    ok_line: &str,
    min_shots: usize,
) -> String {
    let (python, chromium, driver) = tools;
    let out = tokio::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it").join(script))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SHOTS", shots)
        .env("CHROMIUM", chromium)
        .env("CHROMEDRIVER", driver)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed (screenshots so far in {}):\n{stdout}\n{stderr}\nserver logs:\n{}",
        shots.display(),
        s.logs()
    );
    assert!(stdout.contains(ok_line), "{stdout}\n{stderr}");
    let taken = std::fs::read_dir(shots).unwrap().count();
    assert!(taken >= min_shots, "screenshots of every step at two sizes, got {taken}");
    eprintln!("{script} screenshots: {}", shots.display());
    stdout
}

/// Verification with a callback URL and state, and its attempt's link.
async fn open_link(api: &crate::harness::Api, s: &Server, callback: &str, state: &str) -> (String, String) {
    let mut body = verification_body("Camille Browser", "camille@example.org");
    body["callback_url"] = json!(callback);
    body["state"] = json!(state);
    body["policy"] = json!({
        "accepted_document_types": ["passport"],
        "accepted_countries": ["FRA", "D"],
        "selfie_required": true
    });
    let v = create_verification(api, &body).await;
    let vid = str_field(&v, "id");
    let att = create_attempt(api, &vid).await;
    let url = format!("{}/capture?token={}", s.base, token_of(&str_field(&att, "url")));
    (vid, url)
}

/// The whole flow in Chromium: consent, document choice, a blurry upload refused with
/// the blurry message, the document front taken with the (fake) camera, the selfie sent
/// through the file field, the redirect to the callback with the verification id and
/// state, and the used link refused. A second browser with a black camera and then a
/// denied one shows the plain messages and still uploads through the file field. A third
/// attempt is continued on a "phone" (a second browser) from the desktop's QR page, and
/// the desktop page follows the phone's progress.
#[tokio::test]
async fn capture_page_in_chromium_with_camera_and_upload() {
    let Some(tools) = browser_tools_or_skip() else { return };
    let s = Server::start().await;
    let (_, api) = s.tenant_client("Acme Browser Co").await;

    // Where the browser is sent back: a small server in the script, on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let callback = format!("http://127.0.0.1:{port}/kyc/done?src=app");
    let state = "st-browser/42 &x";
    let (vid, url) = open_link(&api, &s, &callback, state).await;
    let (_, url_problems) = open_link(&api, &s, &callback, "other").await;
    let (vid_handoff, url_handoff) = open_link(&api, &s, &callback, "handoff").await;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let doc = document_jpeg(11);
    let frame = image::load_from_memory(&doc).unwrap().to_rgb8();
    let video = write("document.y4m", &y4m(&[frame.clone(), frame], 10));
    let black = image::RgbImage::new(640, 480);
    let dark_video = write("black.y4m", &y4m(&[black.clone(), black], 10));
    let blurry = write(
        "blurry.jpg",
        &kycd_testkit::synth::jpeg(
            &kycd_testkit::synth::Scene {
                width: 1200,
                height: 800,
                blur: 10,
                ..Default::default()
            },
            88,
        ),
    );
    let document = write("document.jpg", &doc);
    let selfie = write("selfie.png", &selfie_png(5));
    let shots = screenshot_dir("capture-screenshots");
    let path = |p: &std::path::PathBuf| p.display().to_string();
    let stdout = run_browser_script(
        &s,
        &tools,
        "capture_browser.py",
        &[
            ("KYCD_BASE", s.base.clone()),
            ("LINK", url.clone()),
            ("LINK_PROBLEMS", url_problems.clone()),
            ("LINK_HANDOFF", url_handoff.clone()),
            ("VERIFICATION_ID", vid.clone()),
            ("STATE", state.to_owned()),
            ("CALLBACK", callback.clone()),
            ("CALLBACK_PORT", port.to_string()),
            ("VIDEO", path(&video)),
            ("DARK_VIDEO", path(&dark_video)),
            ("BLURRY", path(&blurry)),
            ("DOCUMENT", path(&document)),
            ("SELFIE", path(&selfie)),
        ],
        &shots,
        "capture browser flow OK",
        30,
    )
    .await;
    println!("{stdout}");

    // The camera's picture went through the same path as an upload and was accepted:
    // the only accepted document front is the camera's JPEG (the blurry upload was not).
    let caps = data(&api.get(&format!("/v1/verifications/{vid}/captures")).await.ok());
    let front = caps
        .iter()
        .find(|c| c["kind"] == "document_front" && c["feedback"]["accepted"] == true)
        .unwrap_or_else(|| panic!("an accepted document front: {caps:?}"));
    assert_eq!(front["media_type"], "image/jpeg", "{front}");
    assert!(caps.iter().any(|c| c["kind"] == "selfie"), "{caps:?}");

    // The phone's pictures landed on the desktop's verification.
    let caps = data(&api.get(&format!("/v1/verifications/{vid_handoff}/captures")).await.ok());
    for kind in ["document_front", "selfie"] {
        assert!(caps.iter().any(|c| c["kind"] == kind), "{kind} from the phone: {caps:?}");
    }
}

/// The camera script is served by kycd itself (the CSP allows `script-src 'self'` only),
/// with a JavaScript type; it runs without Chromium installed too.
#[tokio::test]
async fn capture_script_is_served_from_the_binary() {
    let s = Server::start().await;
    let r = reqwest::get(format!("{}/capture/static/capture.js", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/javascript"),
        "{:?}",
        h["content-type"]
    );
    assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let js = r.text().await.unwrap();
    assert!(js.contains("getUserMedia") && js.contains("toBlob"), "the camera script");
    assert!(!js.contains("eval(") && !js.contains("innerHTML"), "no eval, no HTML from strings");
}
