"""Helpers of the admin-session tests: `scws admin serve` as its own process with a private SQLite
file (or a PostgreSQL URL) and an ephemeral port, the queries of `scws admin`, and a card image
whose [admin] link the test chooses (docs/protocol.md section 16)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from stack import Process, run, scws_bin, wait_for

LISTEN = re.compile(r"scws admin: listening on ([0-9.]+):(\d+)")


def enrolment_file(image: Path) -> Path:
    """The file `scws provision` writes beside the image for the server (docs/protocol.md 16.7)."""
    return image.with_name(image.name + ".admin.toml")


class AdminServe:
    """`scws admin serve` on 127.0.0.1 (an ephemeral port first; the same port again after a restart)."""

    def __init__(self, workdir: Path, db: str, enrol: list[Path] | None = None, port: int = 0, name: str = "admin"):
        self.workdir, self.db, self.enrol, self.port, self.name = workdir, db, enrol or [], port, name
        self.process: Process | None = None

    def start(self, timeout: float = 20) -> "AdminServe":
        args = [scws_bin(), "admin", "serve", "--listen", f"127.0.0.1:{self.port}", "--db", self.db]
        for f in self.enrol:
            args += ["--enrol", str(f)]
        self.process = Process(args, self.workdir / f"{self.name}-{time.monotonic_ns()}.log")

        def bound():
            if not self.process.alive():
                raise RuntimeError("scws admin serve exited:\n" + self.process.output())
            m = LISTEN.search(self.process.output())
            return int(m.group(2)) if m else None
        self.port = wait_for(bound, timeout, "scws admin serve to listen")
        return self

    def stop(self) -> int | None:
        return self.process.stop() if self.process else None

    def output(self) -> str:
        return self.process.output() if self.process else ""


def admin_cli(db: str, *args: str, timeout: float = 30) -> str:
    out = run([scws_bin(), "admin", *args, "--db", db], timeout=timeout)
    assert out.returncode == 0, f"scws admin {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def reports(db: str, card: str | None = None) -> list[dict]:
    args = ["reports", "--json"] + (["--card", card] if card else [])
    return json.loads(admin_cli(db, *args))


def commands(db: str, card: str | None = None) -> list[dict]:
    args = ["commands", "--json"] + (["--card", card] if card else [])
    return json.loads(admin_cli(db, *args))


def wait_reports(db: str, count: int, timeout: float = 60, card: str | None = None) -> list[dict]:
    def enough():
        r = reports(db, card)
        return r if len(r) >= count else None
    return wait_for(enough, timeout, f"{count} incident(s) at the admin server", interval=0.2)


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15", "14"):
        p = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if p.exists():
            return str(p)
    raise RuntimeError(f"PostgreSQL's {name} is missing (scripts/install-deps.sh installs postgresql)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway cluster: trust authentication on a unix socket in its own folder only."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="scws-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.process: Process | None = None

    def start(self) -> "Postgres":
        r = subprocess.run(self.as_user + [pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "scws",
                                           "--no-sync", "-E", "UTF8"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        log = self.dir / "postgres.log"
        self.process = Process(self.as_user + [pg_bin("postgres"), "-D", str(self.data), "-k", str(self.dir),
                                               "-p", str(self.port), "-c", "listen_addresses=",
                                               "-c", "fsync=off"], log)
        wait_for(lambda: (self.dir / f".s.PGSQL.{self.port}").exists() or not self.process.alive(), 30,
                 "the PostgreSQL socket")
        assert self.process.alive(), self.process.output()
        wait_for(lambda: "ready to accept connections" in self.process.output(), 30, "PostgreSQL ready")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://scws@/postgres?host={self.dir}&port={self.port}"

    def stop(self):
        if self.process:
            self.process.stop(timeout=20)  # SIGTERM: a smart shutdown
        shutil.rmtree(self.dir, ignore_errors=True)
