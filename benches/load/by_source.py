"""Where a callgrind profile's instructions were spent, by source file:
each instruction is counted in the file its code was written in, inlined
code included, so an async state machine's inlined steps are found where
`callgrind_annotate --inclusive=yes` can only name the closure. Needs a
build with line tables:

    CARGO_TARGET_DIR=/tmp/lt CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \\
        cargo build --release --bins --examples
    BENCH_RELEASE=/tmp/lt/release CG_KEEP=1 CG_SKIP_PG=1 python3 benches/load/instructions.py
    python3 benches/load/by_source.py FILE [REQUESTS]

Prints instructions per request (REQUESTS, default 3000) by group, then
the largest files.
"""
import re
import sys

# First match wins; a pattern is matched against the file's path.
GROUPS = [
    ("downstream HTTP/1: read, parse, write (pingora-core v1/server.rs)", r"pingora-core[^/]*/src/protocols/http/v1/server\.rs"),
    ("upstream HTTP/1: write, read (pingora-core v1/client.rs)", r"pingora-core[^/]*/src/protocols/http/v1/client\.rs"),
    ("HTTP/1 framing and bodies (pingora-core v1/body.rs, common.rs)", r"pingora-core[^/]*/src/protocols/http/v1/"),
    ("the session around both (pingora-core http/server.rs, mod.rs)", r"pingora-core[^/]*/src/protocols/http/"),
    ("sockets and buffering (pingora-core l4, raw_connect)", r"pingora-core[^/]*/src/protocols/"),
    ("connection pool (pingora-core connectors, pingora-pool)", r"pingora-core[^/]*/src/connectors/|pingora-pool"),
    ("the server loop (pingora-core apps, services)", r"pingora-core[^/]*/src/(apps|services|server)/"),
    ("the proxy's request state machine (pingora-proxy)", r"pingora-proxy"),
    ("header maps with case (pingora-http)", r"pingora-http"),
    ("header maps, names, values (http crate)", r"/http-[0-9.]+/src/"),
    ("parsing bytes (httparse)", r"httparse"),
    ("timeouts (pingora-timeout)", r"pingora-timeout"),
    ("async runtime, sockets, channels (tokio)", r"/tokio-[0-9.]+/src/"),
    ("byte buffers (bytes)", r"/bytes-[0-9.]+/src/"),
    ("the gateway (src/)", r"^src/|/work/main/src/"),
    ("malloc and free (glibc)", r"malloc"),
    ("memcpy, memmove, memset, memcmp (glibc)", r"memmove|memcpy|memset|memcmp|strlen|memchr|string/"),
    ("Rust's core, alloc and std, inlined anywhere", r"/rustc/|library/(core|alloc|std)/"),
    ("other crates", r"\.cargo/registry"),
    ("the rest (glibc, unnamed)", r""),
]


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    names = {}  # "(id)" -> name, per kind of name
    current_fl = current_fi = None
    by_file = {}
    skip_next = False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"(fl|fi|fe|fn|cfi|cfl|cfn|ob|cob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, ident, name = m.groups()
            key = ("file" if kind in ("fl", "fi", "fe", "cfi", "cfl") else kind, ident)
            if name is not None:
                names[key] = name
            if kind == "fl":
                current_fl, current_fi = names[key], None
            elif kind in ("fi", "fe"):
                current_fi = names[key]
            elif kind == "fn":
                current_fi = None
            continue
        if line.startswith("calls="):
            skip_next = True  # the next cost line is the call's inclusive cost
            continue
        if line and (line[0].isdigit() or line[0] in "+-*"):
            if skip_next:
                skip_next = False
                continue
            parts = line.split()
            if len(parts) >= 2:
                f = current_fi or current_fl or "?"
                by_file[f] = by_file.get(f, 0) + int(parts[1])
    total = sum(by_file.values())
    groups = {}
    for f, c in by_file.items():
        for name, pattern in GROUPS:
            if re.search(pattern, f):
                groups[name] = groups.get(name, 0) + c
                break
    print(f"{total / n:9.0f}  in all, per request")
    for name, _ in GROUPS:
        if name in groups:
            print(f"{groups[name] / n:9.0f}  {name}")
    print("\nlargest files:")
    for f, c in sorted(by_file.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{c / n:9.0f}  {f}")


if __name__ == "__main__":
    main()
