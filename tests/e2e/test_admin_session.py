"""Incidents reach the administration server, over the real stack: an attack on the card's TLS port
(curl -> `scws gateway` -> libpcsclite -> pcscd -> vpcd -> `scws card`) makes an incident; the card
opens a TCP client channel through the gateway (BIP client mode), runs TLS-PSK and POSTs its report
to `scws admin serve`, a process of its own with its own database; the server stores the incident
once and acknowledges it, and only then does it leave the card's queue (docs/protocol.md section 16).
The gateway's --connect-map sends the card's 127.0.0.1:7443 to the test's server port."""
import subprocess
import time
from datetime import datetime
from pathlib import Path

from admin_stack import AdminServe, admin_cli, commands, enrolment_file, reports, wait_reports
from attack import Admin, make_image, refused, wait_port_closed
from stack import Card, Gateway, card_present, wait_for

ICCID = "8988211000000000017"  # profiles/demo/card.toml [card] iccid
ADMIN_PORT = 7443  # profiles/demo/card.toml [admin] port


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class AdminStack:
    """`scws card` + `scws gateway` whose client channels to 127.0.0.1:7443 reach server_port."""

    def __init__(self, pcscd, workdir: Path, image: Path, creds: Path, server_port: int, slot: int = 0):
        self.pcscd, self.workdir, self.image, self.creds, self.slot = pcscd, workdir, image, creds, slot
        self.card = Card(self.pcscd, self.image, slot=self.slot, extra=["--verbose"]).start()
        self.gw = Gateway(self.card.reader, self.workdir,
                          extra=["--connect-map", f"127.0.0.1:{ADMIN_PORT}=127.0.0.1:{server_port}"]).start()
        self.tls = self.gw.local_port(10443)
        self.http = self.gw.local_port(3516)

    def stop(self):
        self.gw.stop()
        self.card.stop()
        wait_for(lambda: not card_present(self.card.reader), 10, "the card to leave the reader")

    def admin(self) -> Admin:
        return Admin(self.card.reader)

    def queue_count(self) -> int:
        a = self.admin()
        try:
            return a.summary()["count"]
        finally:
            a.close()

    def start_session(self) -> None:
        a = self.admin()
        try:
            _, sw = a.transmit("70000000", True)  # START SESSION (docs/protocol.md 16.6)
            assert sw == 0x9000 or sw >> 8 == 0x91, hex(sw)
        finally:
            a.close()

    def curl_tls(self, client: str = "foreign-client") -> subprocess.CompletedProcess:
        args = ["curl", "-sS", "--fail", "--max-time", "20", "--cacert", str(self.creds / "ca.pem"),
                "--cert", str(self.creds / f"{client}.pem"), "--key", str(self.creds / f"{client}.key"),
                f"https://127.0.0.1:{self.tls}/"]
        return subprocess.run(args, capture_output=True, timeout=25, stdin=subprocess.DEVNULL)

    def hostile_handshakes(self) -> None:
        """The demo's tls_handshake_failures = { threshold = 5, window = 60 }: five foreign-CA handshakes
        close port 10443."""
        for _ in range(5):
            self.curl_tls()
        wait_port_closed(self.gw, 10443, self.tls)

    def sessions_logged(self) -> int:
        return self.gw.process.output().count("connecting to")


def image(workdir: Path, name: str, admin: dict | None = None, detection: dict | None = None,
          iccid: str | None = None):
    values = {"enabled": True, "retry_count": 2, "retry_delay": 2, "period": 0}
    values.update(admin or {})
    return make_image(workdir, name, detection=detection, admin=values,
                      card={"iccid": iccid} if iccid else None)


