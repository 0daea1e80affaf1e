#!/usr/bin/env python3
"""The soak test (issue 17), run by hand: benches/soak/run.sh.

An hour (SOAK_MINUTES) of mixed traffic at a steady rate against a release
tfa-gateway in front of the demo dashboard (`tfa-gateway demo-dashboard`),
on loopback:

  browse     20 signed-in requests a second (/api/me, /projects) as carol
  sign-in    one a second: dave signs in (no second factor), opens a page,
             signs out
  challenge  every 8 s: alice or bob (TOTP on) signs in, passes the
             challenge with the app's code, opens a page, signs out
  websocket  every 2 s: carol opens /ws, sends a message, reads the echo,
             closes

Every minute the gateway's resident memory, open file descriptors and
threads are sampled from /proc. At the end: the memory slope over the run
after a ten-minute warm-up (least squares, KiB per minute and per hour),
the descriptors open while idle before and after the traffic, the CPU the
idle gateway spends afterwards, and every error; written to
target/soak/results.md. Any error, a descriptor left open or a busy idle
gateway fails the run.
Python's standard library only.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "load"))
from harness import Jar, request, rss_kib, totp, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# SOAK_BIN runs a copy, so that rebuilding the tree during the hour does not
# swap the binary under the run.
BIN = os.environ.get("SOAK_BIN") or os.path.join(ROOT, "target", "release", "tfa-gateway")
MINUTES = float(os.environ.get("SOAK_MINUTES", "60"))
WARM_UP = min(10.0, MINUTES / 3)

errors = []
counts = {"browse": 0, "sign-in": 0, "challenge": 0, "websocket": 0}
lock = threading.Lock()
stop = threading.Event()


def error(kind, what):
    with lock:
        errors.append(f"{time.strftime('%H:%M:%S')} {kind}: {what}")


def done(kind):
    with lock:
        counts[kind] += 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(listen, dashboard, admin, data):
    with open(os.path.join(ROOT, "config", "demo.toml")) as f:
        text = f.read()
    return (text.replace('"127.0.0.1:8080"', f'"127.0.0.1:{listen}"')
            .replace('"127.0.0.1:3000"', f'"127.0.0.1:{dashboard}"')
            .replace('"127.0.0.1:9090"', f'"127.0.0.1:{admin}"')
            .replace("/tmp/tfa-gateway-demo", data)
            .replace('"http://localhost:8080"', f'"http://localhost:{listen}"'))


def sign_in(port, email):
    jar = Jar()
    form = urllib.parse.urlencode({"email": email, "password": email.split("@")[0] + "-password"}).encode()
    status, _ = jar.send(port, "POST", "/login", form, "application/x-www-form-urlencoded")
    return jar, status


def sign_out(port, jar, kind):
    status, _ = jar.send(port, "POST", "/logout")
    if status != 303 or "tfa_session" in jar.cookies:
        error(kind, f"sign-out answered {status}, cookies {sorted(jar.cookies)}")


def page(port, jar, path, kind):
    status, _ = jar.send(port, "GET", path)
    if status != 200:
        error(kind, f"GET {path} answered {status}")
        return False
    return True


def every(seconds, kind, work):
    """Runs `work` every `seconds` (a steady rate: late runs do not bunch)."""
    def loop():
        due = time.monotonic()
        while not stop.is_set():
            try:
                if work():
                    done(kind)
            except Exception as e:  # noqa: BLE001 - every failure is counted
                error(kind, repr(e))
            due += seconds
            stop.wait(max(0.0, due - time.monotonic()))
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def enroll(port, email):
    jar, status = sign_in(port, email)
    assert status == 303, status
    password = email.split("@")[0] + "-password"
    status, data = jar.json(port, "/_2fa/api/totp/enroll", {"password": password})
    assert status == 200, (status, data)
    secret = json.loads(data)["secret"]
    status, data = jar.json(port, "/_2fa/api/totp/verify", {"code": totp(secret, time.time())})
    assert status == 200, (status, data)
    return {"email": email, "secret": secret, "step": int(time.time()) // 30}


def challenge(port, users):
    """One of `users` whose code of this time step is unused signs in with it."""
    turn = [0]

    def work():
        user = users[turn[0] % len(users)]
        turn[0] += 1
        step = int(time.time()) // 30
        if user["step"] >= step:  # a code is accepted once: wait for the next one
            return False
        jar, status = sign_in(port, user["email"])
        if status != 303 or "dash_session" in jar.cookies:
            error("challenge", f"sign-in answered {status}, cookies {sorted(jar.cookies)}")
            return False
        status, data = jar.json(port, "/_2fa/api/challenge", {"code": totp(user["secret"], step * 30)})
        user["step"] = step
        if status != 204:
            error("challenge", f"{status} {data[:200]!r}")
            return False
        ok = page(port, jar, "/projects", "challenge")
        sign_out(port, jar, "challenge")
        return ok
    return work


def websocket(port, cookie):
    def work():
        key = base64.b64encode(os.urandom(16)).decode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall((f"GET /ws HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("closed during the handshake")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(head.split(b"\r\n")[0].decode())
            rest = head.split(b"\r\n\r\n", 1)[1]
            message = b"soak"
            mask = os.urandom(4)
            s.sendall(bytes([0x81, 0x80 | len(message)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(message)))
            while len(rest) < 2 + len(message):
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("closed before the echo")
                rest += chunk
            if rest[2:2 + len(message)] != message:
                raise ConnectionError(f"echo {rest!r}")
            s.sendall(bytes([0x88, 0x80]) + os.urandom(4))  # close
        return True
    return work


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def cpu_ticks(pid):
    """User and system CPU time, in clock ticks (1/100 s)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def slope(samples):
    """Least-squares KiB per minute over (minute, KiB) samples."""
    n = len(samples)
    mx = sum(m for m, _ in samples) / n
    my = sum(k for _, k in samples) / n
    sxx = sum((m - mx) ** 2 for m, _ in samples)
    return sum((m - mx) * (k - my) for m, k in samples) / sxx if sxx else 0.0


