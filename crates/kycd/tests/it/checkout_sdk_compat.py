"""The official Checkout.com Python SDK (`checkout-sdk` from PyPI) against kycd's
Checkout dialect, for kycd's integration tests.

Drives applicant -> identity verification -> attempt -> capture (kycd's native capture API:
the dialect has no capture endpoint, the applicant uses the attempt URL) -> review ->
result -> attempts and assets -> PDF report -> anonymize, create-and-open, and errors,
through the SDK's identities clients with a custom environment whose identity URI is kycd's
/compat/checkout. Authenticates twice: OAuth client credentials against kycd's token
endpoint (the SDK's OAuth builder), and the static-keys builder unchanged
(`CheckoutSdk.builder().secret_key(...)`) with a kycd key in Checkout's form
(`kycd apikey create --format checkout`): the builder refuses any other form, so this fails
if kycd's key form is not one Checkout's SDK accepts.

Prints OK on success; any failed assertion or SDK exception ends it non-zero.

usage: checkout_sdk_compat.py BASE_URL KEY_ID API_KEY CHECKOUT_SECRET_KEY DOCUMENT_JPEG SELFIE_PNG
"""
import json
import sys
import time
import urllib.request
import warnings

from checkout_sdk.checkout_sdk import CheckoutSdk
from checkout_sdk.environment import Environment
from checkout_sdk.exception import CheckoutApiException, CheckoutArgumentException
from checkout_sdk.identities.applicants.applicants import CreateApplicantRequest, UpdateApplicantRequest
from checkout_sdk.identities.entities import AttemptsQueryFilter, AttemptAssetsQueryFilter
from checkout_sdk.identities.identityverification.identityverification import (
    ClientInformation,
    DeclaredData,
    IdentityVerificationAndAttemptRequest,
    IdentityVerificationAttemptRequest,
    IdentityVerificationRequest,
)

base, key_id, api_key, secret_key, front_path, selfie_path = sys.argv[1:7]
compat = base + "/compat/checkout/"
env = Environment(
    base_uri=compat,
    authorization_uri=compat + "connect/token",
    files_uri=compat,
    transfers_uri=compat,
    balances_uri=compat,
    forward_uri=compat,
    identity_uri=compat,
    is_sandbox=True,
)

# OAuth client credentials: the SDK fetches a token from kycd's token endpoint.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    oauth_api = (
        CheckoutSdk.builder()
        .oauth()
        .client_credentials(key_id, api_key)
        .authorization_uri(env.authorization_uri)
        .environment(env)
        .use_legacy_domain()
        .build()
    )
# The secret key path, as an integrator's code has it: the SDK's own builder, which checks
# the key's form (CheckoutArgumentException "invalid secret key" otherwise).
assert secret_key.startswith("sk_sbox_"), secret_key
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    key_api = CheckoutSdk.builder().secret_key(secret_key).environment(env).use_legacy_domain().build()
try:
    CheckoutSdk.builder().secret_key(api_key).environment(env).use_legacy_domain().build()
    raise AssertionError("the builder takes only Checkout-shaped keys")
except CheckoutArgumentException:
    pass

applicants = oauth_api.applicants
idv = oauth_api.identity_verification


def links(r):
    return getattr(r, "_links")


