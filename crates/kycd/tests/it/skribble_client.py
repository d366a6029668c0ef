"""A plain Skribble Sign API client, written from the wire spec (shared/api/skribble.md, the
vendor's API docs; no kycd code, no SDK: Skribble publishes none). It logs in, creates and
reads signature requests, reads their callbacks and an identification evidence, and
provokes the vendor's errors, validating every answer against the spec's schemas.

usage: skribble_client.py MOUNT KEY_ID API_KEY SR_ID EVIDENCE_ID NO_FEATURE_KEY_ID NO_FEATURE_API_KEY

MOUNT is <kycd>/compat/skribble; SR_ID a signature request whose EVIDENCE_ID is approved.
Prints OK on success; any deviation raises.
"""

import base64
import io
import json
import sys
import urllib.parse
import zipfile

import jsonschema

from vendor_http import request

mount, key_id, api_key, sr_id, evidence_id, nf_key_id, nf_api_key = sys.argv[1:8]

TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
NULLABLE_TIME = {"anyOf": [TIME, {"type": "null"}]}
NULLABLE_STRING = {"type": ["string", "null"]}

SCHEMAS = {
    # Skribble's ProblemResponse: type ends in one of the published slugs, key optional.
    "Problem": {
        "type": "object",
        "required": ["type", "method", "path", "status", "message"],
        "additionalProperties": False,
        "properties": {
            "type": {
                "type": "string",
                "pattern": r"^https?://[^ ]+/problem/(problem-with-message|entity-not-found|feature-not-enabled"
                r"|constraint-violation|parameterized|limit-exceeded)$",
            },
            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
            "path": {"type": "string", "pattern": "^/"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "message": {"type": "string", "minLength": 1},
            "key": {
                "enum": ["error.auth.token_expired", "error.auth.token_invalid", "error.auth.credentials_invalid",
                         "error.rate_limit.exceeded"]
            },
        },
    },
    "SignatureRequest": {
        "type": "object",
        "required": ["id", "title", "status_overall", "signatures"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "title": {"type": "string", "minLength": 1},
            "message": NULLABLE_STRING,
            "document_id": NULLABLE_STRING,
            "legislation": NULLABLE_STRING,
            "quality": NULLABLE_STRING,
            "status_overall": {"enum": ["OPEN", "DECLINED", "WITHDRAWN", "SIGNED", "EXPIRED"]},
            "cc_email_addresses": {"type": "array", "items": {"type": "string"}},
            "callback_success_url": NULLABLE_STRING,
            "callback_error_url": NULLABLE_STRING,
            "callback_update_url": NULLABLE_STRING,
            "created_at": NULLABLE_TIME,
            "updated_at": NULLABLE_TIME,
            "signatures": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["sid", "status_code", "signer_identity_data"],
                    "properties": {
                        "sid": {"type": "string", "minLength": 1},
                        "account_email": NULLABLE_STRING,
                        "sequence": {"type": ["integer", "null"]},
                        "status_code": {"enum": ["OPEN", "WAITING", "DECLINED", "WITHDRAWN", "SIGNED", "ERROR"]},
                        "notify": {"type": "boolean"},
                        "signed_at": NULLABLE_TIME,
                        "signing_url": {"type": "string", "pattern": "^https?://"},
                        "signer_identity_data": {
                            "type": "object",
                            "required": ["evidence_id"],
                            "properties": {
                                "email_address": NULLABLE_STRING,
                                "first_name": NULLABLE_STRING,
                                "last_name": NULLABLE_STRING,
                                "mobile_number": NULLABLE_STRING,
                                "language": NULLABLE_STRING,
                                "evidence_id": NULLABLE_STRING,
                            },
                        },
                    },
                },
            },
        },
    },
    "Callbacks": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "type", "status", "attempts"],
            "properties": {
                "type": {"enum": ["SUCCESS", "UPDATE", "ERROR"]},
                "status": {"enum": ["PENDING", "SUCCEEDED", "FAILED"]},
                "attempts": {"type": "integer", "minimum": 0},
                "http_status": {"type": ["integer", "null"]},
                "created_at": TIME,
            },
        },
    },
    # The evidence status object (field names from the vendor's page, camelCase).
    "EvidenceStatus": {
        "type": "object",
        "required": ["id", "transactionCode", "accountId", "workflowId", "status", "reason", "createdAt",
                     "expiresAt", "startedAt", "completedAt", "reviewedAt"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "transactionCode": {"type": "string", "minLength": 1},
            "accountId": {"type": "string", "minLength": 1},
            "workflowId": {"type": "string", "minLength": 1},
            "status": {"enum": ["CREATED", "IN_PROGRESS", "PROCESSING", "PENDING_REVIEW", "APPROVED", "DECLINED",
                                "EXPIRED", "CANCELLED"]},
            "reason": NULLABLE_STRING,
            "createdAt": TIME,
            "expiresAt": TIME,
            "startedAt": TIME,
            "completedAt": NULLABLE_TIME,
            "reviewedAt": NULLABLE_TIME,
        },
    },
}