def main():
    if not os.path.exists(BIN):
        raise SystemExit("build first: cargo build --release")
    data = tempfile.mkdtemp(prefix="tfa-soak-")
    out_dir = os.path.join(ROOT, "target", "soak")
    os.makedirs(out_dir, exist_ok=True)
    listen, dash, admin = free_port(), free_port(), free_port()
    dashboard = subprocess.Popen([BIN, "demo-dashboard", "--listen", f"127.0.0.1:{dash}"],
                                 stdout=subprocess.DEVNULL)
    path = os.path.join(data, "gateway.toml")
    with open(path, "w") as f:
        f.write(config(listen, dash, admin, data))
    for name, text in [("secret.key", base64.b64encode(os.urandom(32)).decode()),
                       ("admin.token", base64.urlsafe_b64encode(os.urandom(24)).decode())]:
        fd = os.open(os.path.join(data, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    log = open(os.path.join(out_dir, "gateway.log"), "w")
    gateway = subprocess.Popen([BIN, "run", "--config", path], stderr=log, env={**os.environ, "RUST_LOG": "warn"})
    try:
        wait_for(listen, "/_2fa/health", gateway)
        users = [enroll(listen, e) for e in ("alice@acme.test", "bob@acme.test")]
        carol, status = sign_in(listen, "carol@globex.test")
        assert status == 303, status

        def browse():
            return page(listen, carol, "/api/me", "browse") and page(listen, carol, "/projects", "browse")

        def dave():
            jar, status = sign_in(listen, "dave@globex.test")
            if status != 303:
                error("sign-in", f"answered {status}")
                return False
            ok = page(listen, jar, "/projects", "sign-in")
            sign_out(listen, jar, "sign-in")
            return ok

        every(0.1, "browse", browse)
        every(1.0, "sign-in", dave)
        every(8.0, "challenge", challenge(listen, users))
        every(2.0, "websocket", websocket(listen, carol.header()))

        samples = []
        started = time.monotonic()
        idle_fds_before = fds(gateway.pid)
        print(f"soak: {MINUTES:g} min against pid {gateway.pid}; samples every minute", flush=True)
        while (minute := (time.monotonic() - started) / 60) <= MINUTES:
            if gateway.poll() is not None:
                error("gateway", f"exited with {gateway.returncode}")
                break
            rss, open_fds, n_threads = rss_kib(gateway.pid), fds(gateway.pid), threads(gateway.pid)
            samples.append((minute, rss, open_fds, n_threads))
            with lock:
                line = f"{minute:5.1f} min  rss {rss} KiB  fds {open_fds}  threads {n_threads}  {counts}  errors {len(errors)}"
            print(line, flush=True)
            time.sleep(60)
        stop.set()
        # Idle again: what is left open, and whether it rests.
        time.sleep(3)
        idle_fds_after = fds(gateway.pid)
        ticks = cpu_ticks(gateway.pid)
        time.sleep(5)
        idle_cpu = (cpu_ticks(gateway.pid) - ticks) / 5
    finally:
        gateway.terminate()
        dashboard.terminate()
        gateway.wait(30)
        dashboard.wait(30)

    settled = [(m, k) for m, k, _, _ in samples if m >= WARM_UP] or [(m, k) for m, k, _, _ in samples]
    per_minute = slope(settled)
    lines = [
        f"# Soak: {MINUTES:g} minutes of mixed traffic",
        "",
        f"- requests: {counts['browse'] * 2} signed-in, {counts['sign-in']} sign-ins and sign-outs, "
        f"{counts['challenge']} TOTP challenges, {counts['websocket']} WebSockets",
        f"- resident memory: {samples[0][1]} KiB at the start, {samples[-1][1]} KiB at the end; "
        f"slope after {WARM_UP:g} min: {per_minute:+.1f} KiB/min ({per_minute * 60 / 1024:+.2f} MiB/h)",
        f"- open file descriptors, idle: {idle_fds_before} before the traffic, {idle_fds_after} after it",
        f"- CPU when idle after the run: {idle_cpu:.1f} ticks a second (100 = one core)",
        f"- errors: {len(errors)}",
        "",
        "| minute | RSS KiB | fds | threads |",
        "|---:|---:|---:|---:|",
    ] + [f"| {m:.0f} | {k} | {f} | {t} |" for m, k, f, t in samples] + [""] + errors[:50]
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))
    print(f"written to {os.path.join(out_dir, 'results.md')}")
    if errors or idle_fds_after > idle_fds_before + 2 or idle_cpu > 5:
        raise SystemExit("soak failed: errors, file descriptors left open, or a busy idle gateway")


if __name__ == "__main__":
    main()
