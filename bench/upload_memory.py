#!/usr/bin/env python3
"""Upload memory benchmark client (scripts/bench-upload-memory runs it; standard library).

Sends N uploads of one file at once (one thread each, all released together) and reports
how they were answered. While they run, it samples the server's VmRSS every 20 ms and
prints the server's VmHWM (peak RSS) afterwards, both from /proc/PID/status.

Modes:
  api        POST /v1/verifications/{id}/captures (raw body, with the API key); one
             verification per upload.
  cookieless POST /capture/step/document_front as multipart/form-data without a session
             cookie: what a stranger can send.
  signin     POST /console/login with unknown emails and wrong passwords (--file unused):
             each is one Argon2 check (19 MiB).
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def call(base, key, method, path, body=None, ctype="application/json"):
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    headers = {"Authorization": "Bearer " + key}
    if body is not None:
        headers["Content-Type"] = ctype
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--mode", choices=["api", "cookieless", "signin"], default="api")
    a = ap.parse_args()
    payload = open(a.file, "rb").read() if a.mode != "signin" else b""
    u = urllib.parse.urlparse(a.base)

    targets = []
    if a.mode == "api":
        for i in range(a.n):
            body = json.dumps({"applicant": {"full_name": f"Memory Bench {i}"}}).encode()
            st, data = call(a.base, a.key, "POST", "/v1/verifications", body)
            assert st == 201, (st, data)
            vid = json.loads(data)["id"]
            targets.append((f"/v1/verifications/{vid}/captures?kind=document_front",
                            {"Authorization": "Bearer " + a.key, "Content-Type": "image/jpeg"}, payload))
    elif a.mode == "signin":
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.request("GET", "/console/login")
        r = c.getresponse()
        page = r.read().decode()
        cookie = [h for k, h in r.getheaders() if k.lower() == "set-cookie" and h.startswith("kycd_console_login=")][0].split(";")[0]
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        c.close()
        for i in range(a.n):
            form = urllib.parse.urlencode({"csrf": csrf, "email": f"nobody{i}@example.com", "password": f"wrong password {i}"})
            targets.append(("/console/login", {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form.encode()))
        payload = b""
    else:
        boundary = "kycdbenchboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        for _ in range(a.n):
            targets.append(("/capture/step/document_front",
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body))

    rss_before = status_kib(a.pid, "VmRSS")
    try:
        with open(f"/proc/{a.pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    hwm_before = status_kib(a.pid, "VmHWM")
    go = threading.Barrier(a.n + 1)
    answers = {}
    lock = threading.Lock()

    def one(path, headers, body):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        go.wait()
        try:
            c.request("POST", path, body=body, headers=headers)
            st = c.getresponse().status
        except Exception as e:  # a refused body may reset the connection under the client
            st = type(e).__name__
        finally:
            c.close()
        with lock:
            answers[st] = answers.get(st, 0) + 1

    threads = [threading.Thread(target=one, args=t) for t in targets]
    for t in threads:
        t.start()
    sampled = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            sampled[0] = max(sampled[0], status_kib(a.pid, "VmRSS"))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    go.wait()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    done.set()
    sampler.join()
    hwm = status_kib(a.pid, "VmHWM")
    time.sleep(2)
    rss_after = status_kib(a.pid, "VmRSS")
    what = "sign-ins" if a.mode == "signin" else f"uploads of {len(payload)} bytes"
    print(f"{a.n} concurrent {a.mode} {what}: answers {dict(sorted((str(k), v) for k, v in answers.items()))}, "
          f"{took:.1f} s")
    print(f"  server RSS before {rss_before // 1024} MiB; peak (VmHWM, reset before) {hwm // 1024} MiB "
          f"(was {hwm_before // 1024}); highest sampled VmRSS {sampled[0] // 1024} MiB; 2 s after {rss_after // 1024} MiB")


if __name__ == "__main__":
    main()
