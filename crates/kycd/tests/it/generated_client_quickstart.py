"""The README's quick start ("Five minutes with curl"), driven through a Python client that
openapi-python-client generated from kycd's served /v1/openapi.json: nothing hand-written
talks HTTP here. Usage:
  generated_client_quickstart.py CLIENT_DIR BASE_URL API_KEY DOCUMENT.jpg SELFIE.png
CLIENT_DIR is the generator's output (it holds the package kycd_native_api_client).
Prints OK at the end."""
import io
import sys
import time

client_dir, base, key, document, selfie = sys.argv[1:6]
sys.path.insert(0, client_dir)

from kycd_native_api_client import AuthenticatedClient  # noqa: E402
from kycd_native_api_client.api.attempts import create_attempt  # noqa: E402
from kycd_native_api_client.api.captures import list_captures, upload_capture  # noqa: E402
from kycd_native_api_client.api.evidence import report_pdf  # noqa: E402
from kycd_native_api_client.api.operations import readyz  # noqa: E402
from kycd_native_api_client.api.verifications import (  # noqa: E402
    create_verification,
    get_verification,
    report,
    review,
    submit,
)
from kycd_native_api_client.models import (  # noqa: E402
    ApplicantInput,
    CaptureView,
    CreateAttemptRequest,
    CreateVerificationRequest,
    DeclaredDataDto,
    Problem,
    ReportView,
    ReviewDecision,
    ReviewRequest,
    UploadCaptureFilesBody,
    VerificationView,
)
from kycd_native_api_client.types import File  # noqa: E402

client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)


def need(value, kind, step):
    if not isinstance(value, kind):
        raise SystemExit(f"{step}: expected {kind.__name__}, got {value!r}")
    return value


ready = readyz.sync(client=client)
assert ready.status == "ready", ready

# 1. a verification for a person
v = need(
    create_verification.sync(
        client=client,
        body=CreateVerificationRequest(
            applicant=ApplicantInput(full_name="Ada Generated", email="ada.generated@example.com"),
            declared_data=DeclaredDataDto(full_name="Ada Generated"),
        ),
    ),
    VerificationView,
    "create_verification",
)
assert v.id.startswith("idv_"), v.id

# 2. an attempt: its url is the capture link
attempt = create_attempt.sync(v.id, client=client, body=CreateAttemptRequest())
assert "token=" in attempt.url, attempt

# 3. captures, as multipart uploads (the generator's form for binary bodies)
for kind, path, mime in [("document_front", document, "image/jpeg"), ("selfie", selfie, "image/png")]:
    with open(path, "rb") as f:
        payload = f.read()
    c = need(
        upload_capture.sync(
            v.id,
            client=client,
            kind=kind,
            body=UploadCaptureFilesBody(file=File(payload=io.BytesIO(payload), file_name=path, mime_type=mime)),
        ),
        CaptureView,
        f"upload_capture {kind}",
    )
    assert c.size == len(payload), (c.size, len(payload))
listed = list_captures.sync(v.id, client=client)
assert len(listed.data) == 2, listed

# 4. submit; the checks run in the background
need(submit.sync(v.id, client=client), VerificationView, "submit")
deadline = time.time() + 180
while True:
    got = need(get_verification.sync(v.id, client=client), VerificationView, "get_verification")
    if got.status.value == "review_required":
        break
    assert got.status.value in ("processing", "capture_in_progress", "pending", "created"), got.status
    assert time.time() < deadline, f"still {got.status.value}"
    time.sleep(0.2)

# 5. a reviewer decides
decided = need(
    review.sync(
        v.id,
        client=client,
        body=ReviewRequest(decision=ReviewDecision.APPROVE, reason="document and selfie checked"),
    ),
    VerificationView,
    "review",
)
assert decided.status.value == "approved", decided.status

# 6. the report
r = need(report.sync(v.id, client=client), ReportView, "report")
assert r.verification.id == v.id and len(r.captures) >= 2, r

# 7. evidence: the PDF. The generator leaves out answers that are neither JSON nor
# application/octet-stream (it warns), so its status counts as unexpected: a client that
# does not raise for it gives the bytes on the detailed response.
downloads = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=False)
pdf = report_pdf.sync_detailed(v.id, client=downloads)
assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), (pdf.status_code, pdf.content[:20])

# An error answer parses as the documented problem.
missing = get_verification.sync("idv_doesnotexist000000000000", client=client)
assert isinstance(missing, Problem) and missing.status == 404, missing
print("generated client ran the quick start: OK")