def test_an_attack_on_the_tls_port_ends_as_one_incident_in_the_servers_database(pcscd, workdir):
    img, creds = image(workdir, "card")
    db = str(workdir / "admin.sqlite")
    server = AdminServe(workdir, db, enrol=[enrolment_file(img)]).start()
    s = AdminStack(pcscd, workdir, img, creds, server.port)
    try:
        started = time.time()
        s.hostile_handshakes()
        [r] = wait_reports(db, 1)
        assert r["iccid"] == ICCID and r["rule"] == "tls-handshake-failures" and r["port"] == 10443
        assert r["events"] == 5 and r["threshold"] == 5 and r["window"] == 60
        # The card's clock: the handset's date (PROVIDE LOCAL INFORMATION), run on by its timers.
        assert started - 120 <= epoch(r["first_time"]) <= epoch(r["last_time"]) <= time.time() + 120
        # Acknowledged by the server's script: then, and only then, the card's queue empties.
        wait_for(lambda: s.queue_count() == 0, 30, "the card's queue to empty")
        assert len(reports(db)) == 1
        assert "client" in s.gw.process.output()
    finally:
        s.stop()
        server.stop()


def test_the_incident_arrives_once_when_the_server_starts_after_the_attack(pcscd, workdir):
    # A session every 6 s; while nothing listens they fail (the retries run out), the incident waits.
    img, creds = image(workdir, "card", admin={"period": 6})
    db = str(workdir / "admin.sqlite")
    server = AdminServe(workdir, db, enrol=[enrolment_file(img)]).start()
    port = server.port
    server.stop()  # down during the attack: connections refused
    s = AdminStack(pcscd, workdir, img, creds, port)
    try:
        s.hostile_handshakes()
        wait_for(lambda: "connect failed" in s.gw.process.output(), 30, "a failed admin session")
        assert s.queue_count() == 1
        server = AdminServe(workdir, db, enrol=[enrolment_file(img)], port=port).start()
        [r] = wait_reports(db, 1, timeout=60)
        assert r["rule"] == "tls-handshake-failures"
        wait_for(lambda: s.queue_count() == 0, 30, "the card's queue to empty")
        # Two more periodic sessions reach the server: nothing new, nothing twice.
        seen = s.sessions_logged()
        wait_for(lambda: s.sessions_logged() >= seen + 2, 40, "two more periodic sessions")
        assert len(reports(db)) == 1
    finally:
        s.stop()
        server.stop()


def test_push_reopen_port_reopens_the_tls_port_at_the_cards_next_session(pcscd, workdir):
    img, creds = image(workdir, "card", detection={"reopen": "admin"})
    db = str(workdir / "admin.sqlite")
    server = AdminServe(workdir, db, enrol=[enrolment_file(img)]).start()
    s = AdminStack(pcscd, workdir, img, creds, server.port)
    try:
        s.hostile_handshakes()
        wait_reports(db, 1)
        assert refused(s.tls)
        admin_cli(db, "push", ICCID, "reopen-port", "10443")
        listening_before = len(s.gw.listening(10443))
        s.start_session()
        wait_for(lambda: [c["state"] for c in commands(db, ICCID)] == ["done"], 60, "the command to run")
        s.gw.local_port(10443, channels=listening_before + 1)  # the gateway listens again
        assert s.curl_tls("client-1").returncode == 0
    finally:
        s.stop()
        server.stop()


def test_a_card_the_server_does_not_know_is_refused_and_keeps_its_incidents(pcscd, workdir):
    img, creds = image(workdir, "card")
    db = str(workdir / "admin.sqlite")
    server = AdminServe(workdir, db).start()  # nobody enrolled
    s = AdminStack(pcscd, workdir, img, creds, server.port)
    try:
        s.hostile_handshakes()
        wait_for(lambda: f"scws-admin:{ICCID}" in server.output(), 60, "the server to log the unknown identity")
        assert reports(db) == []
        assert s.queue_count() == 1
    finally:
        s.stop()
        server.stop()


