"""A plain Transmit Security Verify client, written from the vendor's public API reference
(no kycd code): it runs the backend-only flow against a base URL and validates every
answer against the response schemas of that reference (required fields, types, enums).

    python transmit_client.py   # env: KYCD_BASE, CLIENT_ID, CLIENT_SECRET, FRONT, SELFIE

Prints "transmit flow OK" and exits 0 on success; any deviation raises.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

RECOMMENDATION = {"type": "string", "enum": ["ALLOW", "CHALLENGE", "DENY"]}
CHECK_RECOMMENDATION = {"type": "string", "enum": ["ALLOW", "CHALLENGE", "DENY", "N/A"]}
IMAGE_TYPE = {"type": "string", "enum": ["document_front", "document_back", "selfie"]}
ISO_DATE_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
DOCUMENT_TYPES = [
    "national_id", "drivers_license", "passport", "residence_permit", "visa",
    "firearm_license", "criminal_police_certificate", "health_card", "membership_card",
    "postal", "social_security_card", "voter_card", "professional_id", "other",
]


def check(reasons):
    return {
        "type": "object",
        "required": ["recommendation"],
        "properties": {
            "recommendation": CHECK_RECOMMENDATION,
            "reasons": {"type": "array", "items": {"type": "string", "enum": reasons}},
        },
    }


SCHEMAS = {
    "token": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string", "minLength": 1},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
        },
    },
    "CreateSessionResponse": {
        "type": "object",
        "required": ["session_id", "expiration", "missing_images"],
        "properties": {
            "start_token": {"type": "string"},
            "session_id": {"type": "string", "minLength": 1},
            "expiration": {"type": "string"},
            "missing_images": {"type": "array", "items": IMAGE_TYPE},
        },
    },
    "AddImageResponse": {
        "type": "object",
        "required": ["feedback", "complete", "missing_images"],
        "properties": {
            "feedback": {"type": "string"},
            "complete": {"type": "string", "enum": ["true", "false"]},
            "missing_images": {"type": "array", "items": IMAGE_TYPE},
        },
    },
    "IncompleteSessionResult": {
        "type": "object",
        "required": ["session_id", "status"],
        "properties": {
            "session_id": {"type": "string"},
            "status": {"enum": ["pending", "capturing", "processing", "recapture", "error"]},
        },
    },
    "CompleteSessionResult": {
        "type": "object",
        "required": ["session_id", "status", "recommendation", "person", "document", "checks",
                     "verification_images"],
        "properties": {
            "session_id": {"type": "string"},
            "status": {"const": "complete"},
            "recommendation": RECOMMENDATION,
            "person": {
                "type": "object",
                "properties": {
                    "full_name": {"type": "string"},
                    "given_name": {"type": "string"},
                    "surname": {"type": "string"},
                    "gender": {"enum": ["male", "female", "other"]},
                    "national_id": {"type": "string"},
                    "date_of_birth": ISO_DATE_TIME,
                    "age": {"type": "number"},
                },
            },
            "document": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    "region": {"type": "string"},
                    "type": {"enum": DOCUMENT_TYPES},
                    "number": {"type": "string"},
                    "serial_number": {"type": "string"},
                    "issue_date": ISO_DATE_TIME,
                    "expiration_date": ISO_DATE_TIME,
                },
            },
            "additional_info": {"type": "object"},
            "checks": {
                "type": "object",
                "properties": {
                    "document_validation": check(["data_extraction_failed", "data_validation_failed",
                                                  "data_comparison_failed", "mrz_check_digits_invalid"]),
                    "document_authentication": check(["face_tampering", "face_not_found",
                                                      "missing_security_features", "document_tampering",
                                                      "document_text_tampering", "wrong_font",
                                                      "document_damaged", "document_template_mismatch"]),
                    "document_liveness": check(["presentation_attack"]),
                    "biometric_matching": check(["biometric_mismatch", "age_mismatch", "gender_mismatch"]),
                    "biometric_liveness": check(["screen_capture", "printed_copy_capture", "printed_cutout",
                                                 "mask_detected", "injection_attack_detected",
                                                 "selfie_liveness_attack", "multiple_faces_detected"]),
                    "flagged_identity": check(["multiple_same_identity_attempts", "previous_document_fraud",
                                               "previous_face_fraud"]),
                    "risk_recommendation": {
                        "type": "object",
                        "required": ["recommendation"],
                        "properties": {"recommendation": CHECK_RECOMMENDATION},
                    },
                },
            },
            "verification_images": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {"id": {"type": "string"}, "type": IMAGE_TYPE},
                },
            },
        },
    },
    "DeprecatedSessionResult": {
        "type": "object",
        "required": ["session_id", "status"],
        "properties": {
            "session_id": {"type": "string"},
            "status": {"enum": ["pending", "capturing", "processing", "recapture", "complete", "error"]},
            "recommendation": RECOMMENDATION,
            "rejection_description": {"type": "array", "items": {"type": "string"}},
            "extracted_info": {"type": "object"},
            "verified_info": {"type": "object"},
        },
    },
    "SessionImagesResponse": {
        "type": "object",
        "required": ["session_images"],
        "properties": {
            "session_images": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "rejected", "original"],
                    "properties": {
                        "id": {"type": "string"},
                        "format": {"type": "string"},
                        "type": IMAGE_TYPE,
                        "rejected": {"type": "boolean"},
                        "original": {"type": "boolean"},
                        "original_id": {"type": "string"},
                    },
                },
            },
        },
    },
}

BASE = os.environ["KYCD_BASE"].rstrip("/")


def call(method, path, body=None, token=None, form=None, expect=200):
    headers = {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if status != expect:
        raise AssertionError(f"{method} {path}: expected {expect}, got {status}: {raw[:500]!r}")
    if ctype.startswith("application/json"):
        return json.loads(raw)
    return raw


def valid(name, doc):
    jsonschema.validate(doc, SCHEMAS[name])
    return doc


def main():
    front = open(os.environ["FRONT"], "rb").read()
    selfie = open(os.environ["SELFIE"], "rb").read()
    tok = valid("token", call("POST", "/oidc/token", form={
        "client_id": os.environ["CLIENT_ID"],
        "client_secret": os.environ["CLIENT_SECRET"],
        "grant_type": "client_credentials",
        "resource": "https://verify.identity.security",
    }))
    t = tok["access_token"]

    s = valid("CreateSessionResponse", call("POST", "/api/v1/verification", {
        "callback_url": "https://example.org/verified",
        "state": "opaque-state",
        "start": {},
    }, token=t, expect=201))
    sid = s["session_id"]
    assert s["missing_images"], s
    valid("IncompleteSessionResult", call("GET", f"/api/v1/verification/{sid}/result", token=t))

    for kind, img in (("document_front", front), ("selfie", selfie)):
        r = valid("AddImageResponse", call("POST", f"/api/v1/verification/{sid}/images", {
            "image": {"type": kind, "format": "jpg", "data": base64.b64encode(img).decode()},
            "device_info": {"os": "Linux"},
        }, token=t))
        assert r["feedback"] == "ok", r
    assert r["complete"] == "true", r
    err = call("POST", f"/api/v1/verification/{sid}/images", {
        "image": {"type": "selfie", "data": base64.b64encode(selfie).decode()},
    }, token=t, expect=409)
    assert err["error_code"] == 409 and err["message"], err

    deadline = time.time() + 180
    while True:
        r = call("GET", f"/api/v1/verification/{sid}/result?detailed=true", token=t)
        if r["status"] == "complete":
            break
        valid("IncompleteSessionResult", r)
        assert time.time() < deadline, r
        time.sleep(0.3)
    valid("CompleteSessionResult", r)
    valid("DeprecatedSessionResult", call("GET", f"/api/v1/verification/{sid}/result?detailed=false", token=t))

    images = valid("SessionImagesResponse", call("GET", f"/api/v1/verification/{sid}/images", token=t))
    assert len(images["session_images"]) == 2, images
    for meta in images["session_images"]:
        raw = call("GET", f"/api/v1/verification/{sid}/images/{meta['id']}", token=t)
        assert raw == (selfie if meta["type"] == "selfie" else front), meta
    err = call("GET", f"/api/v1/verification/{sid}/images/nonexistent", token=t, expect=404)
    assert err["error_code"] == 404, err

    call("DELETE", f"/api/v1/verification/{sid}", token=t)
    err = call("GET", f"/api/v1/verification/{sid}/result", token=t, expect=404)
    assert err["error_code"] == 404 and err["message"], err
    err = call("GET", "/api/v1/verification/x/result", token="not-a-token", expect=401)
    assert err["error_code"] == 401, err
    print("transmit flow OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - print the reason for the Rust test's report
        print(f"transmit flow FAILED: {e!r}", file=sys.stderr)
        sys.exit(1)
