"""End to end over the real stack: pcscd + vpcd + `scws card` + `scws gateway --reader ...`, and
curl / raw sockets as the handset's applications (BIP in UICC server mode, TS 102 223 6.4.27-6.4.31)."""
import hashlib
import json
import re
import shutil
import socket
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stack import ROOT, Card, Gateway, card_present, http_get, run, scws_bin, wait_for

BIG = 1024 * 1024


def big_content() -> bytes:
    # Deterministic, not compressible into a pattern a bug could fake.
    out = bytearray()
    block = b"scws"
    while len(out) < BIG:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:BIG])


@pytest.fixture
def image(workdir: Path) -> Path:
    """The demo profile plus a 1 MiB resource, 7 HTTP channels, compiled by `scws provision`."""
    profile = workdir / "profile"
    shutil.copytree(ROOT / "profiles" / "demo", profile)
    toml = (profile / "card.toml").read_text()
    # HTTP only: the demo's [tls] table goes (its channels count against the 7).
    toml = re.sub(r"\n\[tls\].*?(?=\n\[\[|\n# Users|\Z)", "\n", toml, flags=re.S)
    if "http_channels" in toml:
        toml = re.sub(r"http_channels = \d+", "http_channels = 7", toml)
    else:
        toml = toml.replace("http_port = 3516", "http_port = 3516\nhttp_channels = 7", 1)
    (profile / "card.toml").write_text(toml)
    (profile / "www" / "big.bin").write_bytes(big_content())
    img = workdir / "card.img"
    out = run([scws_bin(), "provision", "--profile", str(profile), "--out", str(img), "--size", str(4 * BIG)],
              timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return img


@pytest.fixture
def stack(pcscd, workdir, image):
    card = Card(pcscd, image).start()
    gw = Gateway(card.reader, workdir, extra=["--trace", str(workdir / "gateway.pcap")]).start()
    yield card, gw
    gw.stop()
    card.stop()


def raw_request(port: int, request: bytes, timeout: float = 30) -> bytes:
    """Sends request, reads until the server closes (Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def body_of(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return body


def test_curl_gets_the_demo_page_through_the_gateway(stack):
    card, gw = stack
    port = gw.local_port()
    page = http_get(port, "/")
    assert page == (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()
    out = gw.process.output()
    assert "card session 1" in out
    assert f"listening on 127.0.0.1:{port} (card port 3516" in out


def curl_status(url: str, *extra: str) -> tuple[int, str]:
    """curl's HTTP status code and the response head it printed."""
    out = run(["curl", "-s", "-D", "-", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", *extra, url],
              timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout[-3:]), out.stdout[:-3]


def test_a_protected_page_needs_basic_credentials(stack):
    card, gw = stack
    url = f"http://127.0.0.1:{gw.local_port()}/secure/"
    code, head = curl_status(url)
    assert code == 401
    assert 'WWW-Authenticate: Basic realm="scws secure area"' in head
    assert curl_status(url, "-u", "alice:wonderland")[0] == 200
    assert curl_status(url, "-u", "alice:wrong")[0] == 401
    assert curl_status(url, "-u", "mallory:wonderland")[0] == 401
    # An open page next to it needs nothing.
    assert curl_status(f"http://127.0.0.1:{gw.local_port()}/about.html")[0] == 200


def test_malformed_and_oversized_requests_get_their_status_and_the_port_keeps_serving(stack):
    card, gw = stack
    port = gw.local_port()
    assert raw_request(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw_request(port, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 414")
    many = b"".join(b"X-%d: y\r\n" % i for i in range(40))
    assert raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").startswith(b"HTTP/1.1 431")
    assert raw_request(port, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")[:12] in (b"HTTP/1.1 501", b"HTTP/1.1 405")
    assert http_get(port, "/") == (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()


def test_a_1_mib_resource_arrives_intact(stack):
    card, gw = stack
    port = gw.local_port()
    assert hashlib.sha256(http_get(port, "/big.bin", timeout=120)).digest() == hashlib.sha256(big_content()).digest()


def test_a_64_kib_post_arrives_intact(stack):
    card, gw = stack
    port = gw.local_port()
    body = big_content()[:64 * 1024]
    request = (b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
               b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    answer = json.loads(body_of(raw_request(port, request, timeout=120)))
    assert answer["length"] == len(body)
    assert int(answer["crc32"], 16) == zlib.crc32(body)


def test_seven_clients_at_once_and_an_eighth_when_a_channel_frees(stack):
    card, gw = stack
    port = gw.local_port()
    # The profile asks for 7 channels (TS 102 223: at most 7): the card opens all of them.
    gw.local_port(channels=7, timeout=10)
    n = len(gw.listening())
    assert n == 7
    expected = (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()
    # n + 1 raw clients connect first: the gateway accepts n (one per LISTEN channel), the last waits
    # in the listen backlog; each then sends its request and reads its response.
    socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(n + 1)]
    try:
        def exchange(s):
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
        with ThreadPoolExecutor(n + 1) as pool:
            answers = list(pool.map(exchange, socks))
    finally:
        for s in socks:
            s.close()
    assert all(body_of(a) == expected for a in answers)


def test_gateway_recovers_when_the_card_process_is_killed_during_traffic(stack, pcscd, image):
    card, gw = stack
    port = gw.local_port()
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while got < 20000:  # the download is under way
            data = s.recv(65536)
            assert data, "closed before the card was killed"
            got += len(data)
        card.process.kill()
        try:
            while True:  # the gateway drops the client with the card
                data = s.recv(65536)
                if not data:
                    break
                got += len(data)
        except (ConnectionResetError, socket.timeout):
            pass
    assert got < BIG + 1000
    wait_for(lambda: "card lost" in gw.process.output(), 30, "the gateway to notice the card is gone")
    wait_for(lambda: not card_present(card.reader), 10, "the card to leave the reader")
    card2 = Card(pcscd, image).start()
    try:
        wait_for(lambda: "card session 2" in gw.process.output(), 30, "a second card session")
        assert gw.local_port() == port  # the same local port again
        page = wait_for(lambda: _try_get(port), 30, "the page after the restart")
        assert page == (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()
        assert hashlib.sha256(http_get(port, "/big.bin", timeout=120)).digest() == hashlib.sha256(big_content()).digest()
        assert gw.process.alive()
    finally:
        card2.stop()


def _try_get(port: int):
    try:
        return http_get(port, "/", timeout=10)
    except Exception:
        return None


def test_gateway_writes_a_trace_tshark_decodes(stack, workdir):
    card, gw = stack
    port = gw.local_port()
    http_get(port, "/")
    pcap = workdir / "gateway.pcap"
    wait_for(lambda: pcap.exists() and pcap.stat().st_size > 24, 5, "trace frames")
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    out = run(["tshark", "-r", str(pcap), "-V"], timeout=60)
    assert "OPEN CHANNEL" in out.stdout.upper() or "Open Channel" in out.stdout, out.stdout[:2000]


def test_gateway_without_pcscd_reader_exits_with_an_error_or_waits(pcscd, workdir):
    gw = Gateway("no such reader 00 00", workdir).start()
    try:
        wait_for(lambda: "waiting for a card" in gw.process.output() or not gw.process.alive(), 10,
                 "the gateway to start waiting")
        assert gw.process.alive()  # it waits for the reader/card to appear
    finally:
        assert gw.stop() == 0


def test_a_second_gateway_on_a_taken_port_stops_at_once_naming_the_holder(stack, pcscd, workdir, image):
    card, first = stack
    port = first.local_port()
    # A second card in the reader's other slot, and a gateway for it told to listen where the first does.
    image2 = workdir / "card2.img"
    shutil.copyfile(image, image2)
    card2 = Card(pcscd, image2, slot=1).start()
    try:
        second = run([scws_bin(), "gateway", "--reader", card2.reader, "--map", f"3516={port}"], timeout=60)
        assert second.returncode == 1, second.stderr
        err = second.stderr
        assert f"cannot listen on 127.0.0.1:{port} (card port 3516): Address already in use" in err, err
        assert f"is held by process {first.process.pid} (" in err, err
        assert "--map 3516=PORT listens elsewhere" in err, err
        assert "stopped after" not in err  # it did not serve on
        assert first.process.alive()
        assert http_get(port, "/") == (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()
    finally:
        card2.stop()
