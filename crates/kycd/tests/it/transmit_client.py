"""A plain Transmit Security Verify client, written from the vendor's Verify OpenAPI (as
distilled in shared/api/transmit.md; no kycd code, and Transmit publishes no backend SDK):
it runs the backend-only flow against a host laid out as the vendor's (`/oidc/token`,
`/verify/api/v1/...`) and validates EVERY answer, errors included, against the vendor's
response schemas (required fields, types, enums, and no field the vendor does not define).

    python transmit_client.py   # env: KYCD_HOST (<kycd>/compat/transmit), CLIENT_ID, CLIENT_SECRET, FRONT, SELFIE

FRONT and SELFIE are JPEG files (the only image format the API defines). Prints
"transmit flow OK" and exits 0 on success; any deviation raises.
"""

import base64
import json
import os
import sys
import time

import jsonschema

from vendor_http import request

RECOMMENDATION = {"type": "string", "enum": ["ALLOW", "CHALLENGE", "DENY"]}
CHECK_RECOMMENDATION = {"type": "string", "enum": ["ALLOW", "CHALLENGE", "DENY", "N/A"]}
IMAGE_TYPE = {"type": "string", "enum": ["document_front", "document_back", "selfie"]}
FEEDBACK = {"enum": [
    "ok", "other", "document_not_found", "face_not_found", "document_face_not_found", "obstructed", "blur",
    "glare", "document_not_supported", "document_not_matching", "wrong_document_side", "multi_face",
    "face_rotated", "face_too_small", "face_too_close", "closed_eyes", "face_angle_too_large",
    "face_close_to_border", "face_occluded", "face_cropped", "barcode_not_found", "glare_selfie", "blur_selfie",
    "restricted_criteria",
]}
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
        "additionalProperties": False,
        "properties": {
            "access_token": {"type": "string", "minLength": 1},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 1},
        },
    },
    "CreateSessionResponse": {
        "type": "object",
        "required": ["session_id", "expiration", "missing_images"],
        "additionalProperties": False,
        "properties": {
            "start_token": {"type": "string"},
            "session_id": {"type": "string", "minLength": 1},
            "expiration": {"type": "string"},
            "missing_images": {"type": "array", "items": IMAGE_TYPE},
        },
    },
    "AddImagesResponse": {
        "type": "object",
        "required": ["feedback", "complete", "missing_images"],
        "additionalProperties": False,
        "properties": {
            "feedback": FEEDBACK,
            "complete": {"type": "boolean"},
            "missing_images": {"type": "array", "items": IMAGE_TYPE},
            "custom_feedback": {"type": "string"},
        },
    },
    "Consent": {
        "type": "object",
        "required": ["consent_granted"],
        "additionalProperties": False,
        "properties": {"consent_granted": {"type": "boolean"}, "consent_date": {"type": "string"}},
    },
    # Mosaic's error body (the Verify spec declares none; the other Mosaic APIs use this).
    "Error": {
        "type": "object",
        "required": ["message", "error_code"],
        "additionalProperties": False,
        "properties": {
            "message": {"anyOf": [{"type": "string", "minLength": 1},
                                  {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
            "error_code": {"type": "integer", "minimum": 400, "maximum": 599},
        },
    },
    "IncompleteSessionResult": {
        "type": "object",
        "required": ["session_id", "status"],
        "additionalProperties": False,
        "properties": {
            "session_id": {"type": "string"},
            "status": {"enum": ["pending", "capturing", "processing", "recapture", "error"]},
        },
    },
    "CompleteSessionResult": {
        "type": "object",
        "required": ["session_id", "status", "recommendation", "person", "document", "checks",
                     "verification_images"],
        "additionalProperties": False,
        "properties": {
            "session_id": {"type": "string"},
            "status": {"const": "complete"},
            "recommendation": RECOMMENDATION,
            "person": {
                "type": "object",
                "additionalProperties": False,
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
                "additionalProperties": False,
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
            "additional_info": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"address": {"type": "object"}, "national_status": {"type": "object"},
                               "employment": {"type": "object"}},
            },
            "risk_details": {"type": "object"},
            "checks": {
                "type": "object",
                "additionalProperties": False,
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
                    "additionalProperties": False,
                    "properties": {"id": {"type": "string"}, "type": IMAGE_TYPE},
                },
            },
        },
    },
    "DeprecatedSessionResult": {
        "type": "object",
        "required": ["session_id", "status"],
        "additionalProperties": False,
        "properties": {
            "session_id": {"type": "string"},
            "status": {"enum": ["pending", "capturing", "processing", "recapture", "complete", "error"]},
            "recommendation": RECOMMENDATION,
            "rejection_description": {"type": "array", "items": {"type": "string"}},
            "extracted_info": {"$ref": "#/$defs/info"},
            "verified_info": {"$ref": "#/$defs/info"},
        },
        "$defs": {
            "info": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "person": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "given_name": {"type": "string"}, "surname": {"type": "string"},
                            "gender": {"enum": ["F", "M", "X"]}, "full_name": {"type": "string"},
                            "age": {"type": "number"}, "address": {"type": "object"},
                            "date_of_birth": ISO_DATE_TIME,
                        },
                    },
                    "document": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "type": {"enum": DOCUMENT_TYPES},
                            "country": {"type": "string", "pattern": "^[A-Z]{3}$"},
                            "region": {"type": "string"}, "issue_date": ISO_DATE_TIME,
                            "document_serial_number": {"type": "string"}, "id_value": {"type": "string"},
                            "given_name": {"type": "string"}, "surname": {"type": "string"},
                            "full_name": {"type": "string"}, "date_of_birth": ISO_DATE_TIME,
                            "valid_until": ISO_DATE_TIME,
                        },
                    },
                },
            },
        },
    },
    "SessionImagesResponse": {
        "type": "object",
        "required": ["session_images"],
        "additionalProperties": False,
        "properties": {
            "session_images": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "rejected", "original"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string"},
                        "format": {"enum": ["jpg"]},
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

HOST = os.environ["KYCD_HOST"].rstrip("/")
VERIFY = HOST + "/verify"


def call(method, url, body=None, token=None, form=None, expect=200, schema=None):
    """One request; an error answer must be the vendor's error body with the same code."""
    status, raw, ctype = request(method, url, body, token, form, expect=expect)
    if status >= 400:
        err = valid("Error", json.loads(raw))
        assert err["error_code"] == status, err
        return err
    if schema is not None:
        assert ctype.startswith("application/json"), (url, ctype)
        return valid(schema, json.loads(raw))
    return raw


def valid(name, doc):
    jsonschema.validate(doc, SCHEMAS[name])
    return doc


def add_image(sid, token, kind, img, expect=200):
    return call("POST", f"{VERIFY}/api/v1/verification/{sid}/images", {
        "image": {"format": "jpg", "image_type": kind, "content": base64.b64encode(img).decode(),
                  "image_id": f"client-{kind}"},
        "device_info": {"model": "Pixel 8", "type": "mobile", "manufacturer": "Google", "os": "Android",
                        "os_version": "14", "browser": "Chrome", "browser_version": "126",
                        "used_camera": {"label": "back"}, "cameras": [{"label": "back"}, {"label": "front"}]},
    }, token=token, expect=expect, schema="AddImagesResponse" if expect == 200 else None)


def main():
    front = open(os.environ["FRONT"], "rb").read()
    selfie = open(os.environ["SELFIE"], "rb").read()
    tok = call("POST", HOST + "/oidc/token", form={
        "client_id": os.environ["CLIENT_ID"],
        "client_secret": os.environ["CLIENT_SECRET"],
        "grant_type": "client_credentials",
        "resource": "https://verify.identity.security",
    }, schema="token")
    t = tok["access_token"]

    s = call("POST", f"{VERIFY}/api/v1/verification", {
        "callback_url": "https://example.org/verified",
        "state": "opaque-state",
        "start": {"consent": {"granted": True, "document_id": "consent-v3"}},
        "customer_information": {"organization_name": "Plain Client", "external_user_id": "u-1"},
    }, token=t, expect=201, schema="CreateSessionResponse")
    sid = s["session_id"]
    assert s["missing_images"] and "start_token" not in s, s
    call("GET", f"{VERIFY}/api/v1/verification/{sid}/result", token=t, schema="IncompleteSessionResult")
    consent = call("GET", f"{VERIFY}/api/v1/verification/{sid}/consent", token=t, schema="Consent")
    assert consent["consent_granted"] is True and consent["consent_date"], consent

    r = add_image(sid, t, "document_front", front)
    assert r["feedback"] == "ok" and r["complete"] is False, r
    r = add_image(sid, t, "selfie", selfie)
    assert r["feedback"] == "ok" and r["complete"] is True and r["missing_images"] == [], r
    add_image(sid, t, "selfie", selfie, expect=409)

    deadline = time.time() + 180
    while True:
        r = call("GET", f"{VERIFY}/api/v1/verification/{sid}/result?detailed=true", token=t, schema=None)
        r = json.loads(r)
        if r["status"] == "complete":
            break
        valid("IncompleteSessionResult", r)
        assert time.time() < deadline, r
        time.sleep(0.3)
    valid("CompleteSessionResult", r)
    call("GET", f"{VERIFY}/api/v1/verification/{sid}/result", token=t, schema="CompleteSessionResult")
    call("GET", f"{VERIFY}/api/v1/verification/{sid}/result?detailed=false", token=t,
         schema="DeprecatedSessionResult")
    # The first layout kycd served answers the same.
    call("GET", f"{HOST}/api/v1/verification/{sid}/result", token=t, schema="CompleteSessionResult")

    images = call("GET", f"{VERIFY}/api/v1/verification/{sid}/images", token=t, schema="SessionImagesResponse")
    assert len(images["session_images"]) == 2, images
    for meta in images["session_images"]:
        raw = call("GET", f"{VERIFY}/api/v1/verification/{sid}/images/{meta['id']}", token=t)
        assert raw == (selfie if meta["type"] == "selfie" else front), meta
        b64 = call("GET", f"{VERIFY}/api/v1/verification/{sid}/images/{meta['id']}?format=base64", token=t)
        assert base64.b64decode(b64) == raw, meta
    call("GET", f"{VERIFY}/api/v1/verification/{sid}/images/nonexistent", token=t, expect=404)
    call("POST", f"{VERIFY}/api/v1/verification/{sid}/images", {"image": {"type": "selfie", "data": "aGk="}},
         token=t, expect=400)
    call("POST", f"{VERIFY}/api/v1/verification", {"start": {"consent": {}}}, token=t, expect=400)

    assert call("DELETE", f"{VERIFY}/api/v1/verification/{sid}", token=t) == b"", "200 without a body"
    call("GET", f"{VERIFY}/api/v1/verification/{sid}/result", token=t, expect=404)
    call("GET", f"{VERIFY}/api/v1/verification/{sid}/consent", token=t, expect=404)
    call("GET", f"{VERIFY}/api/v1/verification/x/result", token="not-a-token", expect=401)
    call("GET", f"{VERIFY}/api/v1/nothing", token=t, expect=404)
    print("transmit flow OK")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - print the reason for the Rust test's report
        print(f"transmit flow FAILED: {e!r}", file=sys.stderr)
        sys.exit(1)
