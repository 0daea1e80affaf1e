"""Instructions per request, counted by callgrind: the bare Pingora
passthrough (b) against the gateway with a signed-in session (d), and the
same gateway on PostgreSQL instead of sled (dpg: a replica as in the
harness's g3, the session made through another replica and read from the
store), each serving the same fixed number of keep-alive requests from curl after a
warm-up. Counts do not depend on what else the machine is doing, so this
tells a change's cost where wrk's round-to-round noise (about 15 % here)
cannot. User-space only: the kernel's share (loopback TCP) is the same for
both and is not counted. Started by benches/load/instructions.sh.

Settings: CG_REQUESTS (default 3000), CG_KEEP=1 keeps the callgrind files
for callgrind_annotate, CG_NGINX=1 also counts nginx's proxy_pass (c),
CG_SKIP_PG=1 leaves out dpg, CG_B_SET="no-modules read-buffer=0" gives b
the Pingora settings the gateway changes from their defaults (settings.py,
bench_passthrough.rs's `--set`), so that d - b compares like with like.
CG_BROWSER=1 sends the headers Chromium 156 sends with a same-origin
`fetch()` of a dashboard's JSON API (BROWSER_HEADERS) where curl sends three.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ next to the sources
import harness as H  # noqa: E402
import pg  # noqa: E402

N = int(os.environ.get("CG_REQUESTS", "3000"))
H.REQUEST_TIMEOUT = 300  # the sign-in under valgrind: see harness.REQUEST_TIMEOUT
VALGRIND = ["valgrind", "--tool=callgrind", "--dump-instr=no"]


# What headless Chromium 156 sent with `fetch('/api/me')` from a page of the
# same origin (captured on 2026-12-01 with a printing server), in its order;
# only the headers are copied (the path stays /bench); curl adds Host, and
# the Cookie header is the session's, as without them.
BROWSER_HEADERS = [
    "Connection: keep-alive",
    'sec-ch-ua-platform: "Linux"',
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
    'sec-ch-ua: "Not:A-Brand";v="8", "Chromium";v="156"',
    "sec-ch-ua-mobile: ?0",
    "Accept: */*",
    "Sec-Fetch-Site: same-origin",
    "Sec-Fetch-Mode: cors",
    "Sec-Fetch-Dest: empty",
    "Referer: http://localhost/",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Accept-Language: en-US,en;q=0.9",
]


def curl(port, n, cookie=None):
    """n requests on one keep-alive connection (curl's URL globbing)."""
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", f"http://127.0.0.1:{port}/bench?[1-{n}]"]
    if os.environ.get("CG_BROWSER") == "1":
        args += [a for h in BROWSER_HEADERS for a in ("-H", h)]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    codes = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    assert len(codes) == n and all(c == "200" for c in codes), codes[:5]


def count(name, proc, port, work, cookie=None):
    """Zeroes the counters after a warm-up, sends N requests, dumps."""
    curl(port, 300, cookie)
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
    curl(port, N, cookie)
    subprocess.run(["callgrind_control", "-d", name, str(proc.pid)], check=True, capture_output=True)
    time.sleep(1)
    H.stop(proc)
    for f in glob.glob(os.path.join(work, "callgrind.out.*")):
        text = open(f).read()
        if f"desc: Trigger: dump {name}\n" in text:
            total = next(int(l.split()[1]) for l in text.splitlines() if l.startswith("summary:"))
            return total / N, f
    raise SystemExit(f"no callgrind dump for {name} in {work}")


def count_nginx(work, up_port, cookie):
    """c, as the issue measured it: nginx's proxy_pass with upstream
    keep-alive, one process (`master_process off`), access log off, the
    same request as b. Debian's nginx exports its functions' names, so
    callgrind_annotate can tell its phases apart (phases.py)."""
    prefix = os.path.join(work, "c")
    os.makedirs(prefix)
    port = H.free_port()
    conf = "master_process off;\n" + H.NGINX.format(
        workers=1, prefix=prefix, servers=f"server 127.0.0.1:{up_port};", port=port, host="",
        extra_upstream="", auth="", extra_locations="",
    ).replace(f"access_log {prefix}/access.log;", "access_log off;")
    path = os.path.join(prefix, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    p = H.start(VALGRIND + [nginx, "-p", prefix, "-e", os.path.join(prefix, "error.log"), "-c", path],
                os.path.join(prefix, "stdout.log"))
    H.wait_for(port, "/", p, limit=120)
    return count("c", p, port, work, cookie)


def main():
    work = tempfile.mkdtemp(prefix="tfa-instructions-")
    try:
        measure_all(work)
    except BaseException:
        for p in list(H.PROCS):  # stopped before their folder goes
            H.stop(p)
        if os.environ.get("CG_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        raise


def measure_all(work):
    os.chdir(work)  # callgrind writes its files here
    up_port = H.free_port()
    up = H.start([os.path.join(H.RELEASE, "examples", "bench_upstream"), "--listen", f"127.0.0.1:{up_port}",
                  "--threads", "1"], os.path.join(work, "upstream.log"))
    H.wait_for(up_port, "/", up)

    # The harness starts the gateway itself; put valgrind in front of it.
    real_start = H.start

    def under_valgrind(argv, logfile, **kw):
        if argv[0].endswith("tfa-gateway"):
            argv = VALGRIND + argv
        return real_start(argv, logfile, **kw)

    H.start = under_valgrind
    H.SETTINGS["proxy_threads"] = 1
    g = H.Gateway(work, "d", up_port, 1, 1)
    cookie = H.sign_in_with_totp(g.port)

    # b is sent the very request d is, the gateway's and the dashboard's
    # cookies included: parsing, copying and forwarding them is the
    # passthrough's cost too, so d - b is the gateway's own work only.
    # CG_B_COOKIE=0 sends b no cookie (the readings before 2026-12-01).
    port = H.free_port()
    p = real_start(VALGRIND + [os.path.join(H.RELEASE, "examples", "bench_passthrough"), "--listen",
                               f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{up_port}", "--threads", "1",
                               "--dir", os.path.join(work, "passthrough")]
                   + [a for s in os.environ.get("CG_B_SET", "").split() for a in ("--set", s)],
                   os.path.join(work, "b.log"))
    H.wait_for(port, "/", p, limit=120)
    b_cookie = None if os.environ.get("CG_B_COOKIE") == "0" else cookie
    b, b_file = count("b", p, port, work, b_cookie)
    d, d_file = count("d", g.proc, g.port, work, cookie)
    if os.environ.get("CG_NGINX") == "1":
        c, c_file = count_nginx(work, up_port, b_cookie)
        print(f"  c    nginx proxy_pass               {c:9.0f}   (c/b {c / b:.3f})   {c_file}")

    if os.environ.get("CG_SKIP_PG") == "1":  # a quick b and d only
        H.start = real_start
        H.stop(up)
        print(f"  b {b:9.0f}   d {d:9.0f}   (+{d - b:.0f}, d/b {d / b:.3f})   {b_file} {d_file}")
        return
    server = pg.Postgres()
    try:
        server.psql("postgres", "CREATE DATABASE tfa")
        secrets = os.path.join(work, "dpg-secrets")
        H.write_secrets(secrets)
        g = H.Gateway(work, "dpg", up_port, 0, 0, store_url=server.url("tfa"), secrets=secrets, threads=1)
        # Signed in through a second replica, not under valgrind, whose
        # recovery-code hashing (argon2) would take minutes under it; the
        # measured one reads the session from the store, as in g3.
        H.start = real_start
        other = H.Gateway(work, "dpg-sign-in", up_port, 0, 0, store_url=server.url("tfa"), secrets=secrets,
                          threads=1)
        cookie = H.sign_in_with_totp(other.port)
        dpg, dpg_file = count("dpg", g.proc, g.port, work, cookie)
    finally:
        H.start = real_start
        for p in list(H.PROCS):  # the gateway, before its database
            if p is not up:
                H.stop(p)
        server.stop()
    H.stop(up)

    print(f"instructions per request over {N} keep-alive requests (callgrind, user space):")
    print(f"  b    Pingora passthrough             {b:9.0f}")
    print(f"  d    tfa-gateway, signed in          {d:9.0f}   (+{d - b:.0f}, d/b {d / b:.2f})")
    print(f"  dpg  the same on PostgreSQL          {dpg:9.0f}   (+{dpg - b:.0f}, dpg/d {dpg / d:.3f})")
    if os.environ.get("CG_KEEP") == "1":
        print(f"callgrind files: {b_file} {d_file} {dpg_file} (callgrind_annotate --inclusive=yes FILE)")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    # A SIGTERM or SIGHUP ends the run through the `finally` blocks, as Ctrl-C does.
    for signum in (H.signal.SIGTERM, H.signal.SIGHUP):
        H.signal.signal(signum, lambda n, _frame: sys.exit(128 + n))
    try:
        main()
    finally:
        for p in list(H.PROCS):  # whatever a failed run left running
            H.stop(p)
