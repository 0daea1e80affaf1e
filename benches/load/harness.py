#!/usr/bin/env python3
"""The load harness behind benches/load/run.sh (issue 7).

On one machine, in one run, over loopback: a static upstream
(examples/bench_upstream.rs) and, in front of it, each set-up below, all
measured by wrk with the same connections, threads and duration, several
rounds each, medians reported:

  a  upstream       the upstream directly
  b  pingora        a bare Pingora passthrough (examples/bench_passthrough.rs)
  c  nginx          nginx proxy_pass with upstream keep-alive
  d  gateway        tfa-gateway, a signed-in user who passed a TOTP challenge
  e  nginx+verify   nginx auth_request to the gateway's /_2fa/verify, then proxy_pass
  f10, f1M          tfa-gateway with 10 users and 10 sessions seeded, and with
                    BENCH_USERS users and BENCH_SESSIONS sessions seeded

Every set-up serves the same path of the same upstream. The gateway's
sign-in and identity calls go to the same responder, which answers
POST /login and GET /api/me well enough for the gateway. Python's standard
library only; every process started here is stopped here, by its pid.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, "target", "release")
PASSWORD = "bench-password"
EMAIL = "bench@bench.test"
BODY = b"hello from the bench upstream\n"


def env_int(name, default):
    return int(os.environ.get(name, default))


SETTINGS = {
    "rounds": env_int("BENCH_ROUNDS", 3),
    "duration": env_int("BENCH_DURATION", 10),
    "warmup": env_int("BENCH_WARMUP", 2),
    "connections": env_int("BENCH_CONNECTIONS", 64),
    "wrk_threads": env_int("BENCH_WRK_THREADS", 2),
    "proxy_threads": env_int("BENCH_PROXY_THREADS", 2),
    "upstream_threads": env_int("BENCH_UPSTREAM_THREADS", 2),
    "users": env_int("BENCH_USERS", 1_000_000),
    "sessions": env_int("BENCH_SESSIONS", 100_000),
    "path": os.environ.get("BENCH_PATH", "/bench"),
    "gateway_log": os.environ.get("BENCH_GATEWAY_LOG", "info"),
    "out": os.environ.get("BENCH_OUT", os.path.join(ROOT, "target", "bench-load")),
    "only": [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s],
    "keep": os.environ.get("BENCH_KEEP", "") == "1",
}
ALL = ["a", "b", "c", "d", "e", "f10", "f1M"]
NAMES = {
    "a": "upstream directly",
    "b": "Pingora passthrough",
    "c": "nginx proxy_pass",
    "d": "tfa-gateway, signed in",
    "e": "nginx auth_request to /_2fa/verify",
    "f10": "tfa-gateway, 10 users / 10 sessions",
    "f1M": "tfa-gateway, {users:,} users / {sessions:,} sessions",
}

PROCS = []


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, logfile, **kw):
    """Starts a process whose output goes to `logfile`; stopped at exit."""
    out = open(logfile, "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def request(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.msg, r.read()
    finally:
        c.close()


def wait_for(port, path, proc, limit=60, status=200):
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"process {proc.args[0]} exited with {proc.returncode} before it served")
        try:
            if request(port, "GET", path, timeout=2)[0] == status:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answered {status} on 127.0.0.1:{port}{path} within {limit} s")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --- wrk ---------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(port, seconds, headers):
    argv = ["wrk", "--latency", f"-t{SETTINGS['wrk_threads']}", f"-c{SETTINGS['connections']}", f"-d{seconds}s"]
    for h in headers:
        argv += ["-H", h]
    argv.append(f"http://127.0.0.1:{port}{SETTINGS['path']}")
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {m.group(1): float(m.group(2)) * UNITS[m.group(3)]
           for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad:
        raise SystemExit(f"wrk saw {bad.group(1)} answers that were not 2xx/3xx on port {port}:\n{out}")
    return {"rps": rps, "p50": pct.get("50"), "p99": pct.get("99"), "errors": errors.group(1) if errors else ""}


def measure(name, port, headers=()):
    """Checks one request by hand, warms up, then runs the rounds."""
    hdrs = dict(h.split(": ", 1) for h in headers)
    status, _, body = request(port, "GET", SETTINGS["path"], headers=hdrs)
    if status != 200 or body != BODY:
        raise SystemExit(f"{name}: GET {SETTINGS['path']} answered {status} {body[:200]!r}, not the upstream's body")
    if SETTINGS["warmup"] > 0:
        wrk(port, SETTINGS["warmup"], headers)
    rounds = []
    for i in range(SETTINGS["rounds"]):
        r = wrk(port, SETTINGS["duration"], headers)
        log(f"  {name} round {i + 1}: {r['rps']:.0f} req/s, p50 {r['p50']:.3f} ms, p99 {r['p99']:.3f} ms"
            + (f", socket errors: {r['errors']}" if r["errors"] else ""))
        rounds.append(r)
    return {
        "rps": statistics.median(r["rps"] for r in rounds),
        "p50": statistics.median(r["p50"] for r in rounds),
        "p99": statistics.median(r["p99"] for r in rounds),
        "rounds": rounds,
    }


# --- the gateway ---------------------------------------------------------------


def totp(secret, at):
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000)


class Jar:
    """The cookies a browser would keep, enough for the gateway's flow."""

    def __init__(self):
        self.cookies = {}

    def header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def send(self, port, method, path, body=None, ctype=None):
        headers = {"Cookie": self.header()} if self.cookies else {}
        if ctype:
            headers["Content-Type"] = ctype
            headers["Accept"] = "application/json"
        status, msg, data = request(port, method, path, body=body, headers=headers)
        for sc in msg.get_all("Set-Cookie") or []:
            name, _, rest = sc.partition("=")
            value = rest.split(";", 1)[0]
            if value == "" or "max-age=0" in sc.lower():
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return status, data

    def json(self, port, path, obj):
        return self.send(port, "POST", path, json.dumps(obj).encode(), "application/json")

    def login(self, port):
        form = urllib.parse.urlencode({"email": EMAIL, "password": PASSWORD}).encode()
        return self.send(port, "POST", "/login", form, "application/x-www-form-urlencoded")[0]


