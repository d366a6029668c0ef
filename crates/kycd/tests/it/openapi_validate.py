"""Validate an OpenAPI document with openapi-spec-validator (an implementation
independent of kycd's generator). Usage: openapi_validate.py DOCUMENT.json
Prints every error and exits 1, or prints OK."""
import json
import sys

from openapi_spec_validator import OpenAPIV31SpecValidator

with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
errors = list(OpenAPIV31SpecValidator(doc).iter_errors())
for e in errors:
    print("error at", "/".join(str(p) for p in e.absolute_path) or "(root)", ":", e.message)
if errors:
    print(f"{len(errors)} error(s)")
    sys.exit(1)
print(f"valid OpenAPI {doc['openapi']} with {len(doc['paths'])} paths: OK")
