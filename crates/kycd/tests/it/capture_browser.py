"""The hosted capture page in headless Chromium (selenium over chromedriver).

Run by capture_browser.rs, which starts kycd, opens two attempts and passes everything in
the environment: KYCD_BASE, LINK (the attempt URL of the main flow), LINK_PROBLEMS (a
second attempt, for the camera problems), LINK_HANDOFF (a third, continued on a "phone"), VERIFICATION_ID and STATE (what the redirect
must carry), CALLBACK and CALLBACK_PORT (served here), VIDEO and DARK_VIDEO (.y4m fake
camera input), BLURRY, DOCUMENT and SELFIE (files for the upload field), SHOTS (the
screenshot folder), CHROMIUM and CHROMEDRIVER.

Every step is photographed at a phone size (390x844, 2x) and a desktop size (1280x800).
"""

import http.server
import os
import sys
import threading
import urllib.parse

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from browser_common import DESKTOP, PHONE, SHOTS, check_no_script_errors, chromium, click_steady, configure
from browser_common import list_shots_and_pass, shot, text, wait

E = os.environ
BASE = E["KYCD_BASE"]
configure([PHONE, DESKTOP])
callbacks = []


class Callback(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        callbacks.append(self.path)
        body = b"<!doctype html><title>Back at the business</title><h1>Back at the business</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_callback():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(E["CALLBACK_PORT"])), Callback)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def browser(video, deny=False):
    """Headless Chromium whose camera shows `video`; `deny`: the person refuses the camera."""
    return chromium("1280,800", [
        "--use-fake-ui-for-media-stream" + ("=deny" if deny else ""),
        "--use-fake-device-for-media-stream",
        "--use-file-for-fake-video-capture=" + video,
    ])


def path_is(d, path):
    return urllib.parse.urlsplit(d.current_url).path == path


def camera_state(d):
    return d.find_element(By.ID, "camera").get_attribute("data-state")


def check_fallback_visible(d):
    f = d.find_element(By.ID, "file")
    assert f.is_displayed() and f.is_enabled(), "the file field is always there"
    label = d.find_element(By.CSS_SELECTOR, "label[for=file]")
    assert label.is_displayed() and label.text, "the file field is labelled"


def check_camera_labelled(d):
    v = d.find_element(By.ID, "camera-video")
    assert v.get_attribute("aria-label"), "the preview is labelled"
    take = d.find_element(By.ID, "camera-take")
    assert take.tag_name == "button" and take.text, "take is a labelled button"


def upload(d, path):
    d.find_element(By.ID, "file").send_keys(path)
    click_steady(d, d.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]"))


def consent_and_document(d, link, shoot):
    d.get(link)
    wait(d, "the consent page", lambda: path_is(d, "/capture/consent"))
    assert "Verify your identity" in text(d), text(d)
    if shoot:
        shot(d, "consent")
    d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(d, "the document page", lambda: path_is(d, "/capture/document"))
    d.find_element(By.CSS_SELECTOR, "label[for=doc-passport]").click()
    Select(d.find_element(By.ID, "country")).select_by_value("FRA")
    if shoot:
        shot(d, "document")
    d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait(d, "the front step", lambda: path_is(d, "/capture/step/document_front"))


def main_flow():
    d = browser(E["VIDEO"])
    try:
        consent_and_document(d, E["LINK"], True)

        # Front: the camera starts on the fake device and shows the synthetic document.
        wait(d, "the camera to be ready", lambda: camera_state(d) == "ready")
        check_fallback_visible(d)
        check_camera_labelled(d)
        assert d.find_element(By.ID, "upload-heading").is_displayed()
        assert "Fit the document inside the frame" in text(d), text(d)
        # Keyboard: Tab reaches "Take picture" (after the language link).
        reached = []
        for _ in range(10):
            ActionChains(d).send_keys(Keys.TAB).perform()
            reached.append(d.switch_to.active_element.get_attribute("id") or d.switch_to.active_element.tag_name)
            if reached[-1] == "camera-take":
                break
        assert reached[-1] == "camera-take", f"Tab order: {reached}"
        shot(d, "front-camera")

        # A blurry photo through the file field: the blurry message, what to do.
        upload(d, E["BLURRY"])
        wait(d, "the blurry message", lambda: "blurry" in text(d))
        problem = d.find_element(By.CSS_SELECTOR, ".notice.problem[role=alert]").text
        assert "The picture is blurry; hold still and let the camera focus." in problem, problem
        wait(d, "the camera again", lambda: camera_state(d) == "ready")
        check_fallback_visible(d)
        shot(d, "front-blurry")

        # The camera's picture: submitted as the file field, accepted, next step.
        d.find_element(By.ID, "camera-take").click()
        wait(d, "the selfie step", lambda: path_is(d, "/capture/step/selfie"), timeout=60)
        assert "Looks good." in text(d), text(d)
        wait(d, "the front camera", lambda: camera_state(d) == "ready")
        assert "Put your face inside the oval" in text(d), text(d)
        check_fallback_visible(d)
        shot(d, "selfie-camera")

        # The same step in French: the camera's words come from the page.
        d.get(BASE + "/capture/step/selfie?lang=fr")
        wait(d, "the French camera", lambda: camera_state(d) == "ready")
        assert d.find_element(By.ID, "camera-take").text == "Prendre la photo"
        assert "Placez votre visage" in text(d), text(d)
        assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        shot(d, "selfie-camera-fr")
        d.get(BASE + "/capture/step/selfie?lang=en")

        # A picture without a face at the selfie step: the face message, what to do.
        upload(d, E["DOCUMENT"])
        wait(d, "the no-face message", lambda: "We cannot see your face" in text(d))
        problem = d.find_element(By.CSS_SELECTOR, ".notice.problem[role=alert]").text
        assert "look straight at the camera" in problem, problem
        shot(d, "selfie-no-face")

        # Selfie through the file field (the camera stays on beside it).
        upload(d, E["SELFIE"])
        wait(d, "the submit page", lambda: path_is(d, "/capture/submit"))
        assert "All pictures are in" in text(d), text(d)
        shot(d, "submit")
        check_no_script_errors(d)

        # Submit: back at the business with the verification id and state.
        d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        cb = urllib.parse.urlsplit(E["CALLBACK"])
        wait(d, "the callback", lambda: d.current_url.startswith(f"{cb.scheme}://{cb.netloc}{cb.path}"))
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(d.current_url).query)
        assert q.get("verification_id") == [E["VERIFICATION_ID"]], d.current_url
        assert q.get("state") == [E["STATE"]], d.current_url
        assert q.get("src") == ["app"], d.current_url
        assert callbacks, "the callback server was reached"
        assert "Camille" not in d.current_url and "camille" not in d.current_url
        shot(d, "callback")

        # The link again: already used.
        d.get(E["LINK"])
        wait(d, "the used-link page", lambda: "This link was already used" in text(d))
        assert "Ask the business that sent it for a new link." in text(d)
        shot(d, "link-used")
    finally:
        d.quit()