def sign_in_with_totp(port):
    """Signs the bench user in, turns TOTP on, signs in again and passes the
    challenge; returns the Cookie header of that fully signed-in session."""
    setup = Jar()
    assert setup.login(port) == 303, "sign-in refused"
    status, data = setup.json(port, "/_2fa/api/totp/enroll", {"password": PASSWORD})
    assert status == 200, (status, data)
    secret = json.loads(data)["secret"]
    status, data = setup.json(port, "/_2fa/api/totp/verify", {"code": totp(secret, time.time())})
    assert status == 200, (status, data)
    jar = Jar()
    assert jar.login(port) == 303
    assert "dash_session" not in jar.cookies, "the upstream session must be held until the challenge"
    status, data = jar.json(port, "/_2fa/api/challenge", {"code": totp(secret, time.time() + 30)})
    assert status == 204, (status, data)
    assert "dash_session" in jar.cookies and "tfa_session" in jar.cookies
    return jar.header()


class Gateway:
    """tfa-gateway on a data folder seeded with `users` and `sessions`."""

    def __init__(self, work, name, upstream, users, sessions):
        self.dir = os.path.join(work, name)
        self.data = data = os.path.join(self.dir, "data")
        os.makedirs(data)
        t = time.time()
        subprocess.run([os.path.join(RELEASE, "examples", "seed_store"), "--data-dir", data,
                        "--users", str(users), "--sessions", str(sessions)], check=True,
                       stdout=subprocess.DEVNULL)
        self.seed_seconds = time.time() - t
        self.port = free_port()
        with open(os.path.join(ROOT, "config", "demo.toml")) as f:
            text = f.read()
        text = (text.replace("127.0.0.1:9090", f"127.0.0.1:{free_port()}")
                .replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
                .replace("127.0.0.1:3000", f"127.0.0.1:{upstream}")
                .replace("/tmp/tfa-gateway-demo", data)
                .replace("threads = 2", f"threads = {SETTINGS['proxy_threads']}"))
        config = os.path.join(self.dir, "gateway.toml")
        with open(config, "w") as f:
            f.write(text)
        t = time.time()
        env = dict(os.environ, RUST_LOG=SETTINGS["gateway_log"])
        self.proc = start([os.path.join(RELEASE, "tfa-gateway"), "run", "--config", config],
                          os.path.join(self.dir, "gateway.log"), env=env)
        wait_for(self.port, "/_2fa/health", self.proc, limit=900)
        self.start_seconds = time.time() - t
        time.sleep(1)
        self.idle_rss = rss_kib(self.proc.pid)
        log(f"  gateway {name}: seeded in {self.seed_seconds:.1f} s, started in {self.start_seconds:.1f} s, "
            f"RSS {self.idle_rss / 1024:.1f} MiB")

    def stop(self):
        self.rss_after = rss_kib(self.proc.pid)
        stop(self.proc)
        if not SETTINGS["keep"]:
            shutil.rmtree(self.data, ignore_errors=True)  # gigabytes for a million users


