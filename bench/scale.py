#!/usr/bin/env python3
"""Scale benchmark client (scripts/bench-scale runs it; standard library only).

Creates N verifications through the given kycd base URLs in turn (create, upload a
document photo and a selfie, submit), N_CONC at a time, then waits until every one has
left `processing`. Prints the create rate (create+upload+submit per second) and the
end-to-end rate (verifications per second from the first create to the last decision).
"""
import argparse
import concurrent.futures as cf
import json
import time
import urllib.request


def call(base, key, method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(base + path, data=body, method=method)
    req.add_header("Authorization", "Bearer " + key)
    if body is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def start(i, bases, key, photo, selfie):
    base = bases[i % len(bases)]
    # Uploads and submit go to the next instance, as a load balancer would spread them.
    other = bases[(i + 1) % len(bases)]
    body = json.dumps({"applicant": {"full_name": f"Bench Person {i}"}, "delivery": "none"}).encode()
    vid = call(base, key, "POST", "/v1/verifications", body)["id"]
    call(other, key, "POST", f"/v1/verifications/{vid}/captures?kind=document_front", photo, "image/jpeg")
    call(other, key, "POST", f"/v1/verifications/{vid}/captures?kind=selfie", selfie, "image/jpeg")
    call(base, key, "POST", f"/v1/verifications/{vid}/submit")
    return vid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", action="append", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--selfie", required=True)
    a = ap.parse_args()
    photo, selfie = open(a.photo, "rb").read(), open(a.selfie, "rb").read()
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(a.concurrency) as pool:
        vids = list(pool.map(lambda i: start(i, a.base, a.key, photo, selfie), range(a.n)))
    created = time.monotonic() - t0
    pending = set(vids)
    statuses = {}
    while pending:
        for vid in list(pending):
            st = call(a.base[0], a.key, "GET", f"/v1/verifications/{vid}")["status"]
            if st != "processing":
                statuses[st] = statuses.get(st, 0) + 1
                pending.discard(vid)
        if pending:
            time.sleep(0.2)
        if time.monotonic() - t0 > 1800:
            raise SystemExit(f"{len(pending)} verifications still processing after 30 min")
    total = time.monotonic() - t0
    print(json.dumps({
        "instances": len(a.base),
        "verifications": a.n,
        "concurrency": a.concurrency,
        "create_upload_submit_per_s": round(a.n / created, 2),
        "created_in_s": round(created, 1),
        "decided_per_s": round(a.n / total, 2),
        "all_decided_in_s": round(total, 1),
        "statuses": statuses,
    }))


if __name__ == "__main__":
    main()