def problem_flow():
    """A black camera, then a denied one: a plain message each time, the file field works."""
    d = browser(E["DARK_VIDEO"])
    try:
        consent_and_document(d, E["LINK_PROBLEMS"], False)
        wait(d, "the black-camera message", lambda: camera_state(d) == "failed", timeout=30)
        msg = d.find_element(By.ID, "camera-problem").text
        assert "only a black picture" in msg, msg
        assert not d.find_element(By.ID, "camera-viewer").is_displayed()
        assert d.find_element(By.ID, "camera-retry").is_displayed()
        check_fallback_visible(d)
        shot(d, "camera-black")
        cookies = d.get_cookies()
        check_no_script_errors(d)
    finally:
        d.quit()

    # The same session in a browser whose camera the person refuses.
    d = browser(E["VIDEO"], deny=True)
    try:
        d.get(BASE + "/capture/static/capture.css")
        for c in cookies:
            d.add_cookie({k: c[k] for k in ("name", "value", "path", "httpOnly", "sameSite") if k in c})
        d.get(BASE + "/capture/step/document_front")
        wait(d, "the denied-camera message", lambda: camera_state(d) == "failed")
        msg = d.find_element(By.ID, "camera-problem").text
        assert "not allowed" in msg, msg
        check_fallback_visible(d)
        shot(d, "camera-denied")

        # The file field still works.
        upload(d, E["DOCUMENT"])
        wait(d, "the selfie step", lambda: path_is(d, "/capture/step/selfie"), timeout=60)
        assert "Looks good." in text(d), text(d)
        check_no_script_errors(d)
    finally:
        d.quit()


