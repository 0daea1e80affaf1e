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
  g1                nginx round-robin to one tfa-gateway on sled (d behind nginx)
  g3                nginx round-robin to three tfa-gateway replicas sharing one
                    throwaway PostgreSQL (benches/load/pg.py) and one key
  enrolled          no load: start-up time and idle memory with 10, 200,000 and
                    1,000,000 enrolled users, ten sessions each (memory per
                    enrolled user without a session)
  latency           a, b, c and d at one fixed rate (BENCH_RATE requests a
                    second over BENCH_RATE_CONNECTIONS connections) from
                    examples/bench_rate.rs, which times each request from
                    when it was due: p50, p99 and p99.9 as a person feels
                    them, not wrk's closed loop

g1 and g3 also count the CPU time each process spends during each round
(/proc), so that they can be compared per core: requests per CPU-second of
the gateway tier (the gateway, or the replicas and PostgreSQL).

Every set-up serves the same path of the same upstream. The gateway's
sign-in and identity calls go to the same responder, which answers
POST /login and GET /api/me well enough for the gateway. Python's standard
library only; every process started here is stopped here, by its pid.
"""

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
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

# No __pycache__ folder next to the sources for the import below.
sys.dont_write_bytecode = True
import pg  # noqa: E402  (benches/load/pg.py: the throwaway PostgreSQL cluster)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# BENCH_RELEASE: another build of the same binaries (one with line tables, say).
RELEASE = os.environ.get("BENCH_RELEASE") or os.path.join(ROOT, "target", "release")
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
    "replicas": env_int("BENCH_REPLICAS", 3),
    "replica_threads": env_int("BENCH_REPLICA_THREADS", 1),
    "rate": env_int("BENCH_RATE", 2000),
    "rate_connections": env_int("BENCH_RATE_CONNECTIONS", 16),
}
ALL = ["a", "b", "c", "d", "e", "f10", "f1M", "g1", "g3", "enrolled", "latency"]
NAMES = {
    "a": "upstream directly",
    "b": "Pingora passthrough",
    "c": "nginx proxy_pass",
    "d": "tfa-gateway, signed in",
    "e": "nginx auth_request to /_2fa/verify",
    "f10": "tfa-gateway, 10 users / 10 sessions",
    "f1M": "tfa-gateway, {users:,} users / {sessions:,} sessions",
    "g1": "nginx → tfa-gateway on sled",
    "g3": "nginx → {replicas} tfa-gateway replicas on PostgreSQL",
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


# How long a request of the harness's own (sign-in, checks) may take;
# instructions.py raises it, since under valgrind the gateway's
# recovery-code hashing (argon2) takes tens of seconds.
REQUEST_TIMEOUT = 10


def request(port, method, path, body=None, headers=None, timeout=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout or REQUEST_TIMEOUT)
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
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass  # already gone; the caller is stopping it anyway
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
    total = int(re.search(r"^\s*(\d+) requests in", out, re.M).group(1))
    pct = {m.group(1): float(m.group(2)) * UNITS[m.group(3)]
           for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad:
        raise SystemExit(f"wrk saw {bad.group(1)} answers that were not 2xx/3xx on port {port}:\n{out}")
    return {"rps": rps, "requests": total, "p50": pct.get("50"), "p99": pct.get("99"),
            "errors": errors.group(1) if errors else ""}


def fixed_rate(port, seconds, headers):
    """examples/bench_rate.rs at SETTINGS["rate"]: latencies from each
    request's due time, in ms; any failed request ends the run."""
    argv = [os.path.join(RELEASE, "examples", "bench_rate"), "--target", f"127.0.0.1:{port}",
            "--path", SETTINGS["path"], "--rate", str(SETTINGS["rate"]), "--seconds", str(seconds),
            "--connections", str(SETTINGS["rate_connections"])]
    for h in headers:
        argv += ["--header", h]
    out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    if out["errors"]:
        raise SystemExit(f"bench_rate saw {out['errors']} failed requests on port {port}: {out}")
    return {k: out[f"{k}_us"] / 1000 for k in ("p50", "p99", "p999", "max")} | {"reached": out["reached"]}


