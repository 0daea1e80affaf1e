"""A throwaway PostgreSQL cluster for the load harness, made the way
tests/common/pg.rs makes one for the tests: `initdb` into a temporary
folder, a server on a free loopback port, stopped and the folder deleted
when done.

The server refuses to run as root, so when the harness is root `initdb` and
the server run as the `postgres` user (the Debian package makes it) and the
cluster's folder is theirs; `psql` runs as the harness.

Unlike the tests' cluster, the server runs in the foreground as a child of
the harness (not daemonised by pg_ctl), so that it is stopped by its pid
like every other process here, and it is asked to die with the harness
(`setpriv --pdeathsig`), so that even a harness killed outright does not
leave a server holding a port. Durability settings are PostgreSQL's
defaults (fsync, synchronous commit), as a deployment would have them: the
measured requests are not meant to reach the database, and if they did,
the cost should show.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def server_bin():
    """Where initdb and postgres are: an initdb on PATH (resolved to its real
    folder), else the newest /usr/lib/postgresql/<version>/bin (Debian)."""
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(os.path.realpath(found))
    versions = []
    for name in os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql") else []:
        try:
            versions.append((float(name), os.path.join("/usr/lib/postgresql", name, "bin")))
        except ValueError:
            pass
    for _, bin_dir in sorted(versions, reverse=True):
        if os.path.isfile(os.path.join(bin_dir, "initdb")):
            return bin_dir
    raise SystemExit("no initdb on PATH nor in /usr/lib/postgresql/*/bin: apt-get install postgresql")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A running server with superuser `postgres`, trusted without a
    password from loopback. `stop()` ends it and deletes its folder."""

    def __init__(self, keep=False):
        self.bin = server_bin()
        self.keep = keep
        self.proc = None
        self.port = None
        self.dir = tempfile.mkdtemp(prefix="tfa-bench-pg-")
        self.cluster = os.path.join(self.dir, "cluster")
        self.data = os.path.join(self.cluster, "data")
        self.log = os.path.join(self.cluster, "server.log")
        os.makedirs(self.cluster)
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            # mkdtemp makes its folder owner-only; the server only needs to
            # pass through it to reach its own folder.
            os.chmod(self.dir, 0o711)
            pw = pwd.getpwnam("postgres")
            os.chown(self.cluster, pw.pw_uid, pw.pw_gid)
        try:
            self._initdb()
            self._start()
        except BaseException:
            self.stop()
            raise

    def _as_server_user(self, argv):
        if not self.as_postgres:
            return argv
        # setpriv execs (no extra process in between, unlike runuser), so
        # the pid we hold is the server's own. The parent-death signal is set
        # after the change of user, which would otherwise clear it.
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                "--pdeathsig", "SIGQUIT"] + argv

    def _initdb(self):
        # --no-locale: the machine's LANG may name a locale that is not
        # generated. --no-sync: the cluster is thrown away afterwards.
        argv = self._as_server_user([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        out = subprocess.run(argv, cwd=self.cluster, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"initdb failed ({out.returncode}):\n{out.stdout}{out.stderr}")

    def _start(self):
        # Another process may take the port between the pick and the bind.
        for attempt in range(1, 6):
            self.port = free_port()
            argv = self._as_server_user([
                os.path.join(self.bin, "postgres"), "-D", self.data,
                "-c", f"port={self.port}", "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={self.cluster}",
            ])
            log = open(self.log, "ab")
            self.proc = subprocess.Popen(argv, cwd=self.cluster, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            log.close()
            if self._wait_ready():
                return
            self.proc.wait()
            if "could not bind" in self.log_tail(20) and attempt < 5:
                continue
            raise SystemExit(f"postgres did not start on port {self.port}:\n{self.log_tail(30)}")

    def _wait_ready(self, limit=60):
        deadline = time.time() + limit
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.try_psql("postgres", "SELECT 1")[0] == 0:
                return True
            time.sleep(0.1)
        return False

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def try_psql(self, db, sql):
        psql = os.path.join(self.bin, "psql")
        if not os.path.exists(psql):
            psql = "psql"
        env = dict(os.environ, PGCONNECT_TIMEOUT="5")
        env.pop("PGSERVICE", None)
        env.pop("PGOPTIONS", None)
        out = subprocess.run([psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.url(db), "-c", sql],
                             capture_output=True, text=True, env=env)
        return out.returncode, (out.stdout if out.returncode == 0 else out.stderr).strip()

    def psql(self, db, sql):
        code, text = self.try_psql(db, sql)
        if code != 0:
            raise SystemExit(f"psql in {db}: {sql}\n{text}\n--- server log ---\n{self.log_tail(20)}")
        return text

    def log_tail(self, n):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """Fast shutdown (clients cut off, nothing worth a checkpoint wait),
        then the folder goes; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Immediate shutdown: the postmaster takes its backends down.
                self.proc.send_signal(signal.SIGQUIT)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if not self.keep and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