def call(method, path, body=None, token=None, form=None, raw=None, expect=200):
    status, content, ctype = request(method, mount + path, body, token, form, raw, expect)
    if status >= 400:
        assert ctype.startswith("application/problem+json"), (path, ctype)
        problem = valid("Problem", json.loads(content))
        assert problem["status"] == status and problem["method"] == method, problem
        assert problem["path"] == urllib.parse.urlparse(mount + path).path, problem
        return problem
    return content, ctype


def valid(name, doc):
    jsonschema.validate(doc, SCHEMAS[name])
    return doc


def get_json(path, token, name):
    content, ctype = call("GET", path, token=token)
    assert ctype.startswith("application/json"), (path, ctype)
    return valid(name, json.loads(content))


def login(version, kid, key, as_form=False):
    creds = {"username": kid, "api-key": key}
    content, ctype = call("POST", f"/{version}/access/login", **({"form": creds} if as_form else {"body": creds}))
    assert ctype.startswith("text/plain"), ctype
    token = content.decode()
    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert 1100 <= claims["exp"] - claims["iat"] <= 1300, claims  # about 20 minutes
    return token


def main():
    token = login("v2", key_id, api_key)
    token3 = login("v3", key_id, api_key, as_form=True)

    # A new signature request: one identification per signer, the capture link to sign.
    content, _ = call("POST", "/v2/signature-requests", {
        "title": "Plain client contract",
        "content": base64.b64encode(b"%PDF-1.4").decode(),
        "signatures": [{"signer_identity_data": {"email_address": "plain@example.org", "first_name": "Pia",
                                                 "last_name": "Plain"}}],
    }, token=token)
    new = valid("SignatureRequest", json.loads(content))
    assert new["signatures"][0]["signing_url"] and new["signatures"][0]["signer_identity_data"]["evidence_id"] is None
    again = get_json(f"/v3/signature-requests/{new['id']}", token3, "SignatureRequest")
    assert again["id"] == new["id"] and "signing_url" not in again["signatures"][0], again

    # The request whose evidence is approved, its callbacks, and the evidence itself.
    sr = get_json(f"/v2/signature-requests/{sr_id}", token, "SignatureRequest")
    assert sr["status_overall"] == "SIGNED", sr
    assert evidence_id in [s["signer_identity_data"]["evidence_id"] for s in sr["signatures"]], sr
    get_json(f"/v2/signature-requests/{sr_id}/callbacks", token, "Callbacks")
    base = f"/v2/signature-requests/{sr_id}/identification-evidences/{evidence_id}"
    status = get_json(base, token, "EvidenceStatus")
    assert status["status"] == "APPROVED" and status["completedAt"], status
    content, ctype = call("GET", base + "/json", token=token)
    assert ctype.startswith("application/json") and json.loads(content)["verification_id"] == evidence_id
    content, ctype = call("GET", base + "/jwt", token=token)
    assert ctype == "application/jwt" and content.count(b".") == 2, ctype
    content, ctype = call("GET", base + "/files", token=token)
    assert ctype == "application/zip", ctype
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert "report.json" in names and "evidence.jwt" in names, names

    # The vendor's errors, each in its envelope.
    p = call("POST", "/v2/access/login", {"username": key_id, "api-key": "kycd_test_wrong"}, expect=403)
    assert p["key"] == "error.auth.credentials_invalid", p
    call("POST", "/v2/access/login", {"username": key_id}, expect=400)
    call("GET", f"/v2/signature-requests/{sr_id}", expect=401)
    p = call("GET", f"/v2/signature-requests/{sr_id}", token="not.a.token", expect=401)
    assert p["key"] == "error.auth.token_invalid", p
    call("GET", "/v2/signature-requests/00000000-0000-4000-8000-000000000000", token=token, expect=404)
    call("GET", f"{base}x", token=token, expect=404)
    call("GET", "/v2/no-such-endpoint", token=token, expect=404)
    call("DELETE", f"/v2/signature-requests/{sr_id}", token=token, expect=405)
    call("POST", "/v2/signature-requests", raw=b"{not json", token=token, expect=400)
    call("POST", "/v2/signature-requests", {"signatures": []}, token=token, expect=400)
    pending = new["signatures"][0]["sid"]
    assert pending.startswith("aplt_"), pending
    nf_token = login("v2", nf_key_id, nf_api_key)
    p = call("GET", f"/v2/signature-requests/{sr_id}/identification-evidences/{evidence_id}", token=nf_token, expect=403)
    assert p["type"].endswith("/problem/feature-not-enabled"), p
    print("skribble flow OK")


if __name__ == "__main__":
    main()
