"""HTTP deadlines over the real stack (pcscd + vpcd + `scws card` + `scws gateway`): idle or slow
clients cannot hold the demo's four HTTP channels (card/scws/scws_applet.hpp, card/cat/deadlines.hpp)."""
import json
import socket
import ssl
import time
from pathlib import Path

import pytest

from attack import make_image
from stack import ROOT, Card, Gateway, http_get, run, scws_bin, wait_for

DEMO = ROOT / "profiles" / "demo"
HEAD_TIMEOUT = 10   # profiles/demo/card.toml [scws]
IDLE_TIMEOUT = 15
CHANNELS = 4        # [scws] http_channels of the demo
MARGIN = 6          # the deadline service's tick (2 s), the gateway's polling and the reconnection


@pytest.fixture
def demo_stack(pcscd, workdir: Path):
    image = workdir / "demo.img"
    out = run([scws_bin(), "provision", "--profile", str(DEMO), "--out", str(image)], timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    card = Card(pcscd, image).start()
    gw = Gateway(card.reader, workdir).start()
    yield card, gw
    gw.stop()
    card.stop()


def status(port: int) -> dict:
    return json.loads(http_get(port, "/status"))


def test_a_fifth_client_is_served_while_four_idle_sockets_hold_every_channel(demo_stack):
    card, gw = demo_stack
    port = gw.local_port(channels=CHANNELS)
    before = status(port)["http"]["slow_clients"]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(CHANNELS)]
    try:
        # Every channel of the port has its client: no channel listens until a deadline frees one.
        wait_for(lambda: len(gw.listening()) >= CHANNELS, 10, "the gateway's channels")
        started = time.monotonic()
        page = http_get(port, "/", timeout=HEAD_TIMEOUT + 2 * MARGIN)
        took = time.monotonic() - started
        assert page == (DEMO / "www" / "index.html").read_bytes()
        assert took <= HEAD_TIMEOUT + MARGIN, f"the fifth client waited {took:.1f} s"
        # The silent sockets were closed by the card (no byte sent: slow clients, no 408).
        for s in idle:
            s.settimeout(HEAD_TIMEOUT + MARGIN)
            assert s.recv(100) == b""
    finally:
        for s in idle:
            s.close()
    after = status(port)["http"]
    assert after["slow_clients"] >= before + CHANNELS - 1


def test_a_quiet_keep_alive_client_is_closed_at_the_idle_deadline_and_is_no_slow_client(demo_stack):
    card, gw = demo_stack
    port = gw.local_port(channels=CHANNELS)
    first = status(port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /about.html HTTP/1.1\r\nHost: card\r\n\r\n")
        response = b""
        expected = (DEMO / "www" / "about.html").read_bytes()
        while not response.endswith(expected):
            chunk = s.recv(65536)
            assert chunk, "closed before the response was whole"
            response += chunk
        assert response.startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        s.settimeout(IDLE_TIMEOUT + 2 * MARGIN)
        assert s.recv(100) == b""  # the card closed the kept-alive connection
        quiet = time.monotonic() - answered
    assert IDLE_TIMEOUT - 3 <= quiet <= IDLE_TIMEOUT + MARGIN, f"closed after {quiet:.1f} s"
    after = status(port)
    assert after["http"]["idle_clients"] == first["http"]["idle_clients"] + 1
    assert after["http"]["slow_clients"] == first["http"]["slow_clients"]
    assert after["time"]["uptime"] >= IDLE_TIMEOUT - 3
    assert after["time"]["from_terminal"] is True
    assert abs(after["time"]["now"] - time.time()) <= 30


def keep_alive_once(port: int) -> socket.socket:
    """A connection that got one page and stays open, quiet (a keep-alive client between requests)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET /about.html HTTP/1.1\r\nHost: card\r\n\r\n")
    expected = (DEMO / "www" / "about.html").read_bytes()
    response = b""
    while not response.endswith(expected):
        chunk = s.recv(65536)
        assert chunk, "closed before the response was whole"
        response += chunk
    return s


def test_a_full_port_evicts_its_longest_idle_keep_alive_client_before_the_idle_deadline(demo_stack):
    card, gw = demo_stack
    port = gw.local_port(channels=CHANNELS)
    first = status(port)["http"]
    quiet = []
    try:
        for _ in range(CHANNELS):  # every channel held by a keep-alive client that went quiet
            quiet.append(keep_alive_once(port))
        started = time.monotonic()
        page = http_get(port, "/", timeout=IDLE_TIMEOUT + 2 * MARGIN)
        took = time.monotonic() - started
        assert page == (DEMO / "www" / "index.html").read_bytes()
        # Served after the eviction grace (2 s and a tick), well before any idle deadline (15 s).
        assert took < IDLE_TIMEOUT - 3, f"the fifth client waited {took:.1f} s"
        quiet[0].settimeout(2 * MARGIN)
        assert quiet[0].recv(100) == b""  # the first to go quiet was the one evicted
    finally:
        for s in quiet:
            s.close()
    after = status(port)["http"]
    assert after["slow_clients"] == first["slow_clients"]  # quiet keep-alive clients are no slow clients


def test_a_tls_client_that_stalls_inside_its_request_gets_408_at_the_head_deadline(pcscd, workdir):
    # The TLS port's own idle timer well beyond the HTTP head deadline, so that the latter is what ends it.
    image, creds = make_image(workdir, "tls408", tls={"timeout": 60})
    card = Card(pcscd, image).start()
    gw = Gateway(card.reader, workdir).start()
    try:
        http, tls = gw.local_port(3516), gw.local_port(10443)
        before = status(http)["http"]["slow_clients"]
        ctx = ssl.create_default_context(cafile=str(creds / "ca.pem"))
        ctx.check_hostname = False
        ctx.load_cert_chain(str(creds / "client-1.pem"), str(creds / "client-1.key"))
        with socket.create_connection(("127.0.0.1", tls), timeout=30) as raw, ctx.wrap_socket(raw) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: ca")  # and nothing more
            started = time.monotonic()
            s.settimeout(HEAD_TIMEOUT + 2 * MARGIN)
            answer = b""
            try:
                while chunk := s.recv(4096):
                    answer += chunk
            except (ssl.SSLZeroReturnError, ConnectionResetError):
                pass
            took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert took <= HEAD_TIMEOUT + MARGIN, f"answered after {took:.1f} s"
        assert status(http)["http"]["slow_clients"] == before + 1
    finally:
        gw.stop()
        card.stop()
