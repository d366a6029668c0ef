"""The HTTP request the plain vendor clients (skribble_client.py, transmit_client.py) make:
standard library only, as a vendor's own example client would be."""

import json
import urllib.error
import urllib.parse
import urllib.request


def request(method, url, body=None, token=None, form=None, raw=None, expect=200):
    """One request with a JSON `body`, a `form`, or `raw` JSON bytes, and a bearer `token`;
    fails unless the answer's status is `expect`. Returns (status, body bytes, content type)."""
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif raw is not None:
        data = raw
        headers["Content-Type"] = "application/json"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, content, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, content, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if status != expect:
        raise AssertionError(f"{method} {url}: expected {expect}, got {status}: {content[:500]!r}")
    return status, content, ctype
