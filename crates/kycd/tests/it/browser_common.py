"""What the two Chromium scripts (capture_browser.py, console_browser.py) share: the
browser, waiting, page text and screenshots at several sizes, and the check that the
browser console shows no script or CSP error.

Each script calls `configure(sizes)` once with its (name, device metrics) pairs; the
environment gives CHROMIUM, CHROMEDRIVER and SHOTS (the screenshot folder).
"""

import base64
import os
import time

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

E = os.environ
SHOTS = E["SHOTS"]
# The screen sizes the scripts photograph pages at: (name, Emulation device metrics).
PHONE = ("phone", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
DESKTOP = ("desktop", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
LAPTOP = ("laptop", {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
_sizes = []
_shot_no = [0]


def configure(sizes):
    """The sizes every screenshot is taken at: [(name, Emulation device metrics)]."""
    _sizes[:] = sizes


def chromium(window, extra_args=()):
    """Headless Chromium at `window` ("W,H"), English, console log kept."""
    o = Options()
    o.binary_location = E["CHROMIUM"]
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--no-first-run", f"--window-size={window}", "--lang=en-GB", *extra_args]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(E["CHROMEDRIVER"]), options=o)
    d.set_page_load_timeout(60)
    return d


def text(d):
    # Read in the page in one step: a body element found first can be replaced before its
    # text is asked for, which Chrome answers with an inspector error, not a stale element.
    return d.execute_script("return document.body ? document.body.innerText : ''")


def shot(d, name):
    """Full-page screenshots at every configured size; the page keeps its own size afterwards."""
    _shot_no[0] += 1
    for size, metrics in _sizes:
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        time.sleep(0.3)  # relayout, and a new video frame at the new size
        png = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(os.path.join(SHOTS, f"{_shot_no[0]:02d}-{name}-{size}.png"), "wb") as f:
            f.write(base64.b64decode(png))
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def wait(d, what, cond, timeout=30):
    """Poll `cond` until it is true; on timeout, a FAILED- screenshot and the page's text."""
    try:
        # Elements of a page being replaced go stale: poll again.
        w = WebDriverWait(d, timeout, poll_frequency=0.1,
                          ignored_exceptions=[StaleElementReferenceException, NoSuchElementException])
        return w.until(lambda _: cond())
    except TimeoutException:
        shot(d, "FAILED-" + what.replace(" ", "-"))
        raise AssertionError(f"timed out waiting for {what} on {d.current_url}:\n{text(d)}")


def click_steady(d, el, timeout=30):
    """Click `el` once its box has stopped moving: a page whose camera view grows when the
    stream starts shifts what is below it, and a click computed before the shift lands
    where the element was."""
    rect = lambda: d.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.x, r.y, r.width, r.height]", el)
    last = [None]

    def steady():
        now = rect()
        same = now == last[0]
        last[0] = now
        return same

    WebDriverWait(d, timeout, poll_frequency=0.25).until(lambda _: steady())
    el.click()


def list_shots_and_pass(flow):
    """Name every screenshot taken, then say that `flow` passed (the test wants "OK" last)."""
    names = sorted(os.listdir(SHOTS))
    print(f"{len(names)} screenshots in {SHOTS}:")
    for n in names:
        print("  " + n)
    print(f"{flow} OK")


def check_no_script_errors(d, expected=("favicon",)):
    """No CSP violation or script error in the console; messages containing one of
    `expected` (e.g. a favicon 404, or the error pages a test asks for) are fine."""
    bad = [e for e in d.get_log("browser")
           if e.get("level") == "SEVERE" and not any(x in e.get("message", "") for x in expected)]
    assert not bad, f"console errors (CSP violations, script errors): {bad}"