# --- nginx -----------------------------------------------------------------------

NGINX = """daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream dashboard {{ server 127.0.0.1:{upstream}; keepalive 64; }}
{extra_upstream}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{auth}
            proxy_pass http://dashboard;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
{extra_locations}
    }}
}}
"""

VERIFY_UPSTREAM = "    upstream gateway {{ server 127.0.0.1:{gateway}; keepalive 64; }}"
VERIFY_AUTH = """            auth_request /_tfa_verify;
            auth_request_set $tfa_user $upstream_http_x_tfa_user;
            proxy_set_header X-Tfa-User $tfa_user;
            proxy_set_header Host $http_host;"""
VERIFY_LOCATIONS = """        location = /_tfa_verify {
            internal;
            proxy_pass http://gateway/_2fa/verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header Host $http_host;
        }
        location ~ ^/(_2fa/|login$|logout$) {
            proxy_pass http://gateway; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }"""


def start_nginx(work, name, upstream, gateway=None):
    prefix = os.path.join(work, name)
    os.makedirs(prefix)
    port = free_port()
    conf = NGINX.format(
        workers=SETTINGS["proxy_threads"], prefix=prefix, upstream=upstream, port=port,
        extra_upstream=VERIFY_UPSTREAM.format(gateway=gateway) if gateway else "",
        auth=VERIFY_AUTH if gateway else "",
        extra_locations=VERIFY_LOCATIONS if gateway else "",
    )
    path = os.path.join(prefix, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    argv = [nginx, "-p", prefix, "-e", os.path.join(prefix, "error.log"), "-c", path]
    if os.geteuid() == 0:
        # Unprivileged, as a user would run it: everything it needs is in `prefix`.
        shutil.chown(work, "nobody")
        for d, _, files in os.walk(prefix):
            shutil.chown(d, "nobody")
            for fn in files:
                shutil.chown(os.path.join(d, fn), "nobody")
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + argv
    p = start(argv, os.path.join(prefix, "stdout.log"))
    wait_for(port, "/", p, status=200 if gateway is None else 401)
    return p, port


# --- the run -----------------------------------------------------------------------


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = open("/proc/loadavg").read().split()[:3]
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg_at_start": " ".join(load)}


def table(results, info):
    s = SETTINGS
    lines = [
        "# tfa-gateway load harness results", "",
        f"Machine: {info['nproc']} cores, {info['cpu']}; load average at start {info['loadavg_at_start']}.",
        f"wrk: {s['wrk_threads']} threads, {s['connections']} connections, {s['rounds']} rounds x "
        f"{s['duration']} s (medians), GET {s['path']}; proxies: {s['proxy_threads']} worker threads; "
        f"upstream: {s['upstream_threads']} threads; gateway log level {s['gateway_log']}.", "",
        "| set-up | req/s | p50 ms | p99 ms | req/s per round |", "|---|---:|---:|---:|---|",
    ]
    for key in ALL:
        if key in results:
            r = results[key]
            per = ", ".join(f"{x['rps']:.0f}" for x in r["rounds"])
            name = NAMES[key].format(**s)
            lines.append(f"| {key}: {name} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {per} |")
    lines += ["", "| ratio | req/s | p50 | p99 |", "|---|---:|---:|---:|"]
    for a, b in [("d", "b"), ("d", "c"), ("d", "e"), ("f1M", "f10"), ("b", "a"), ("c", "a")]:
        if a in results and b in results:
            ra, rb = results[a], results[b]
            lines.append(f"| {a}/{b} | {ra['rps'] / rb['rps']:.2f} | {ra['p50'] / rb['p50']:.2f} | "
                         f"{ra['p99'] / rb['p99']:.2f} |")
    mem = info.get("memory", {})
    if mem:
        lines += ["", "| gateway | seed s | start s | RSS idle MiB | RSS after load MiB |", "|---|---:|---:|---:|---:|"]
        for k, m in mem.items():
            after = f"{m['rss_after'] / 1024:.1f}" if m.get("rss_after") else "-"
            lines.append(f"| {k} | {m['seed_s']:.1f} | {m['start_s']:.1f} | {m['rss_idle'] / 1024:.1f} | {after} |")
        if "per_session_bytes" in info:
            lines += ["", f"Memory per live session: {info['per_session_bytes']:.0f} bytes "
                      f"(RSS idle, {s['sessions']:,} sessions vs 10, both with 10 users)."]
    return "\n".join(lines) + "\n"


def main():
    chosen = SETTINGS["only"] or ALL
    unknown = set(chosen) - set(ALL) - {"mem"}
    if unknown:
        raise SystemExit(f"BENCH_ONLY: unknown set-ups {sorted(unknown)}; known: {ALL + ['mem']}")
    os.makedirs(SETTINGS["out"], exist_ok=True)
    work = tempfile.mkdtemp(prefix="tfa-bench-")
    info = machine()
    log(f"machine: {info}; work dir {work}")
    results, memory = {}, {}
    up_port = free_port()
    up = start([os.path.join(RELEASE, "examples", "bench_upstream"), "--listen", f"127.0.0.1:{up_port}",
                "--threads", str(SETTINGS["upstream_threads"])], os.path.join(work, "upstream.log"))
    wait_for(up_port, "/", up)

    def gateway_case(key, users, sessions):
        g = Gateway(work, key, up_port, users, sessions)
        try:
            cookie = sign_in_with_totp(g.port)
            results[key] = measure(key, g.port, [f"Cookie: {cookie}"])
        finally:
            g.stop()
        memory[key] = {"seed_s": g.seed_seconds, "start_s": g.start_seconds,
                       "rss_idle": g.idle_rss, "rss_after": g.rss_after}

    if "a" in chosen:
        results["a"] = measure("a", up_port)
    if "b" in chosen:
        port = free_port()
        p = start([os.path.join(RELEASE, "examples", "bench_passthrough"), "--listen", f"127.0.0.1:{port}",
                   "--upstream", f"127.0.0.1:{up_port}", "--threads", str(SETTINGS["proxy_threads"]),
                   "--dir", os.path.join(work, "passthrough")], os.path.join(work, "passthrough.log"))
        wait_for(port, "/", p)
        results["b"] = measure("b", port)
        stop(p)
    if "c" in chosen:
        p, port = start_nginx(work, "nginx", up_port)
        results["c"] = measure("c", port)
        stop(p)
    if "d" in chosen:
        gateway_case("d", 0, 0)
    if "e" in chosen:
        g = Gateway(work, "e-gateway", up_port, 0, 0)
        try:
            cookie = sign_in_with_totp(g.port)
            p, port = start_nginx(work, "nginx-verify", up_port, gateway=g.port)
            results["e"] = measure("e", port, [f"Cookie: {cookie}"])
            stop(p)
        finally:
            g.stop()
    if "f10" in chosen:
        gateway_case("f10", 10, 10)
    if "f1M" in chosen:
        gateway_case("f1M", SETTINGS["users"], SETTINGS["sessions"])
    if "mem" in chosen or "f1M" in chosen:
        # Sessions alone: 10 users, as many sessions as f1M, idle.
        g = Gateway(work, "mem", up_port, 10, SETTINGS["sessions"])
        g.stop()
        memory["mem"] = {"seed_s": g.seed_seconds, "start_s": g.start_seconds, "rss_idle": g.idle_rss}
        if "f10" in memory and SETTINGS["sessions"] > 10:
            info["per_session_bytes"] = (g.idle_rss - memory["f10"]["rss_idle"]) * 1024 / (SETTINGS["sessions"] - 10)
    stop(up)
    info["memory"] = memory
    text = table(results, info)
    with open(os.path.join(SETTINGS["out"], "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(SETTINGS["out"], "results.json"), "w") as f:
        json.dump({"settings": SETTINGS, "machine": info, "results": results}, f, indent=2)
    print(text)
    if SETTINGS["keep"]:
        log(f"written: {SETTINGS['out']}/results.md and results.json; logs and data kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
        log(f"written: {SETTINGS['out']}/results.md and results.json (BENCH_KEEP=1 keeps logs and data)")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in list(PROCS):
            stop(p)