def handoff_flow():
    """Desktop to phone: the desktop shows a QR code and the link; a second browser (the
    phone) opens the link and captures both pictures; the desktop page, which refreshes
    itself, follows and shows each step done. The link works once."""
    desk = browser(E["VIDEO"])
    phone = None
    try:
        consent_and_document(desk, E["LINK_HANDOFF"], False)
        # The camera view grows when the stream starts and pushes the handoff button down;
        # a click before that lands where the button was (seen under CI load).
        wait(desk, "the camera to be ready", lambda: camera_state(desk) == "ready")
        click_steady(desk, desk.find_element(By.CSS_SELECTOR, "section.handoff form button[type=submit]"))
        wait(desk, "the handoff page", lambda: path_is(desk, "/capture/handoff"))
        qr = desk.find_element(By.CSS_SELECTOR, "p.qr img")
        wait(desk, "the QR code", lambda: desk.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", qr))
        link = desk.find_element(By.CSS_SELECTOR, "p.link a").get_attribute("href")
        assert "/capture/continue?token=" in link, link
        assert "Camille" not in link and "camille" not in link, link
        shot(desk, "handoff-desktop-qr")
        check_no_script_errors(desk)

        phone = browser(E["VIDEO"])
        phone.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE[1])
        phone.get(link)
        wait(phone, "the phone's front step", lambda: path_is(phone, "/capture/step/document_front"))
        shot(phone, "handoff-phone-front")
        upload(phone, E["DOCUMENT"])
        wait(phone, "the phone's selfie step", lambda: path_is(phone, "/capture/step/selfie"), timeout=60)
        upload(phone, E["SELFIE"])
        wait(phone, "the phone's submit page", lambda: path_is(phone, "/capture/submit"))
        shot(phone, "handoff-phone-submit")
        check_no_script_errors(phone)

        # The desktop follows: opened on the phone, both steps done.
        wait(desk, "the desktop to follow", lambda: "Opened on your phone" in text(desk) and text(desk).count("done") >= 2, timeout=30)
        shot(desk, "handoff-desktop-progress")

        # The phone submits; the desktop moves on to the done page by itself.
        phone.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        cb = urllib.parse.urlsplit(E["CALLBACK"])
        # (the phone ends on the done page or at the business, whichever the flow sends it to)
        wait(phone, "the phone's end", lambda: phone.current_url.startswith(f"{cb.scheme}://{cb.netloc}{cb.path}") or path_is(phone, "/capture/done"))
        wait(desk, "the desktop's done page", lambda: path_is(desk, "/capture/done"), timeout=30)
        shot(desk, "handoff-desktop-done")

        # The spent link, in a browser without the phone's session: already used.
        phone.delete_all_cookies()
        phone.get(link)
        wait(phone, "the used handoff link", lambda: "This link was already used" in text(phone))
        shot(phone, "handoff-link-used")
    finally:
        desk.quit()
        if phone:
            phone.quit()


def main():
    os.makedirs(SHOTS, exist_ok=True)
    srv = serve_callback()
    try:
        main_flow()
        problem_flow()
        handoff_flow()
    finally:
        srv.shutdown()
    list_shots_and_pass("capture browser flow")


if __name__ == "__main__":
    sys.exit(main())