def native(method, path, body=None, content_type=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    req.add_header("Authorization", "Bearer " + api_key)
    if content_type:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


# 1. Applicant.
req = CreateApplicantRequest()
req.external_applicant_id = "eaplt_sdk_compat"
req.email = "hannah.bret@example.com"
req.external_applicant_name = "Hannah Bret"
applicant = applicants.create_applicant(req)
assert applicant.http_metadata.status_code == 201, applicant.http_metadata.status_code
assert applicant.id.startswith("aplt_"), applicant.id
assert applicant.external_applicant_id == "eaplt_sdk_compat"
assert links(applicant).self.href.endswith("/compat/checkout/applicants/" + applicant.id)

upd = UpdateApplicantRequest()
upd.email = "hannah.b@example.com"
updated = applicants.update_applicant(applicant.id, upd)
assert updated.email == "hannah.b@example.com"
fetched = key_api.applicants.get_applicant(applicant.id)
assert fetched.email == "hannah.b@example.com" and fetched.external_applicant_name == "Hannah Bret"

# 2. Identity verification.
declared = DeclaredData()
declared.name = "Hannah Bret"
declared.birth_date = "1984-10-02"
create = IdentityVerificationRequest()
create.applicant_id = applicant.id
create.declared_data = declared
create.user_journey_id = "usj_01heqt35wmjrf3wjd7w1wz33p2"
v = idv.create_identity_verification(create)
assert v.http_metadata.status_code == 201
assert v.id.startswith("idv_") and v.status == "created", (v.id, v.status)
assert v.user_journey_id == "usj_01heqt35wmjrf3wjd7w1wz33p2"
assert v.declared_data.name == "Hannah Bret"
assert links(v).applicant.href.endswith("/applicants/" + applicant.id)

# 3. Attempt.
client = ClientInformation()
client.pre_selected_residence_country = "FR"
client.pre_selected_language = "en-US"
att_req = IdentityVerificationAttemptRequest()
att_req.redirect_url = "https://example.com/back"
att_req.client_information = client
attempt = idv.create_identity_verification_attempt(v.id, att_req)
assert attempt.http_metadata.status_code == 201
assert attempt.id.startswith("iatp_") and attempt.status == "pending_redirection", attempt.status
assert "/capture?token=" in links(attempt).verification_url.href
assert attempt.client_information.pre_selected_residence_country == "FR"
assert attempt.redirect_url == "https://example.com/back"
pending = key_api.identity_verification.get_identity_verification(v.id)
assert pending.status == "pending"
assert pending.redirect_url == "https://example.com/back", "the verification echoes its attempt's redirect_url"

# 4. Capture through kycd's native API, then a reviewer approves.
native("POST", f"/v1/verifications/{v.id}/captures?kind=document_front", open(front_path, "rb").read(), "image/jpeg")
assert idv.get_identity_verification(v.id).status == "capture_in_progress"
native("POST", f"/v1/verifications/{v.id}/captures?kind=selfie", open(selfie_path, "rb").read(), "image/png")
native("POST", f"/v1/verifications/{v.id}/submit")
deadline = time.time() + 180
while native("GET", f"/v1/verifications/{v.id}")["status"] != "review_required":
    assert time.time() < deadline, "processing did not finish"
    assert idv.get_identity_verification(v.id).status == "checks_in_progress"
    time.sleep(0.2)
assert idv.get_identity_verification(v.id).status == "checks_in_progress"
native(
    "POST",
    f"/v1/verifications/{v.id}/review",
    json.dumps({"decision": "approve", "reason": "document and selfie are consistent"}).encode(),
    "application/json",
)

# 5. Result.
result = idv.get_identity_verification(v.id)
assert result.status == "approved", result.status
assert [(c.code, c.summary) for c in result.response_codes] == [(10000, "approved")]
assert result.verified_identity.full_name == "Hannah Bret"
assert result.verified_identity.birth_date == "1984-10-02"

query = AttemptsQueryFilter()
query.skip = 0
query.limit = 10
page = idv.get_identity_verification_attempts(v.id, query)
assert page.total_count == 1 and page.skip == 0 and page.limit == 10, (page.total_count, page.skip, page.limit)
assert page.data[0].id == attempt.id and page.data[0].status == "completed"
one = idv.get_identity_verification_attempt(v.id, attempt.id)
assert one.status == "completed" and one.response_codes[0].code == 10000

aq = AttemptAssetsQueryFilter()
aq.skip = 0
aq.limit = 10
assets = idv.get_identity_verification_attempt_assets(v.id, attempt.id, aq)
assert assets.total_count == 2, assets.total_count
types = sorted(a.type for a in assets.data)
assert types == ["document_front_image", "face_image"], types
face = [a for a in assets.data if a.type == "face_image"][0]
with urllib.request.urlopen(face._links.asset_url.href, timeout=60) as r:
    assert r.read() == open(selfie_path, "rb").read()

# 6. PDF report: a pre-signed URL, as `pdf_report` (Python, Java) and `signed_url` (.NET).
report = key_api.identity_verification.get_identity_verification_report(v.id)
assert report.signed_url == report.pdf_report, (report.signed_url, report.pdf_report)
with urllib.request.urlopen(report.pdf_report, timeout=120) as r:
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.read().startswith(b"%PDF-")

# 7. Anonymize.
anon = idv.anonymize_identity_verification(v.id)
assert anon.status == "approved"
assert not hasattr(anon.declared_data, "name")
try:
    idv.get_identity_verification_report(v.id)
    raise AssertionError("the report of an anonymized verification must be gone")
except CheckoutApiException as e:
    assert e.http_metadata.status_code == 404, e.http_metadata.status_code
anon_a = applicants.anonymize_applicant(applicant.id)
assert not hasattr(anon_a, "email") and not hasattr(anon_a, "external_applicant_id")

# 8. Create-and-open: the first attempt's URL, and the redirect_url echoed.
open_req = IdentityVerificationAndAttemptRequest()
open_decl = DeclaredData()
open_decl.name = "Olga Open"
open_req.declared_data = open_decl
open_req.redirect_url = "https://example.com/after"
opened = key_api.identity_verification.create_identity_verification_and_attempt(open_req)
assert opened.http_metadata.status_code == 201
assert opened.redirect_url == "https://example.com/after", opened.redirect_url
assert "/capture?token=" in links(opened).verification_url.href
assert idv.get_identity_verification(opened.id).redirect_url == "https://example.com/after"

# 9. Errors arrive as the SDK's exception, with Checkout's fields.
try:
    idv.get_identity_verification("idv_doesnotexist")
    raise AssertionError("an unknown verification must be 404")
except CheckoutApiException as e:
    assert e.http_metadata.status_code == 404
    assert e.error_type == "resource_not_found", e.error_type
    assert e.error_details == ["identity_verification_not_found"], e.error_details
    assert e.request_id
try:
    idv.create_identity_verification(IdentityVerificationRequest())
    raise AssertionError("an empty request must be refused")
except CheckoutApiException as e:
    assert e.http_metadata.status_code == 422
    assert e.error_type == "request_invalid"
    assert e.error_details == ["applicant_id_required", "declared_data_required"], e.error_details

print("OK")
