"""`scws admin serve` as its own process against a PostgreSQL server the test starts (initdb in a
temporary folder, a unix socket there, a private port): two servers on one database, the same report
posted through both by a TLS-PSK client (scws-admin-test-client, OpenSSL) is stored once, and
`scws admin reports --json` shows it. A command pushed is sent by one server only and ends done.

PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` account and its
programs run through runuser. Without the PostgreSQL server programs the test fails (it is a
dependency: scripts/install-deps.sh), it is never skipped silently.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from admin_stack import Postgres
from stack import Process, build_dir, run, scws_bin, wait_for

ICCID = "8988211000000000017"
IDENTITY = "scws-admin:" + ICCID
KEY = "00112233445566778899aabbccddeeff"


def serve(workdir: Path, db: str, enrol: Path, name: str) -> tuple[Process, int]:
    p = Process([scws_bin(), "admin", "serve", "--listen", "127.0.0.1:0", "--db", db, "--enrol", str(enrol)],
                workdir / f"{name}.log")
    m = wait_for(lambda: re.search(r"scws admin: listening on 127\.0\.0\.1:(\d+)", p.output()) or
                 (not p.alive() and "exited"), 20, f"{name} listening")
    assert m != "exited", p.output()
    return p, int(m.group(1))


def client(port: int, first: int, last: int) -> subprocess.CompletedProcess:
    exe = str(build_dir() / "tests" / "sim" / "admin" / "scws-admin-test-client")
    return run([exe, "127.0.0.1", str(port), IDENTITY, KEY, ICCID, str(first), str(last)], timeout=30)


def admin(*args: str) -> subprocess.CompletedProcess:
    return run([scws_bin(), "admin", *args], timeout=30)


def test_two_servers_on_one_postgresql_store_a_report_once(postgres, workdir):
    enrol = workdir / "card.admin.toml"
    enrol.write_text(f'iccid = "{ICCID}"\npsk_identity = "{IDENTITY}"\npsk_key = "{KEY}"\n'
                     'server = "127.0.0.1"\nport = 7443\nhost = "admin.scws.test"\nuri = "/scws/admin"\n')
    a, port_a = serve(workdir, postgres.url, enrol, "serve-a")
    b, port_b = serve(workdir, postgres.url, enrol, "serve-b")
    try:
        assert "scws admin: database postgresql://scws@/postgres" in a.output()
        r = admin("push", "--db", postgres.url, ICCID, "close-port", "3516")
        assert r.returncode == 0, r.stderr
        # The same report (incidents 1 and 2) through both servers.
        first = client(port_a, 1, 2)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.splitlines() == ["status 200", "apdus 2", "status 204"]  # ACKNOWLEDGE + the command
        second = client(port_b, 1, 2)
        assert second.returncode == 0, second.stderr
        assert second.stdout.splitlines() == ["status 200", "apdus 1", "status 204"]  # ACKNOWLEDGE only

        reports = json.loads(admin("reports", "--json", "--db", postgres.url).stdout)
        assert [(x["iccid"], x["sequence"], x["rule"], x["port"]) for x in reports] == [
            (ICCID, 1, "http-password-guessing", 3516), (ICCID, 2, "http-password-guessing", 3516)]
        assert reports[0]["events"] == 5 and reports[0]["threshold"] == 5 and reports[0]["window"] == 60
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reports[0]["first_time"])
        commands = json.loads(admin("commands", "--json", "--db", postgres.url).stdout)
        assert [(c["kind"], c["state"], c["sw"]) for c in commands] == [("close-port", "done", "9000")]
        cards = json.loads(admin("cards", "--json", "--db", postgres.url).stdout)
        assert cards[0]["iccid"] == ICCID and cards[0]["incidents"] == 2 and cards[0]["last_seen"]
        table = admin("reports", "--db", postgres.url).stdout
        assert "http-password-guessing" in table and "2 incidents" in table

        # An unknown identity: the handshake fails and the server names it.
        bad = run([str(build_dir() / "tests" / "sim" / "admin" / "scws-admin-test-client"), "127.0.0.1", str(port_b),
                   "scws-admin:8988211000000000025", KEY, "8988211000000000025", "1", "1"], timeout=30)
        assert bad.returncode != 0
        wait_for(lambda: 'unknown PSK identity "scws-admin:8988211000000000025"' in b.output(), 10, "the refusal logged")
    finally:
        a.stop()
        b.stop()
    assert a.proc.returncode == 0 and b.proc.returncode == 0


def test_admin_cli_refuses_bad_arguments(workdir):
    db = str(workdir / "admin.sqlite")
    r = admin("push", "--db", db, "123", "close-port", "1")
    assert r.returncode == 2 and "ICCID" in r.stderr
    r = admin("push", "--db", db, ICCID, "set-rule", "nope", "1", "1")
    assert r.returncode == 2 and "unknown rule" in r.stderr
    r = admin("push", "--db", db, ICCID, "close-port", "1")
    assert r.returncode == 1 and "not enrolled" in r.stderr
    bad = workdir / "bad.admin.toml"
    bad.write_text(f'iccid = "{ICCID}"\npsk_identity = "other"\npsk_key = "{KEY}"\n')
    r = admin("enrol", "--db", db, str(bad))
    assert r.returncode == 2 and "psk_identity" in r.stderr
