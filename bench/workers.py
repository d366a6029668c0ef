#!/usr/bin/env python3
"""Worker benchmark client (scripts/bench-workers runs it; standard library only).

Prepares N verifications on one kycd (create, upload a document and a selfie: not
timed), then submits them all at once and waits until none is `processing`. Each
verification's decision time is the server's own `updated_at` of its decided state, so
polling adds nothing to the figures. Prints, as one JSON line:

  decided_per_s   N / (last decision - first submit)
  latency_*_s     submit -> decision, per verification (p50, p90, max)
  server_cpu_*    with --pid: the server's CPU time from the first submit to the last
                  decision, per verification and per second of that span (cores busy)

With --hanging-receiver, a webhook endpoint for every event points at a receiver that
accepts each connection and never answers: every delivery waits the whole delivery
timeout, as a hung integrator's server makes it.
"""
import argparse
import datetime as dt
import json
import os
import socket
import threading
import time

from scale import call  # the same JSON call as the scale benchmark


def hanging_receiver():
    """A TCP server that accepts connections and never answers; returns its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    held = []

    def run():
        while True:
            conn, _ = srv.accept()
            held.append(conn)

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1], held


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc), or None."""
    if not pid:
        return None
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def pct(sorted_values, p):
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--doc-type", default="image/png")
    ap.add_argument("--selfie", required=True)
    ap.add_argument("--selfie-type", default="image/jpeg")
    ap.add_argument("--hanging-receiver", action="store_true")
    ap.add_argument("--label", default="")
    ap.add_argument("--pid", type=int, help="the server's pid: report its CPU time while deciding")
    a = ap.parse_args()
    doc, selfie = open(a.doc, "rb").read(), open(a.selfie, "rb").read()
    held = []
    if a.hanging_receiver:
        port, held = hanging_receiver()
        body = json.dumps({"url": f"http://127.0.0.1:{port}/hooks", "enabled_events": ["*"]}).encode()
        call(a.base, a.key, "POST", "/v1/webhook_endpoints", body)

    vids = []
    for i in range(a.n):
        body = json.dumps({"applicant": {"full_name": f"Bench Person {i}"}, "delivery": "none"}).encode()
        vid = call(a.base, a.key, "POST", "/v1/verifications", body)["id"]
        call(a.base, a.key, "POST", f"/v1/verifications/{vid}/captures?kind=document_front", doc, a.doc_type)
        call(a.base, a.key, "POST", f"/v1/verifications/{vid}/captures?kind=selfie", selfie, a.selfie_type)
        vids.append(vid)

    cpu_before = cpu_seconds(a.pid)
    submitted = {}
    for vid in vids:
        submitted[vid] = time.time()
        call(a.base, a.key, "POST", f"/v1/verifications/{vid}/submit")
    first = min(submitted.values())

    decided, statuses = {}, {}
    pending = set(vids)
    while pending:
        for vid in list(pending):
            v = call(a.base, a.key, "GET", f"/v1/verifications/{vid}")
            if v["status"] != "processing":
                decided[vid] = parse_time(v["updated_at"])
                statuses[v["status"]] = statuses.get(v["status"], 0) + 1
                pending.discard(vid)
        if pending:
            time.sleep(0.25)
        if time.time() - first > 1800:
            raise SystemExit(f"{len(pending)} verifications still processing after 30 min")

    latencies = sorted(decided[v] - submitted[v] for v in vids)
    span = max(decided.values()) - first
    cpu_after = cpu_seconds(a.pid)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    print(json.dumps({
        "label": a.label,
        "verifications": a.n,
        "hanging_receiver": a.hanging_receiver,
        "receiver_connections_held": len(held),
        "decided_per_s": round(a.n / span, 3),
        "all_decided_in_s": round(span, 2),
        "latency_p50_s": round(pct(latencies, 50), 2),
        "latency_p90_s": round(pct(latencies, 90), 2),
        "latency_max_s": round(latencies[-1], 2),
        # Includes the polling answers, a few ms each.
        "server_cpu_s_per_verification": None if cpu is None else round(cpu / a.n, 2),
        "server_cores_busy": None if cpu is None else round(cpu / span, 2),
        "statuses": statuses,
    }))


if __name__ == "__main__":
    main()