def measure_latency(targets):
    """Each target at the fixed rate, a round at a time, the order reversed
    every other round so that no target always runs first; medians."""
    rounds = {name: [] for name, _, _ in targets}
    for name, port, headers in targets:
        fixed_rate(port, SETTINGS["warmup"], headers)
    for i in range(SETTINGS["rounds"]):
        for name, port, headers in (targets if i % 2 == 0 else list(reversed(targets))):
            r = fixed_rate(port, SETTINGS["duration"], headers)
            log(f"  latency {name} round {i + 1}: {r['reached']:.0f} req/s, p50 {r['p50']:.3f} ms, "
                f"p99 {r['p99']:.3f} ms, p99.9 {r['p999']:.3f} ms")
            rounds[name].append(r)
    return {name: {k: statistics.median(r[k] for r in rs) for k in ("p50", "p99", "p999", "max", "reached")}
            for name, rs in rounds.items()}


# --- CPU time ------------------------------------------------------------------
#
# On two cores shared by wrk, nginx, the upstream and the proxies, req/s
# says how the scheduler shared the machine as much as what a request costs
# the proxy. So g1 and g3 also count, per round, the CPU time (user +
# system, all threads) of each process group from /proc/<pid>/stat; a
# group is a process and its descendants (nginx's workers, PostgreSQL's
# backends), plus what its reaped children used (cutime, cstime), so a
# backend that ends mid-round is still counted. Requests divided by the
# gateway tier's CPU-seconds is the "per core" figure. The system part of
# that time and the context switches of the groups' threads are kept too,
# to tell where a difference went.

TICK = os.sysconf("SC_CLK_TCK")


