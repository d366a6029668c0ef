"""The capture page's head-turn liveness step in headless Chromium (selenium over
chromedriver), with a fake camera that plays a rendered head turning (a .y4m video).

Run by liveness.rs (`the_liveness_step_in_chromium`), which starts kycd with a fixed
challenge (KYCD_TEST_LIVENESS_STEPS), opens an attempt whose document front is already
uploaded, and passes in the environment: LINK (the attempt URL), VIDEO (the fake camera
input), SHOTS (the screenshot folder), CHROMIUM and CHROMEDRIVER.
"""

import os
import urllib.parse

from selenium.webdriver.common.by import By

from browser_common import DESKTOP, PHONE, check_no_script_errors, chromium, configure, shot, text, wait

E = os.environ
configure([PHONE, DESKTOP])


def path_is(d, path):
    return urllib.parse.urlsplit(d.current_url).path == path


def main():
    d = chromium("1280,800", [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--use-file-for-fake-video-capture=" + E["VIDEO"],
    ])
    try:
        d.get(E["LINK"])
        wait(d, "the consent page", lambda: path_is(d, "/capture/consent"))
        assert "turn your head" in text(d), text(d)
        d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait(d, "the document page", lambda: path_is(d, "/capture/document"))
        d.find_element(By.CSS_SELECTOR, "label[for=doc-passport]").click()
        d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        # The front was uploaded through the API: the liveness step is next.
        wait(d, "the liveness step", lambda: path_is(d, "/capture/step/liveness_burst"))
        start = d.find_element(By.ID, "liveness-start")
        # The camera starts on the page: Start is enabled once it delivers 640x480.
        wait(d, "the camera", lambda: start.is_enabled())
        assert d.find_element(By.ID, "liveness").is_displayed()
        assert not d.find_element(By.ID, "liveness-nocamera").is_displayed()
        assert "press Start" in text(d), text(d)
        start.click()
        # The prompts follow the server's challenge, in the person's own words.
        wait(d, "the first prompt", lambda: "Turn your head to your left" in text(d), timeout=10)
        shot(d, "liveness-left")
        wait(d, "the second prompt", lambda: "Lift your chin" in text(d), timeout=10)
        shot(d, "liveness-up")
        wait(d, "the submit page", lambda: path_is(d, "/capture/submit"), timeout=60)
        assert "Looks good." in text(d), text(d)
        d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait(d, "the done page", lambda: path_is(d, "/capture/done"))
        check_no_script_errors(d)
    finally:
        d.quit()
    print("liveness browser flow OK")


main()
