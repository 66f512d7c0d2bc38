"""The card defends itself, over the real stack (curl / openssl / raw sockets -> `scws gateway` ->
libpcsclite -> pcscd -> vpcd -> `scws card`): each kind of attack fires its detection rule, the card
closes the attacked port (the gateway stops listening, new connections are refused, GET CHANNEL STATUS
shows none of its channels), the other port keeps serving, and exactly one incident with that rule
waits in the card's queue, read through the admin applet after VERIFY ADM (docs/architecture.md,
"Threats and answers"; docs/protocol.md section 15)."""
import re
import select
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from attack import Admin, make_image, ok, refused, wait_port_closed
from stack import ROOT, Card, Gateway, card_present, http_get, wait_for

INDEX = (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()


class Stack:
    def __init__(self, pcscd, workdir: Path, name: str, detection: dict | None = None, tls: dict | None = None,
                 scws: dict | None = None, image: tuple[Path, Path] | None = None):
        self.image, self.creds = image or make_image(workdir, name, detection, tls, scws)
        self.pcscd, self.workdir = pcscd, workdir
        self.start()

    def start(self):
        self.card = Card(self.pcscd, self.image, extra=["--verbose"]).start()
        self.gw = Gateway(self.card.reader, self.workdir).start()
        self.http = self.gw.local_port(3516)
        self.tls = self.gw.local_port(10443)

    def stop(self):
        self.gw.stop()
        self.card.stop()
        wait_for(lambda: not card_present(self.card.reader), 10, "the card to leave the reader")

    def admin(self, **kw) -> Admin:
        return Admin(self.card.reader, **kw)

    def curl_tls(self, client: str | None = "client-1", path: str = "/", extra: list[str] | None = None,
                 timeout: float = 20) -> subprocess.CompletedProcess:
        args = ["curl", "-sS", "--fail", "--max-time", str(timeout), "--cacert", str(self.creds / "ca.pem")]
        if client:
            args += ["--cert", str(self.creds / f"{client}.pem"), "--key", str(self.creds / f"{client}.key")]
        return subprocess.run(args + (extra or []) + [f"https://127.0.0.1:{self.tls}{path}"], capture_output=True,
                              timeout=timeout + 5, stdin=subprocess.DEVNULL)

    def channel_status_shows_no_channel_of(self, card_port: int) -> bool:
        lines = re.findall(r"GET CHANNEL STATUS: open channels \(id:card port\):([^\n]*)", self.gw.process.output())
        return bool(lines) and f":{card_port}" not in lines[-1]


@pytest.fixture
def stack(pcscd, workdir):
    s = Stack(pcscd, workdir, "card")
    yield s
    s.stop()


def exchange(port: int, request: bytes) -> bytes:
    """Sends request on a new connection and reads until the card closes it."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
        c.sendall(request)
        c.settimeout(20)
        while chunk := c.recv(4096):
            answer += chunk
    return answer


def attack(stack: "Stack", attempt, threshold: int, card_port: int, local_port: int) -> None:
    """threshold - 1 hostile attempts leave the port serving; the next one closes it."""
    for _ in range(threshold - 1):
        attempt()
    assert not refused(local_port), f"the port closed before {threshold} attempts"
    try:
        attempt()  # the card closes the port while it handles this one: its answer may be cut off
    except (AssertionError, OSError):
        pass
    wait_port_closed(stack.gw, card_port, local_port)


def only_incident(stack: Stack, rule: str, port: int):
    a = stack.admin()
    try:
        incidents = a.incidents()
        states = a.port_states()
    finally:
        a.close()
    assert [(i.rule, i.port) for i in incidents] == [(rule, port)], incidents
    i = incidents[0]
    assert i.events >= i.threshold and i.sequence >= 1
    assert i.iccid.hex().upper().startswith("98881201")  # EF.ICCID of the demo card (8988211000000000017)
    assert i.first_time <= i.last_time
    # The card's clock: the date the handset gave (PROVIDE LOCAL INFORMATION), run on by its timers.
    assert i.flags & 0x01 and i.flags & 0x02  # time from the terminal; the port was closed
    assert abs(i.last_time - time.time()) < 120
    assert states[port]["closed"] and states[port]["rule"] == rule and states[port]["incident"] == i.sequence
    return i


def served_over_http(stack: Stack) -> bool:
    return http_get(stack.http, "/") == INDEX


def test_handshakes_with_a_foreign_ca_close_the_tls_port_and_leave_one_incident(stack):
    # The demo threshold: tls_handshake_failures = { threshold = 5, window = 60 }.
    attack(stack, lambda: stack.curl_tls("foreign-client"), 5, 10443, stack.tls)
    wait_for(lambda: stack.channel_status_shows_no_channel_of(10443), 20, "GET CHANNEL STATUS without port 10443")
    assert served_over_http(stack)  # the demo profile keeps the other port serving
    i = only_incident(stack, "tls-handshake-failures", 10443)
    assert i.events == 5 and i.window == 60


def test_unknown_psk_identities_close_the_tls_port(stack):
    def attempt():
        subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{stack.tls}", "-tls1_2", "-quiet",
                        "-psk_identity", "intruder", "-psk", "00112233445566778899aabbccddeeff",
                        "-cipher", "PSK-AES128-CCM"], input=b"", capture_output=True, timeout=30)
    attack(stack, attempt, 3, 10443, stack.tls)
    assert served_over_http(stack)
    only_incident(stack, "tls-unknown-psk", 10443)


def test_garbage_records_close_the_tls_port(stack):
    attack(stack, lambda: exchange(stack.tls, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 5, 10443, stack.tls)
    i = only_incident(stack, "tls-bad-records", 10443)
    assert i.last_kind == 10  # tls-bad-record (docs/protocol.md section 15.2)


def test_password_guessing_on_the_protected_page_closes_the_port(stack):
    def attempt():
        out = stack.curl_tls(path="/secure/", extra=["-u", "alice:guess"])
        assert b"401" in out.stderr or out.returncode == 22
    attack(stack, attempt, 10, 10443, stack.tls)
    i = only_incident(stack, "http-password-guessing", 10443)
    assert i.evidence.startswith(b"/secure/")
    assert served_over_http(stack)


def test_a_flood_of_malformed_requests_closes_the_http_port_and_tls_keeps_serving(stack):
    def attempt():
        assert exchange(stack.http, b"GET /pot\x01 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    attack(stack, attempt, 20, 3516, stack.http)
    i = only_incident(stack, "http-malformed-flood", 3516)
    assert i.detail == 400 and i.evidence.startswith(b"GET /pot")
    out = stack.curl_tls()
    assert out.returncode == 0 and out.stdout == INDEX, out.stderr


def test_a_connection_flood_closes_the_port(pcscd, workdir):
    s = Stack(pcscd, workdir, "flood", detection={"connection_flood": "{ threshold = 30, window = 20 }"})
    try:
        request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        attack(s, lambda: exchange(s.http, request), 30, 3516, s.http)
        only_incident(s, "connection-flood", 3516)
    finally:
        s.stop()


@pytest.mark.parametrize("card_port,held_at_once", [(10443, 3), (3516, 4)])
def test_idle_sockets_held_open_are_cut_off_and_close_the_port(pcscd, workdir, card_port, held_at_once):
    # Short deadlines so the test is quick: a TLS handshake may stall 2 s, a request head 3 s.
    s = Stack(pcscd, workdir, f"idle{card_port}", detection={"slow_clients": "{ threshold = 6, window = 120 }"},
              tls={"timeout": 2}, scws={"head_timeout": 3})
    local = s.tls if card_port == 10443 else s.http
    other = s.http if card_port == 10443 else s.tls
    try:
        held = []
        start = time.monotonic()
        try:
            while not refused(local):
                assert time.monotonic() - start < 120, "the port still accepts idle sockets"
                while len(held) < held_at_once:
                    held.append(socket.create_connection(("127.0.0.1", local), timeout=5))
                # Wait (at most a second) for the card to drop one: it reads as end of stream.
                readable, _, _ = select.select(held, [], [], 1.0)
                for h in readable:
                    try:
                        h.recv(1)
                    except OSError:
                        pass
                    h.close()
                    held.remove(h)
        finally:
            for h in held:
                h.close()
        wait_port_closed(s.gw, card_port, local)
        i = only_incident(s, "slow-clients", card_port)
        assert i.events == 6
        assert i.last_kind == (15 if card_port == 10443 else 4)  # tls-timeout, http-slow-client (section 15.2)
        assert not refused(other)  # the other port keeps serving
    finally:
        s.stop()


def test_the_port_reopens_after_the_cool_down(pcscd, workdir):
    s = Stack(pcscd, workdir, "cool", detection={"cooldown": 4})
    try:
        attack(s, lambda: s.curl_tls("foreign-client"), 5, 10443, s.tls)
        closed_at = time.monotonic()
        wait_for(lambda: not refused(s.tls), 30, "the TLS port to re-open after its cool-down")
        assert time.monotonic() - closed_at >= 4 - 2  # the deadline service's tick (card/cat/deadlines.hpp)
        out = s.curl_tls()
        assert out.returncode == 0 and out.stdout == INDEX, out.stderr
        a = s.admin()
        try:
            assert a.summary()["count"] == 1          # the incident stays for the administrator
            assert not a.port_states()[10443]["closed"]
        finally:
            a.close()
    finally:
        s.stop()


def test_a_port_closed_for_the_administrator_stays_closed_across_a_power_cycle(pcscd, workdir):
    s = Stack(pcscd, workdir, "admin", detection={"reopen": "admin"})
    try:
        attack(s, lambda: s.curl_tls("foreign-client"), 5, 10443, s.tls)
        s.stop()
        s.card = Card(s.pcscd, s.image).start()  # a new card process on the same image: a power cycle
        s.gw = Gateway(s.card.reader, s.workdir).start()
        s.http = s.gw.local_port(3516)
        a = s.admin()
        try:
            states = a.port_states()
            assert states[10443]["closed"] and states[10443]["reopen_in"] == 0xFFFFFFFF
            assert not s.gw.listening(10443)  # the card opened no channel for it this session
            assert served_over_http(s)
            assert ok(a.transmit("5C01000228CB", True)[1])  # SET PORT open 10443
        finally:
            a.close()
        s.tls = s.gw.local_port(10443)
        out = s.curl_tls()
        assert out.returncode == 0 and out.stdout == INDEX, out.stderr
    finally:
        s.stop()


def test_acknowledging_an_incident_needs_the_adm_key(stack):
    attack(stack, lambda: stack.curl_tls("foreign-client"), 5, 10443, stack.tls)
    a = stack.admin(verify=False)
    try:
        assert a.transmit("5400000400000001", True)[1] == 0x6982
        assert a.transmit("50000014", True)[1] == 0x6982
        assert ok(a.s.transmit("0020000A08" + "3132333435363738")[1])
        assert a.summary()["count"] == 1  # nothing was erased by the refused command
        assert ok(a.transmit("5400000400000001", True)[1])
        assert a.summary()["count"] == 0
    finally:
        a.close()


def keep_alive_client(port: int, creds: Path, client: str, requests: int) -> int:
    """A keep-alive HTTPS client, as a handset application is: requests on one connection, a new
    connection when the card ends one (it serves a bounded number of requests per connection).
    The number of pages received whole."""
    ctx = ssl.create_default_context(cafile=str(creds / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(creds / f"{client}.pem"), str(creds / f"{client}.key"))
    ok = 0
    for _ in range(requests):  # connections, at most
        if ok == requests:
            break
        with socket.create_connection(("127.0.0.1", port), timeout=120) as raw, ctx.wrap_socket(raw) as s:
            reader = s.makefile("rb")
            while ok < requests:
                s.sendall(b"GET / HTTP/1.1\r\nHost: card\r\n\r\n")
                status = reader.readline()
                if not status:
                    break  # the card closed the connection before this request: connect again
                length, close = 0, False
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    close |= name.lower() == b"connection" and value.strip().lower() == b"close"
                body = reader.read(length)
                ok += status.startswith(b"HTTP/1.1 200") and body == INDEX
                if close:
                    break
    return ok


def test_legitimate_load_fires_no_rule(stack, workdir):
    from test_browser import CHROMIUM, dump_dom
    requests = 1000
    with ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(keep_alive_client, stack.tls, stack.creds, f"client-{1 + i % 2}", requests)
                for i in range(7)]
        if CHROMIUM:
            dom = dump_dom(f"http://127.0.0.1:{stack.http}/", workdir)
            assert "Smart Card Web Server" in dom
            dom = dump_dom(f"http://alice:wonderland@127.0.0.1:{stack.http}/secure/", workdir)
            assert '<h1 id="title">Secure area</h1>' in dom, dom
        assert [j.result() for j in jobs] == [requests] * 7
    a = stack.admin()
    try:
        assert a.summary()["count"] == 0
        assert not any(s["closed"] for s in a.port_states().values())
    finally:
        a.close()