def proc_table():
    """pid -> (parent pid, CPU ticks, system ticks), each counting the
    process's own and its reaped children's."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # ended between listdir and open
        # The command name is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is field 3 (state): ppid is 4, utime..cstime 14..17.
        ticks = [int(x) for x in fields[11:15]]  # utime, stime, cutime, cstime
        table[int(entry)] = (int(fields[1]), sum(ticks), ticks[1] + ticks[3])
    return table


def switches(pid):
    """Context switches (voluntary and not) of the live threads of `pid`."""
    n = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                # voluntary_ctxt_switches and nonvoluntary_ctxt_switches
                n += sum(int(line.split()[1]) for line in f if "ctxt_switches:" in line)
        except OSError:
            pass
    return n


def group_cpu(table, roots):
    """CPU seconds, system seconds and context switches of `roots` and all
    their descendants."""
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    ticks = sys_ticks = ctx = 0
    todo, seen = list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        ticks += table[pid][1]
        sys_ticks += table[pid][2]
        ctx += switches(pid)
        todo.extend(children.get(pid, ()))
    return ticks / TICK, sys_ticks / TICK, ctx


def machine_busy():
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        cols = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = cols
    return (user + nice + system + irq + softirq + steal) / TICK


def cpu_snapshot(groups):
    table = proc_table()
    return {
        "groups": {name: group_cpu(table, pids) for name, pids in groups.items()},
        "wrk": sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), k) for k in ("ru_utime", "ru_stime")),
        "machine": machine_busy(),
        "wall": time.monotonic(),
    }


def cpu_delta(before, after):
    """CPU seconds per group, wrk, the machine, the rest ("other") and the
    wall time; then, apart, system seconds and context switches per group."""
    def grow(i):
        return {name: after["groups"][name][i] - before["groups"][name][i] for name in before["groups"]}

    d = grow(0)
    # wrk is the only child the harness reaps during a round, so the growth of
    # RUSAGE_CHILDREN is wrk's CPU time.
    d["wrk"] = after["wrk"] - before["wrk"]
    d["machine"] = after["machine"] - before["machine"]
    d["wall"] = after["wall"] - before["wall"]
    # Whatever else ran on the machine meanwhile (another build, the harness).
    d["other"] = d["machine"] - sum(d[k] for k in list(before["groups"]) + ["wrk"])
    return d, grow(1), grow(2)


class Target:
    """One set-up under load: where wrk sends what, and, with `cpu` (group
    name -> root pids), which processes' CPU time each round records;
    `tier` names the groups the "per core" figure divides by."""

    def __init__(self, name, port, headers=(), cpu=None, tier=()):
        self.name, self.port, self.headers = name, port, list(headers)
        self.cpu, self.tier = cpu, list(tier)
        self.rounds = []

    def check_and_warm_up(self):
        hdrs = dict(h.split(": ", 1) for h in self.headers)
        status, _, body = request(self.port, "GET", SETTINGS["path"], headers=hdrs)
        if status != 200 or body != BODY:
            raise SystemExit(f"{self.name}: GET {SETTINGS['path']} answered {status} {body[:200]!r}, "
                             "not the upstream's body")
        if SETTINGS["warmup"] > 0:
            wrk(self.port, SETTINGS["warmup"], self.headers)

    def round(self):
        before = cpu_snapshot(self.cpu) if self.cpu else None
        r = wrk(self.port, SETTINGS["duration"], self.headers)
        extra = ""
        if self.cpu:
            c, sys_s, ctx = cpu_delta(before, cpu_snapshot(self.cpu))
            r["cpu"], r["sys"], r["switches"] = c, sys_s, ctx
            tier_s = sum(c[g] for g in self.tier)
            r["per_cpu_s"] = r["requests"] / tier_s
            r["tier_sys_share"] = sum(sys_s[g] for g in self.tier) / tier_s
            r["tier_switches_per_req"] = sum(ctx[g] for g in self.tier) / r["requests"]
            # The whole set-up: everything started for it, and wrk.
            r["per_cpu_s_all"] = r["requests"] / (sum(c[g] for g in self.cpu) + c["wrk"])
            extra = (f"; tier {tier_s / c['wall']:.2f} cores ({r['tier_sys_share']:.0%} system, "
                     f"{r['tier_switches_per_req']:.2f} switches/req), {r['per_cpu_s']:.0f} req per tier CPU-s; cores: "
                     + ", ".join(f"{k} {v / c['wall']:.2f}" for k, v in c.items() if k != "wall"))
        log(f"  {self.name} round {len(self.rounds) + 1}: {r['rps']:.0f} req/s, p50 {r['p50']:.3f} ms, "
            f"p99 {r['p99']:.3f} ms" + (f", socket errors: {r['errors']}" if r["errors"] else "") + extra)
        self.rounds.append(r)

    def result(self):
        rounds = self.rounds
        result = {
            "rps": statistics.median(r["rps"] for r in rounds),
            "p50": statistics.median(r["p50"] for r in rounds),
            "p99": statistics.median(r["p99"] for r in rounds),
            "rounds": rounds,
        }
        if self.cpu:
            result["tier"] = self.tier
            result["per_cpu_s"] = statistics.median(r["per_cpu_s"] for r in rounds)
            result["per_cpu_s_all"] = statistics.median(r["per_cpu_s_all"] for r in rounds)
            for k in ("tier_sys_share", "tier_switches_per_req"):
                result[k] = statistics.median(r[k] for r in rounds)
            # Cores each group kept busy, median over the rounds.
            result["cores"] = {k: statistics.median(r["cpu"][k] / r["cpu"]["wall"] for r in rounds)
                               for k in rounds[0]["cpu"] if k != "wall"}
        return result


def measure(name, port, headers=()):
    """Checks one request by hand, warms up, then runs the rounds."""
    t = Target(name, port, headers)
    t.check_and_warm_up()
    for _ in range(SETTINGS["rounds"]):
        t.round()
    return t.result()


def measure_interleaved(targets):
    """Like `measure` for several set-ups at once, their rounds taken in
    turn (and in the other order every second round), so that whatever
    else the machine is doing weighs on each alike."""
    for t in targets:
        t.check_and_warm_up()
    for i in range(SETTINGS["rounds"]):
        for t in (targets if i % 2 == 0 else reversed(targets)):
            t.round()
    return {t.name: t.result() for t in targets}


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


def write_secrets(folder):
    """A key for secrets at rest and an admin token, as `seed_store` (and the
    demo) would write them: the files a set of replicas shares."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name, text in [("secret.key", base64.b64encode(os.urandom(32)).decode()),
                       ("admin.token", base64.urlsafe_b64encode(os.urandom(24)).decode())]:
        fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)


