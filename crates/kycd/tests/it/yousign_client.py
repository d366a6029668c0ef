"""A plain client of the Express QES identification evidence endpoints, written from the
wire spec (shared/api/yousign.md and the vendor page it distils; no kycd code): it reads
the signature request's signer, then the evidence status, JSON, files and JWT, and
validates every answer against the spec's schemas, errors included.

    python yousign_client.py
    # env: KYCD_BASE (…/v3), API_KEY, SR_ID, EVIDENCE_ID (a completed identification),
    #      PENDING_EVIDENCE_ID (started, not completed), NO_FEATURE_API_KEY (a business
    #      without the feature)

Prints "yousign flow OK" and exits 0 on success; any deviation raises.
"""

import base64
import io
import json
import os
import urllib.error
import urllib.request
import zipfile

import jsonschema

ISO_UTC = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$"}
NULLABLE_ISO_UTC = {"anyOf": [ISO_UTC, {"type": "null"}]}
ID = {"type": "string", "minLength": 1}

SCHEMAS = {
    # RFC 9457 problem details.
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "minLength": 1},
            "title": {"type": "string", "minLength": 1},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
        },
    },
    "Signer": {
        "type": "object",
        "required": ["id", "status", "signer_identity_data"],
        "properties": {
            "id": ID,
            "status": {"type": "string"},
            "signer_identity_data": {
                "type": "object",
                "required": ["evidence_id"],
                "properties": {"evidence_id": {"anyOf": [ID, {"type": "null"}]}},
            },
        },
    },
    "SignatureRequest": {
        "type": "object",
        "required": ["id", "signers"],
        "properties": {"id": ID, "signers": {"type": "array", "items": {"$ref": "#/$defs/Signer"}}},
    },
    "IdentificationEvidenceStatus": {
        "type": "object",
        "required": [
            "id", "transactionCode", "accountId", "workflowId", "status", "reason",
            "createdAt", "expiresAt", "startedAt", "completedAt", "reviewedAt",
        ],
        "properties": {
            "id": ID,
            "transactionCode": ID,
            "accountId": ID,
            "workflowId": ID,
            "status": {"enum": [
                "CREATED", "IN_PROGRESS", "PROCESSING", "PENDING_REVIEW",
                "APPROVED", "DECLINED", "EXPIRED", "CANCELLED",
            ]},
            "reason": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]},
            "createdAt": ISO_UTC,
            "expiresAt": ISO_UTC,
            "startedAt": ISO_UTC,
            "completedAt": NULLABLE_ISO_UTC,
            "reviewedAt": NULLABLE_ISO_UTC,
        },
        # The reason is there exactly while pending manual review.
        "if": {"properties": {"status": {"const": "PENDING_REVIEW"}}},
        "then": {"properties": {"reason": {"type": "string"}}},
        "else": {"properties": {"reason": {"type": "null"}}},
    },
    # "The exact schema depends on the identification provider configuration."
    "IdentificationEvidenceJson": {"type": "object", "minProperties": 1},
    "JwtHeader": {
        "type": "object",
        "required": ["alg"],
        "properties": {"alg": {"type": "string", "not": {"const": "none"}}},
    },
    "JwtPayload": {"type": "object", "minProperties": 1},
}


def validate(name, value):
    schema = dict(SCHEMAS[name])
    schema["$defs"] = SCHEMAS
    jsonschema.validate(value, schema)
    return value


BASE = os.environ["KYCD_BASE"].rstrip("/")
KEY = os.environ["API_KEY"]
SR = os.environ["SR_ID"]
EID = os.environ["EVIDENCE_ID"]
PENDING = os.environ["PENDING_EVIDENCE_ID"]
NO_FEATURE_KEY = os.environ["NO_FEATURE_API_KEY"]


def get(path, key=KEY):
    req = urllib.request.Request(BASE + path)
    if key is not None:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def ok_json(path, schema):
    status, ctype, body = get(path)
    assert status == 200, (path, status, body[:500])
    assert ctype.startswith("application/json"), (path, ctype)
    return validate(schema, json.loads(body))


def problem(path, status, key=KEY, kind=None):
    got, ctype, body = get(path, key)
    assert got == status, (path, got, status, body[:500])
    assert ctype.startswith("application/problem+json"), (path, ctype)
    p = validate("Problem", json.loads(body))
    assert p["status"] == status, p
    if kind is not None:
        assert p["type"] == kind, (path, p)
    return p


def evidence(eid, suffix=""):
    return f"/signature_requests/{SR}/identification_evidences/{eid}{suffix}"


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# The signer of the signature request names the evidence id.
sr = ok_json(f"/signature_requests/{SR}", "SignatureRequest")
assert sr["id"] == SR, sr
signer = next(s for s in sr["signers"] if s["signer_identity_data"]["evidence_id"] == EID)
one = ok_json(f"/signature_requests/{SR}/signers/{signer['id']}", "Signer")
assert one == signer, (one, signer)

# Status of the completed identification.
st = ok_json(evidence(EID), "IdentificationEvidenceStatus")
assert st["id"] == EID, st
assert st["completedAt"] is not None, st

# The full identification result as JSON.
ok_json(evidence(EID, "/json"), "IdentificationEvidenceJson")

# Every evidence file as a ZIP archive.
status, ctype, body = get(evidence(EID, "/files"))
assert status == 200, (status, body[:500])
assert ctype.startswith("application/zip"), ctype
with zipfile.ZipFile(io.BytesIO(body)) as z:
    assert z.testzip() is None, "a corrupt member in the archive"
    assert z.namelist(), "an empty archive"

# The signed JWT: three base64url parts, a signing algorithm, a JSON payload.
status, ctype, body = get(evidence(EID, "/jwt"))
assert status == 200, (status, body[:500])
token = body.decode("ascii").strip()
parts = token.split(".")
assert len(parts) == 3 and all(parts), token[:80]
validate("JwtHeader", b64url_json(parts[0]))
validate("JwtPayload", b64url_json(parts[1]))

# Initiated, not completed: status answers, the rest is refused with a 4xx problem.
st = ok_json(evidence(PENDING), "IdentificationEvidenceStatus")
assert st["completedAt"] is None, st
for suffix in ("/json", "/files", "/jwt"):
    p = problem(evidence(PENDING, suffix), 409)
    assert p["type"] != "about:blank", p

# Unknown evidence or signature request → 404; bad token → 401; a business without the
# feature → 403 feature-not-enabled.
for suffix in ("", "/json", "/files", "/jwt"):
    problem(evidence("00000000-0000-0000-0000-000000000000", suffix), 404)
    problem(f"/signature_requests/unknown-sr/identification_evidences/{EID}{suffix}", 404)
    problem(evidence(EID, suffix), 401, key="not-a-valid-key")
    problem(evidence(EID, suffix), 401, key=None)
    problem(evidence(EID, suffix), 403, key=NO_FEATURE_KEY, kind="feature-not-enabled")
problem("/signature_requests/unknown-sr", 404)

print("yousign flow OK")