def test_two_servers_on_one_postgresql_store_every_incident_of_two_cards_attacked_at_once(pcscd, postgres, workdir):
    iccids = ["8988211000000000017", "8988211000000000025"]
    images = [image(workdir, f"card{i}", iccid=iccid) for i, iccid in enumerate(iccids)]
    servers = [AdminServe(workdir, postgres.url, enrol=[enrolment_file(img)], name=f"admin{i}").start()
               for i, (img, _) in enumerate(images)]
    stacks = [AdminStack(pcscd, workdir, img, creds, servers[i].port, slot=i) for i, (img, creds) in enumerate(images)]
    try:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda st: st.hostile_handshakes(), stacks))
        rows = wait_reports(postgres.url, 2, timeout=90)
        assert sorted((r["iccid"], r["sequence"]) for r in rows) == [(iccids[0], 1), (iccids[1], 1)]
        for st in stacks:
            wait_for(lambda: st.queue_count() == 0, 30, "the card's queue to empty")
        assert len(reports(postgres.url)) == 2
    finally:
        for st in stacks:
            st.stop()
        for sv in servers:
            sv.stop()


def test_scws_run_reports_an_attack_to_its_own_admin_server_and_scws_admin_reports_lists_it(workdir):
    """Out of the box: `scws run` with no options but a private XDG_STATE_HOME; `scws admin reports`
    run afterwards with the same defaults (no --db) lists the incident."""
    import json
    import os
    import re
    from stack import Process, run, scws_bin
    env = dict(os.environ, XDG_STATE_HOME=str(workdir / "xdg"))
    p = Process([scws_bin(), "run", "--http-port", "0", "--tls-port", "0"], workdir / "run.log", env=env)
    try:
        m = wait_for(lambda: re.search(r"serving https://127\.0\.0\.1:(\d+)/", p.output()) or
                     (not p.alive() and "exited"), 60, "scws run to serve TLS")
        assert m != "exited", p.output()
        out = p.output()
        db = workdir / "xdg" / "scws" / "admin.sqlite"
        assert f"database {db}" in out and f"incidents: scws admin reports --db {db}" in out, out
        creds = workdir / "xdg" / "scws" / "credentials"
        for _ in range(5):
            subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(creds / "ca.pem"),
                            "--cert", str(creds / "foreign-client.pem"), "--key", str(creds / "foreign-client.key"),
                            f"https://127.0.0.1:{m.group(1)}/"], capture_output=True, timeout=15)

        def listed():
            r = run([scws_bin(), "admin", "reports", "--json"], env=env)
            assert r.returncode == 0, r.stdout + r.stderr
            rows = json.loads(r.stdout)
            return rows or None
        [r] = wait_for(listed, 30, "the incident in the default database", interval=0.2)
        assert r["iccid"] == ICCID and r["rule"] == "tls-handshake-failures" and r["port"] == 10443
    finally:
        p.stop()


def test_a_command_queued_before_the_attack_runs_in_the_same_script_as_the_acknowledgement(pcscd, workdir):
    """The report's answer carries ACKNOWLEDGE and SET PORT together; SET PORT re-opens the port from
    inside the session (the toolkit is called while the card runs the script)."""
    img, creds = image(workdir, "card", detection={"reopen": "admin"})
    db = str(workdir / "admin.sqlite")
    server = AdminServe(workdir, db, enrol=[enrolment_file(img)]).start()
    s = AdminStack(pcscd, workdir, img, creds, server.port)
    try:
        admin_cli(db, "push", ICCID, "reopen-port", "10443")
        listening_before = len(s.gw.listening(10443))
        s.hostile_handshakes()
        wait_for(lambda: [c["state"] for c in commands(db, ICCID)] == ["done"], 60, "the command to run")
        assert len(reports(db)) == 1
        s.gw.local_port(10443, channels=listening_before + 1)
        assert s.curl_tls("client-1").returncode == 0
        wait_for(lambda: s.queue_count() == 0, 30, "the card's queue to empty")
    finally:
        s.stop()
        server.stop()
