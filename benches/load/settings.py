"""Pingora's own settings, one at a time (issue 18, item 2): the bare
passthrough (b, examples/bench_passthrough.rs) counted by callgrind with
Pingora's defaults, then with each setting changed alone, on the same
request as instructions.py sends it (a session's and a dashboard's cookie).
What a setting saves here, the gateway can save by the same setting.

  python3 benches/load/settings.py              every setting below
  python3 benches/load/settings.py no-modules   some of them

  python3 benches/load/settings.py --idle 2000 memory per idle connection

Needs `cargo build --release --examples`. CG_REQUESTS as in instructions.py.

`--idle N` measures what the downstream read buffer holds instead: the
passthrough's resident memory with N idle keep-alive connections (each
has had one request answered), with Pingora's default buffer and with
none, as the gateway's plain listeners have it.
"""
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import harness as H  # noqa: E402
import instructions as I  # noqa: E402

# Each row: the label, then bench_passthrough's arguments.
SETTINGS = [
    ("Pingora's defaults", []),
    ("no downstream modules (the disabled compression module)", ["--set", "no-modules"]),
    ("work_stealing: false", ["--set", "no-steal"]),
    ("runtime_enable_alt_timer", ["--set", "alt-timer"]),
    ("two threads, not one", ["--threads", "2"]),
    ("upstream_keepalive_pool_size 8, not 128", ["--set", "pool=8"]),
    ("listener_tasks_per_fd 4, not 1", ["--set", "tasks-per-fd=4"]),
    ("downstream read buffer 16 KiB, not 64 KiB", ["--set", "read-buffer=16384"]),
    ("downstream read buffer off", ["--set", "read-buffer=0"]),
    ("downstream write buffer 16 KiB, not 1,460 bytes", ["--set", "write-buffer=16384"]),
    ("downstream write buffer off", ["--set", "write-buffer=0"]),
    ("peer read, write and idle timeouts (60 s)", ["--set", "timeouts"]),
    ("keepalive_request_limit 100000", ["--set", "keepalive-limit=100000"]),
]

# As long as the gateway's: its session cookie and the demo dashboard's.
COOKIE = "tfa_session=" + "A" * 43 + "; dash_session=" + "b" * 32


def main(chosen):
    # The defaults always, then the rows whose arguments name a chosen word.
    rows = [SETTINGS[0]] + [s for s in SETTINGS[1:] if not chosen or any(w in " ".join(s[1]) for w in chosen)]
    work = tempfile.mkdtemp(prefix="tfa-settings-")
    os.chdir(work)  # callgrind writes its files here
    up_port = H.free_port()
    up = H.start([os.path.join(H.RELEASE, "examples", "bench_upstream"), "--listen", f"127.0.0.1:{up_port}",
                  "--threads", "1"], os.path.join(work, "upstream.log"))
    results = []
    try:
        H.wait_for(up_port, "/", up)
        for i, (label, args) in enumerate(rows):
            port = H.free_port()
            argv = I.VALGRIND + [os.path.join(H.RELEASE, "examples", "bench_passthrough"), "--listen",
                                 f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{up_port}",
                                 "--dir", os.path.join(work, f"p{i}")]
            if "--threads" not in args:
                argv += ["--threads", "1"]
            p = H.start(argv + args, os.path.join(work, f"p{i}.log"))
            H.wait_for(port, "/", p, limit=120)
            n, _ = I.count(f"s{i}", p, port, work, COOKIE)
            results.append((label, n))
            print(f"  {label:58} {n:9.0f}", flush=True)
    finally:
        for p in list(H.PROCS):
            H.stop(p)
        if os.environ.get("CG_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
    base = results[0][1]
    print(f"\ninstructions per request over {I.N} keep-alive requests (callgrind, user space):")
    for label, n in results:
        print(f"| {label} | {n:,.0f} | {100 * (n - base) / base:+.1f} % |")


def idle(n):
    """Resident memory per idle keep-alive connection, by read buffer."""
    work = tempfile.mkdtemp(prefix="tfa-idle-")
    up_port = H.free_port()
    H.start([os.path.join(H.RELEASE, "examples", "bench_upstream"), "--listen", f"127.0.0.1:{up_port}",
             "--threads", "1"], os.path.join(work, "upstream.log"))
    request = b"GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n"
    try:
        H.wait_for(up_port, "/", H.PROCS[-1])
        for label, args in [("Pingora's default read buffer (64 KiB)", []),
                            ("no read buffer", ["--set", "read-buffer=0"])]:
            port = H.free_port()
            p = H.start([os.path.join(H.RELEASE, "examples", "bench_passthrough"), "--listen", f"127.0.0.1:{port}",
                         "--upstream", f"127.0.0.1:{up_port}", "--threads", "1", "--dir", os.path.join(work, "p")]
                        + args, os.path.join(work, "p.log"))
            H.wait_for(port, "/", p)
            time.sleep(0.5)
            before = H.rss_kib(p.pid)
            conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
            for c in conns:
                c.sendall(request)
            for c in conns:
                assert c.recv(65536).startswith(b"HTTP/1.1 200"), "the passthrough did not answer"
            time.sleep(1)
            after = H.rss_kib(p.pid)
            print(f"| {label} | {before:,} KiB | {after:,} KiB | {(after - before) / n:.1f} KiB |", flush=True)
            for c in conns:
                c.close()
            H.stop(p)
    finally:
        for p in list(H.PROCS):
            H.stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--idle"]:
        idle(int(sys.argv[2]))
    else:
        main(sys.argv[1:])
