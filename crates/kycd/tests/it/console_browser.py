"""The review console in headless Chromium (selenium over chromedriver).

Run by console_browser.rs, which starts kycd, puts three verifications of tenant A into
review_required and one of tenant B, and passes in the environment: KYCD_BASE, INVITE
(the reviewer's invitation link), EMAIL, PASSWORD, CASES (A's three ids, oldest first),
FOREIGN (B's id), SHOTS (the screenshot folder), CHROMIUM and CHROMEDRIVER.

The reviewer sets a password through the invitation, signs in, works the queue with the
keyboard shortcuts (approve, decline, request a new capture), zooms and rotates an image,
edits the URL to another tenant's verification and to the admin pages, and switches to
French. Each step is photographed at the laptop size the console is made for (1366x768)
and at a phone size. Prints "DECIDED <action> <id>" for each decision.
"""

import os
import sys
import time
import urllib.parse

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser_common import LAPTOP, PHONE, SHOTS, chromium, configure, list_shots_and_pass, shot, text, wait
from browser_common import check_no_script_errors as common_check_no_script_errors

E = os.environ
BASE = E["KYCD_BASE"]
configure([LAPTOP, PHONE])


def browser():
    return chromium("1366,768")


def path(d):
    return urllib.parse.urlsplit(d.current_url).path


def check_no_script_errors(d):
    """No CSP violation or script error (the 404 and 403 pages this test asks for are fine)."""
    common_check_no_script_errors(d, ("favicon", "status of 404", "status of 403"))


def no_horizontal_scroll_at_laptop_size(d):
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", LAPTOP[1])
    time.sleep(0.2)
    wide = d.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1")
    d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert not wide, f"{d.current_url} scrolls sideways at 1366x768"


def press(d, key):
    d.find_element(By.TAG_NAME, "body").send_keys(key)


def decide_with_keyboard(d, key, action, reason, note, message=""):
    """The shortcut moves focus to the decision's reason list; the reviewer picks and submits."""
    press(d, key)
    active = d.switch_to.active_element
    assert active.get_attribute("id") == f"reason-{action}", f"{key} focuses the {action} reasons, not {active.get_attribute('id')}"
    Select(active).select_by_value(reason)
    d.find_element(By.ID, f"note-{action}").send_keys(note)
    if message:
        d.find_element(By.ID, f"msg-{action}").send_keys(message)
    d.find_element(By.ID, f"submit-{action}").click()
    wait(d, f"the {action} decision", lambda: "done=decided" in d.current_url)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    cases = E["CASES"].split(",")
    d = browser()
    try:
        # The invitation: set a password, then sign in.
        d.get(E["INVITE"])
        wait(d, "the invitation page", lambda: d.find_element(By.ID, "password"))
        shot(d, "invitation")
        d.find_element(By.ID, "password").send_keys(E["PASSWORD"])
        d.find_element(By.ID, "password2").send_keys(E["PASSWORD"])
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(d, "the sign-in page", lambda: path(d) == "/console/login")
        assert "password is set" in text(d), text(d)
        d.find_element(By.ID, "email").send_keys(E["EMAIL"])
        d.find_element(By.ID, "password").send_keys(E["PASSWORD"])
        shot(d, "sign-in")
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(d, "the queue", lambda: path(d) == "/console/queue")
        body = text(d)
        for vid in cases:
            assert vid in body, f"{vid} in the queue:\n{body}"
        # Oldest first.
        order = [body.index(v) for v in cases]
        assert order == sorted(order), f"the queue is oldest first: {order}"
        no_horizontal_scroll_at_laptop_size(d)
        shot(d, "queue")

        # Case 1: look closely at the document, then approve with the keyboard.
        d.find_element(By.CSS_SELECTOR, "a[data-first]").click()
        wait(d, "the first case", lambda: path(d) == f"/console/verifications/{cases[0]}")
        img = d.find_element(By.CSS_SELECTOR, "img.shot")
        wait(d, "the image to load", lambda: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img))
        shot(d, "case")
        fig = d.find_element(By.CSS_SELECTOR, "figure.viewer")
        fig.find_element(By.CSS_SELECTOR, "button[data-act=rotate]").click()
        assert "rot1" in img.get_attribute("class"), img.get_attribute("class")
        fig.find_element(By.CSS_SELECTOR, "button[data-act=zoom]").click()
        assert "zoomed" in img.get_attribute("class"), img.get_attribute("class")
        shot(d, "case-zoomed-rotated")
        # Approve the first; N opens the next case: decline it; and the third: ask for a
        # new capture, with a message for the person.
        decisions = [
            ("a", "approve", "document_verified_manually", "compared by hand", "", "approved", "approved"),
            ("d", "decline", "data_mismatch", "name differs from the document", "", "declined", "declined"),
            ("r", "retry", "poor_image_quality", "glare over the name",
             "Please take the photo again without reflections.", "retry_required", "retry-requested"),
        ]
        for i, (key, action, reason, note, message, status, name) in enumerate(decisions):
            if i > 0:
                press(d, "n")
                wait(d, f"case {i + 1}", lambda: path(d) == f"/console/verifications/{cases[i]}")
            decide_with_keyboard(d, key, action, reason, note, message)
            assert status in d.find_element(By.ID, "status").text
            print(f"DECIDED {action} {cases[i]}")
            shot(d, name)

        # The queue is empty now.
        d.get(BASE + "/console/queue")
        wait(d, "the empty queue", lambda: "Nothing to review" in text(d))
        shot(d, "queue-empty")

        # Editing the URL to another tenant's verification: not found, nothing shown.
        d.get(BASE + "/console/verifications/" + E["FOREIGN"])
        wait(d, "not found", lambda: "Not found" in d.title)
        assert E["FOREIGN"] not in text(d), text(d)
        assert not d.find_elements(By.CSS_SELECTOR, "img.shot")
        shot(d, "foreign-case-not-found")
        # …and a reviewer cannot reach the admin pages.
        d.get(BASE + "/console/admin")
        wait(d, "not allowed", lambda: "Not allowed" in d.title)
        shot(d, "admin-not-allowed")

        # French.
        d.get(BASE + "/console/queue")
        d.find_element(By.CSS_SELECTOR, "a.lang").click()
        wait(d, "the French queue", lambda: "File de revue" in d.title)
        shot(d, "queue-french")
        check_no_script_errors(d)
    finally:
        d.quit()
    list_shots_and_pass("console browser flow")


if __name__ == "__main__":
    sys.exit(main())