class Gateway:
    """tfa-gateway on a data folder seeded with `users` and `sessions`; or,
    with `store_url`, a replica on that PostgreSQL database, nothing seeded,
    with the key and admin token copied from the folder `secrets`."""

    def __init__(self, work, name, upstream, users, sessions, store_url=None, secrets=None, threads=None):
        self.dir = os.path.join(work, name)
        self.data = data = os.path.join(self.dir, "data")
        t = time.time()
        if store_url is None:
            os.makedirs(data)
            subprocess.run([os.path.join(RELEASE, "examples", "seed_store"), "--data-dir", data,
                            "--users", str(users), "--sessions", str(sessions)], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            os.makedirs(data, mode=0o700)
            for fn in ("secret.key", "admin.token"):
                shutil.copy(os.path.join(secrets, fn), os.path.join(data, fn))
        self.seed_seconds = time.time() - t
        self.port = free_port()
        self.admin_port = free_port()
        with open(os.path.join(data, "admin.token")) as f:
            self.admin_token = f.read().strip()
        with open(os.path.join(ROOT, "config", "demo.toml")) as f:
            text = f.read()
        text = (text.replace("127.0.0.1:9090", f"127.0.0.1:{self.admin_port}")
                .replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
                .replace("127.0.0.1:3000", f"127.0.0.1:{upstream}")
                .replace("/tmp/tfa-gateway-demo", data)
                .replace("threads = 2", f"threads = {threads or SETTINGS['proxy_threads']}"))
        if store_url is not None:
            text += f'\n[store]\nurl = "{store_url}"\n'
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

    def store_reads(self):
        """The gateway's tfa_store_reads_total, from its admin API."""
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            c.request("GET", "/metrics", headers={"Authorization": f"Bearer {self.admin_token}"})
            text = c.getresponse().read().decode()
        finally:
            c.close()
        return int(re.search(r"^tfa_store_reads_total (\d+)", text, re.M).group(1))

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
    upstream dashboard {{ {servers} keepalive 64; }}
{extra_upstream}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{auth}{host}
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
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header Host $http_host;
        }
        location ~ ^/(_2fa/|login$|logout$) {
            proxy_pass http://gateway; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }"""


# g1 and g3: the gateways are nginx's upstream, taken in turn (round-robin,
# nginx's default), with the same keep-alive as c. The browser's Host goes
# along, as a deployment's nginx would pass it: the gateway builds its
# redirects and same-origin checks on it.
POOL_HOST = """
            proxy_set_header Host $http_host;"""


def start_nginx(work, name, upstream, gateway=None, pool=None):
    """nginx in front of the upstream (c), asking `gateway` first (e), or in
    front of the gateways on the ports in `pool` (g1, g3)."""
    prefix = os.path.join(work, name)
    os.makedirs(prefix)
    port = free_port()
    servers = " ".join(f"server 127.0.0.1:{p};" for p in (pool or [upstream]))
    conf = NGINX.format(
        workers=SETTINGS["proxy_threads"], prefix=prefix, servers=servers, port=port,
        host=POOL_HOST if pool else "",
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
    if pool:
        wait_for(port, "/_2fa/health", p)
    else:
        wait_for(port, "/", p, status=200 if gateway is None else 401)
    return p, port


# --- g1, g3: behind nginx ------------------------------------------------------------


def behind_nginx(work, up, up_port, keys):
    """g1 and g3, both started before either is measured, then measured in
    interleaved rounds. Everything started here is stopped here, in reverse
    order (nginx, gateways, PostgreSQL), also when something fails."""
    targets = []
    with contextlib.ExitStack() as stack:
        for key in keys:
            server = None
            if key == "g1":
                gateways = [Gateway(work, "g1-gateway", up_port, 0, 0)]
                stack.callback(gateways[0].stop)
            else:
                server = pg.Postgres(keep=SETTINGS["keep"])
                stack.callback(server.stop)
                server.psql("postgres", "CREATE DATABASE tfa")
                # One key and one admin token for all: a token issued by one
                # replica must verify on the others.
                secrets = os.path.join(work, "g3-secrets")
                write_secrets(secrets)
                gateways = []
                for i in range(SETTINGS["replicas"]):
                    g = Gateway(work, f"g3-replica{i}", up_port, 0, 0, store_url=server.url("tfa"),
                                secrets=secrets, threads=SETTINGS["replica_threads"])
                    stack.callback(g.stop)
                    gateways.append(g)
            p, port = start_nginx(work, f"nginx-{key}", up_port, pool=[g.port for g in gateways])
            stack.callback(stop, p)
            # Through nginx, as for a browser: with replicas, the sign-in's
            # steps land on different ones, and the session is in the store.
            cookie = sign_in_with_totp(port)
            groups = {"gateway": [g.proc.pid for g in gateways], "nginx": [p.pid], "upstream": [up.pid]}
            tier = ["gateway"]
            if server is not None:
                groups["postgres"] = [server.proc.pid]
                tier.append("postgres")
            t = Target(key, port, [f"Cookie: {cookie}"], cpu=groups, tier=tier)
            t.gateways = gateways
            targets.append(t)
        reads = {t.name: sum(g.store_reads() for g in t.gateways) for t in targets}
        results = measure_interleaved(targets)
        for t in targets:
            # Signed-in requests are answered from memory; what the store is
            # still asked under load (a replica's first sight of the session,
            # identity refreshes) shows here. BENCHMARKS.md has the reading.
            results[t.name]["store_reads"] = sum(g.store_reads() for g in t.gateways) - reads[t.name]
    return results


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
        f"upstream: {s['upstream_threads']} threads; gateway log level {s['gateway_log']}; "
        f"g3: {s['replicas']} replicas of {s['replica_threads']} worker thread(s).", "",
    ]
    if results:
        lines += ["| set-up | req/s | p50 ms | p99 ms | req/s per round |", "|---|---:|---:|---:|---|"]
    for key in ALL:
        if key in results:
            r = results[key]
            per = ", ".join(f"{x['rps']:.0f}" for x in r["rounds"])
            name = NAMES[key].format(**s)
            lines.append(f"| {key}: {name} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {per} |")
    if results:
        lines += ["", "| ratio | req/s | p50 | p99 |", "|---|---:|---:|---:|"]
    for a, b in [("d", "b"), ("d", "c"), ("d", "e"), ("f1M", "f10"), ("b", "a"), ("c", "a"), ("g3", "g1")]:
        if a in results and b in results:
            ra, rb = results[a], results[b]
            lines.append(f"| {a}/{b} | {ra['rps'] / rb['rps']:.2f} | {ra['p50'] / rb['p50']:.2f} | "
                         f"{ra['p99'] / rb['p99']:.2f} |")
    behind = [k for k in ("g1", "g3") if k in results]
    if behind:
        lines += ["", "Behind nginx: requests per CPU-second of the tier (the gateway; or the replicas and "
                  "PostgreSQL) and of everything the set-up runs (tier, nginx, upstream, wrk); then the cores "
                  "each kept busy (CPU-seconds per second; other: the rest of the machine). Medians over the "
                  "rounds. Tier system: the kernel's part of the tier's CPU time; switches: its threads' "
                  "context switches per request. Store reads: the gateways' tfa_store_reads_total over "
                  "warm-up and rounds.", "",
                  "| set-up | req/s | req per tier CPU-s | req per CPU-s, all | tier | tier system | "
                  "tier switches / req | gateways | PostgreSQL | nginx | upstream | wrk | other | store reads |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for key in behind:
            r, c = results[key], results[key]["cores"]
            tier = sum(c[g] for g in r["tier"])
            pgc = f"{c['postgres']:.2f}" if "postgres" in c else "-"
            lines.append(f"| {key} | {r['rps']:.0f} | {r['per_cpu_s']:.0f} | {r['per_cpu_s_all']:.0f} | "
                         f"{tier:.2f} | {r['tier_sys_share']:.0%} | {r['tier_switches_per_req']:.2f} | "
                         f"{c['gateway']:.2f} | "
                         f"{pgc} | {c['nginx']:.2f} | {c['upstream']:.2f} | {c['wrk']:.2f} | {c['other']:.2f} | "
                         f"{r['store_reads']} |")
        if len(behind) == 2:
            per = [a["per_cpu_s"] / b["per_cpu_s"] for a, b in zip(results["g3"]["rounds"], results["g1"]["rounds"])]
            lines += ["", f"g3/g1 per core: {results['g3']['per_cpu_s'] / results['g1']['per_cpu_s']:.3f} "
                      f"(target ≥ 0.95; round by round {', '.join(f'{x:.3f}' for x in per)}); "
                      f"req/s {results['g3']['rps'] / results['g1']['rps']:.3f}."]
    lat = info.get("latency")
    if lat:
        lines += ["", f"Fixed rate ({s['rate']} requests a second over {s['rate_connections']} keep-alive "
                  "connections, examples/bench_rate.rs): each latency from when its request was due, so "
                  "queueing behind a slow answer counts. Medians over the rounds, ms.", "",
                  "| set-up | reached req/s | p50 | p99 | p99.9 | max | p99 over b |", "|---|---:|---:|---:|---:|---:|---:|"]
        for key in ("a", "b", "c", "d"):
            r = lat[key]
            lines.append(f"| {key}: {NAMES[key]} | {r['reached']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | "
                         f"{r['p999']:.3f} | {r['max']:.3f} | {r['p99'] / lat['b']['p99']:.2f} |")
    mem = info.get("memory", {})
    if mem:
        lines += ["", "| gateway | seed s | start s | RSS idle MiB | RSS after load MiB |", "|---|---:|---:|---:|---:|"]
        for k, m in mem.items():
            after = f"{m['rss_after'] / 1024:.1f}" if m.get("rss_after") else "-"
            lines.append(f"| {k} | {m['seed_s']:.1f} | {m['start_s']:.1f} | {m['rss_idle'] / 1024:.1f} | {after} |")
        for key, users in [("u200k", 200_000), ("u1M", 1_000_000)]:
            if f"per_enrolled_user_bytes_{key}" in info:
                lines += ["", f"Memory per enrolled user without a session ({key}): "
                          f"{info[f'per_enrolled_user_bytes_{key}']:.1f} bytes (RSS idle, {users:,} users vs 10, "
                          f"both with 10 sessions; target at most 64); ready in {mem[key]['start_s']:.2f} s "
                          f"(target under 1 s)."]
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
    try:
        run(chosen, work)
    except BaseException:
        # Stopped first, so that nothing writes into the folder as it goes.
        for p in list(PROCS):
            stop(p)
        if SETTINGS["keep"]:
            log(f"failed; logs and data kept in {work}")
        else:
            show_log_tails(work)
            shutil.rmtree(work, ignore_errors=True)
        raise


def latency(work, up_port):
    """The fixed-rate rounds: the upstream, the passthrough, nginx and the
    signed-in gateway, all running at once, measured in turn."""
    port_b = free_port()
    b = start([os.path.join(RELEASE, "examples", "bench_passthrough"), "--listen", f"127.0.0.1:{port_b}",
               "--upstream", f"127.0.0.1:{up_port}", "--threads", str(SETTINGS["proxy_threads"]),
               "--dir", os.path.join(work, "latency-passthrough")], os.path.join(work, "latency-passthrough.log"))
    wait_for(port_b, "/", b)
    c, port_c = start_nginx(work, "latency-nginx", up_port)
    g = Gateway(work, "latency-d", up_port, 0, 0)
    try:
        cookie = sign_in_with_totp(g.port)
        return measure_latency([("a", up_port, []), ("b", port_b, []), ("c", port_c, []),
                                ("d", g.port, [f"Cookie: {cookie}"])])
    finally:
        g.stop()
        stop(c)
        stop(b)


def show_log_tails(work):
    """The last lines of every log, since the folder is about to go."""
    for d, _, files in os.walk(work):
        for fn in sorted(files):
            if fn.endswith(".log"):
                path = os.path.join(d, fn)
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-5:]
                log(f"--- {os.path.relpath(path, work)} (last lines; BENCH_KEEP=1 keeps it all) ---\n"
                    + "".join(tail).rstrip())


def run(chosen, work):
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
    if "enrolled" in chosen:
        # Enrolled users without a session (issue 14: at most 64 bytes each,
        # ready in under a second with 200,000 and with 1,000,000): ten
        # sessions each, so only the enrolled users differ, and no load.
        base = Gateway(work, "u10", up_port, 10, 10)
        base.stop()
        memory["u10"] = {"seed_s": base.seed_seconds, "start_s": base.start_seconds, "rss_idle": base.idle_rss}
        for key, users in [("u200k", 200_000), ("u1M", 1_000_000)]:
            g = Gateway(work, key, up_port, users, 10)
            g.stop()
            memory[key] = {"seed_s": g.seed_seconds, "start_s": g.start_seconds, "rss_idle": g.idle_rss}
            info[f"per_enrolled_user_bytes_{key}"] = (g.idle_rss - base.idle_rss) * 1024 / (users - 10)
    behind = [k for k in ("g1", "g3") if k in chosen]
    if behind:
        results.update(behind_nginx(work, up, up_port, behind))
    if "latency" in chosen:
        info["latency"] = latency(work, up_port)
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
    # A SIGTERM or SIGHUP (a CI timeout, a closed terminal) ends the run the
    # way Ctrl-C does, through the `finally` blocks, so that nothing started
    # here outlives it.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda n, _frame: sys.exit(128 + n))
    try:
        main()
    finally:
        for p in list(PROCS):
            stop(p)
