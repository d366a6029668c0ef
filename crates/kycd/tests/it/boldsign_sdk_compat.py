"""The official BoldSign Python SDK (`boldsign` on PyPI) against kycd's BoldSign dialect.

Usage: boldsign_sdk_compat.py SPEC.json

SPEC: {"host": "<kycd>/compat/boldsign", "api_key": "kycd_…", "document_id": "…",
       "signers": [{"signer": {emailId | countryCode+phoneNumber, order?}, "result": "Success"|"Failed",
                    "files": [{"kind", "file_id", "path"}]}]}

For each signer: `IdentityVerificationApi.report` (the report parses into the SDK's
`IdReport`, with the expected result and exactly the uploaded file ids), then
`IdentityVerificationApi.image` for every file id (the bytes equal the upload). Also: an
unknown document is the SDK's `ForbiddenException` (403) with the `ErrorResult`
"Invalid Document ID" (a client's forbidden-document path depends on it), a wrong key an
`ApiException` with 401. Prints OK at the end.

Named boldsign_sdk_compat.py, not boldsign.py: that name would shadow the package.
"""

import json
import sys

import boldsign
from boldsign.exceptions import ApiException, ForbiddenException


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    configuration = boldsign.Configuration(host=spec["host"], api_key=spec["api_key"])
    document_id = spec["document_id"]
    with boldsign.ApiClient(configuration) as api_client:
        api = boldsign.IdentityVerificationApi(api_client)
        for s in spec["signers"]:
            who = s["signer"]
            report = api.report(document_id, boldsign.VerificationDataRequest(**who))
            if not isinstance(report, boldsign.IdReport):
                fail("report is not an IdReport: %r" % (report,))
            if report.verification_result != s["result"]:
                fail("verificationResult %r, want %r (%r)" % (report.verification_result, s["result"], who))
            if report.verified_date is None:
                fail("verifiedDate missing: %r" % (report,))
            if s["result"] == "Success" and report.error is not None:
                fail("a succeeded report has no error: %r" % (report,))
            if s["result"] == "Failed" and (report.error is None or not report.error.code):
                fail("a failed report says why: %r" % (report,))
            doc = report.document
            if doc is None:
                fail("report without document: %r" % (report,))
            want_docs = [f["file_id"] for f in s["files"] if f["kind"] != "selfie"]
            want_selfie = [f["file_id"] for f in s["files"] if f["kind"] == "selfie"]
            if list(doc.document_files or []) != want_docs:
                fail("documentFiles %r, want %r" % (doc.document_files, want_docs))
            if [doc.selfie_file] != want_selfie:
                fail("selfieFile %r, want %r" % (doc.selfie_file, want_selfie))
            for f in s["files"]:
                req = boldsign.DownloadImageRequest(fileId=f["file_id"], **who)
                got = api.image(document_id, req)
                with open(f["path"], "rb") as fh:
                    want = fh.read()
                if bytes(got) != want:
                    fail("image %s: %d bytes, want the %d uploaded" % (f["file_id"], len(got), len(want)))
            print("signer %s: %s, %d image(s) equal" % (sorted(who), report.verification_result, len(s["files"])))

        # Errors as the SDK declares them: ErrorResult bodies.
        first = spec["signers"][0]["signer"]
        try:
            api.report("no-such-document", boldsign.VerificationDataRequest(**first))
            fail("an unknown document must be refused")
        except ForbiddenException as e:
            if e.status != 403 or not isinstance(e.data, boldsign.ErrorResult) or e.data.error != "Invalid Document ID":
                fail("unknown document: status %r, data %r, body %r" % (e.status, e.data, e.body))

    bad = boldsign.Configuration(host=spec["host"], api_key="kycd_test_wrong")
    with boldsign.ApiClient(bad) as api_client:
        try:
            boldsign.IdentityVerificationApi(api_client).report(document_id, boldsign.VerificationDataRequest(**first))
            fail("a wrong key must be refused")
        except ApiException as e:
            if e.status != 401 or not isinstance(e.data, boldsign.ErrorResult):
                fail("wrong key: status %r, data %r, body %r" % (e.status, e.data, e.body))
    print("OK")


if __name__ == "__main__":
    main()
