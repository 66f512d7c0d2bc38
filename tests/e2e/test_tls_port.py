"""TLS on the card over the real stack: curl / openssl s_client -> `scws gateway` -> pcscd -> vpcd
-> `scws card`, TLS terminated on the card (card/scws/tls_port.hpp) on the TLS port of the image's profile,
the HTTP port beside it. The card's counters come from /status over plain HTTP ("tls" member)."""
import json
import re
import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stack import ROOT, Card, Gateway, http_get, run, scws_bin, wait_for

INDEX = (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
CERT_BUDGET = 12 * 1024  # card/scws/tls_port.hpp kCertificateBudget


def make_image(workdir: Path, name: str, tls: dict, http_channels: int = 4) -> tuple[Path, Path]:
    """The demo profile with its [tls] table replaced by `tls`; returns (image, credentials folder)."""
    profile = workdir / f"profile-{name}"
    shutil.copytree(ROOT / "profiles" / "demo", profile)
    toml = (profile / "card.toml").read_text()
    toml = re.sub(r"\[tls\].*?(?=\n\[\[users\]\]|\n# Users)", "", toml, flags=re.S)
    toml = re.sub(r"http_channels = \d+", f"http_channels = {http_channels}", toml)
    lines = ["[tls]"] + [f"{k} = {json.dumps(v)}" for k, v in tls.items()]
    toml += "\n" + "\n".join(lines) + "\n"
    (profile / "card.toml").write_text(toml)
    image = workdir / f"{name}.img"
    creds = workdir / f"{name}-credentials"
    out = run([scws_bin(), "provision", "--profile", str(profile), "--out", str(image), "--credentials", str(creds)],
              timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TLS port" in out.stdout
    return image, creds


def curl_tls(port: int, creds: Path, client: str | None = "client-1", path: str = "/",
             timeout: float = 30) -> subprocess.CompletedProcess:
    args = ["curl", "-sS", "--fail", "--max-time", str(timeout), "--cacert", str(creds / "ca.pem")]
    if client:
        args += ["--cert", str(creds / f"{client}.pem"), "--key", str(creds / f"{client}.key")]
    return subprocess.run(args + [f"https://127.0.0.1:{port}{path}"], capture_output=True, timeout=timeout + 5,
                          stdin=subprocess.DEVNULL)


def s_client(port: int, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-ign_eof", *extra],
                          input=REQUEST, capture_output=True, timeout=timeout)


def psk_pairs(creds: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in (creds / "psk.txt").read_text().splitlines() if line.strip()]


def tls_status(http_port: int) -> dict:
    return json.loads(http_get(http_port, "/status"))["tls"]


def settled(http_port: int) -> dict:
    """The card's TLS figures once no session is left (the last channel closes after the client)."""
    return wait_for(lambda: (lambda t: t if t["sessions"] == 0 else None)(tls_status(http_port)), 20,
                    "every TLS session to close")


class TlsStack:
    def __init__(self, pcscd, workdir: Path, name: str, tls: dict, http_channels: int = 4,
                 card_extra: list[str] | None = None):
        self.image, self.creds = make_image(workdir, name, tls, http_channels)
        self.card = Card(pcscd, self.image, extra=card_extra or []).start()
        self.gw = Gateway(self.card.reader, workdir, card_ports=(3516, tls.get("port", 10443))).start()
        self.http = self.gw.local_port(3516)
        self.tls = self.gw.local_port(tls.get("port", 10443), channels=tls.get("channels", 3))

    def stop(self):
        self.gw.stop()
        self.card.stop()


@pytest.fixture
def tls_stack(pcscd, workdir):
    s = TlsStack(pcscd, workdir, "card", {"port": 10443, "channels": 3, "mode": "both", "timeout": 2})
    yield s
    s.stop()


def test_curl_with_a_client_certificate_gets_the_page_over_tls(tls_stack):
    out = curl_tls(tls_stack.tls, tls_stack.creds)
    assert out.returncode == 0, out.stderr
    assert out.stdout == INDEX
    t = settled(tls_stack.http)
    assert t["completed"] >= 1
    assert t["ram"]["in_use"] == t["ram"]["idle"]
    assert http_get(tls_stack.http, "/") == INDEX  # the HTTP port beside it


@pytest.mark.parametrize("client,reason", [(None, "no-client-certificate"),
                                           ("foreign-client", "bad-certificate"),
                                           ("expired-client", "bad-certificate")])
def test_a_client_without_a_valid_certificate_fails_the_handshake_and_gets_nothing(tls_stack, client, reason):
    before = tls_status(tls_stack.http)
    out = curl_tls(tls_stack.tls, tls_stack.creds, client)
    assert out.returncode != 0
    assert INDEX not in out.stdout
    args = ["-CAfile", str(tls_stack.creds / "ca.pem")]
    if client:
        args += ["-cert", str(tls_stack.creds / f"{client}.pem"), "-key", str(tls_stack.creds / f"{client}.key")]
    s = s_client(tls_stack.tls, *args)
    assert b"HTTP/1.1 200" not in s.stdout
    assert b"alert" in s.stderr + s.stdout
    after = settled(tls_stack.http)
    assert after["completed"] == before["completed"]  # the card served nothing
    assert after["failures"][reason] >= before["failures"][reason] + 2
    assert after["ram"]["in_use"] == after["ram"]["idle"]


@pytest.mark.parametrize("cipher", ["PSK-AES128-CBC-SHA256", "PSK-AES128-CCM"])
def test_openssl_s_client_with_a_psk_gets_the_page(tls_stack, cipher):
    identity, key = psk_pairs(tls_stack.creds)[0]
    out = s_client(tls_stack.tls, "-quiet", "-psk_identity", identity, "-psk", key, "-cipher", cipher)
    assert b"HTTP/1.1 200" in out.stdout, out.stderr
    assert INDEX in out.stdout


def test_an_unknown_psk_identity_is_refused(tls_stack):
    before = tls_status(tls_stack.http)
    out = s_client(tls_stack.tls, "-quiet", "-psk_identity", "nobody", "-psk", "00112233445566778899aabbccddeeff",
                   "-cipher", "PSK-AES128-CCM")
    assert b"HTTP/1.1" not in out.stdout
    after = settled(tls_stack.http)
    assert after["failures"]["unknown-psk-identity"] == before["failures"]["unknown-psk-identity"] + 1


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    sock.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def test_garbage_instead_of_a_client_hello_gets_an_alert_and_the_port_keeps_serving(tls_stack):
    with socket.create_connection(("127.0.0.1", tls_stack.tls), timeout=20) as s:
        s.sendall(REQUEST)
        answer = read_until_closed(s, 20)
    assert answer[:1] == b"\x15"  # an alert record (RFC 5246 6.2.1), then the channel closes
    assert tls_status(tls_stack.http)["failures"]["bad-record"] >= 1
    out = curl_tls(tls_stack.tls, tls_stack.creds)
    assert out.returncode == 0 and out.stdout == INDEX, out.stderr


def test_a_client_that_stalls_mid_handshake_is_cut_off_by_the_card_timer(tls_stack):
    hello_head = bytes([0x16, 0x03, 0x01, 0x00, 0xC8, 0x01, 0x00, 0x00, 0xC4, 0x03, 0x03])  # 11 of 205 bytes
    with socket.create_connection(("127.0.0.1", tls_stack.tls), timeout=20) as s:
        s.sendall(hello_head)
        answer = read_until_closed(s, 20)  # the timer is 2 s (profile), the toolkit's TIMER MANAGEMENT
    assert answer == b"" or answer[:1] == b"\x15"
    t = settled(tls_stack.http)
    assert t["failures"]["timeout"] >= 1
    assert t["ram"]["in_use"] == t["ram"]["idle"]
    out = curl_tls(tls_stack.tls, tls_stack.creds)
    assert out.returncode == 0 and out.stdout == INDEX, out.stderr


def seven_clients(stack: TlsStack) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(8) as pool:
        tls_jobs = [pool.submit(curl_tls, stack.tls, stack.creds, f"client-{1 + i % 2}") for i in range(7)]
        http_page = pool.submit(http_get, stack.http, "/")  # the HTTP port at the same time
        results = [j.result() for j in tls_jobs]
        assert http_page.result() == INDEX
    return results


def test_seven_concurrent_tls_clients_are_all_served_when_the_region_holds_six_sessions(pcscd, workdir):
    stack = TlsStack(pcscd, workdir, "big", {"port": 10443, "channels": 6, "mode": "certificate", "timeout": 10,
                                             "ram": 5 * 1024 + 6 * CERT_BUDGET},
                     http_channels=1, card_extra=["--ram", str(160 * 1024)])
    try:
        results = seven_clients(stack)
        assert all(r.returncode == 0 and r.stdout == INDEX for r in results), [r.stderr for r in results]
        t = settled(stack.http)
        assert t["max_sessions"] == 6
        assert t["completed"] == 7 and t["refused"] == 0
        assert t["ram"]["in_use"] == t["ram"]["idle"]
        print(f"TLS region high water with 6 sessions at once: {t['ram']['high_water']} of {t['ram']['capacity']} B "
              f"(idle {t['ram']['idle']})")
    finally:
        stack.stop()


def test_seven_concurrent_tls_clients_beyond_a_two_session_region_are_refused_cleanly(pcscd, workdir):
    stack = TlsStack(pcscd, workdir, "small", {"port": 10443, "channels": 6, "mode": "certificate", "timeout": 10,
                                               "ram": 5 * 1024 + 2 * CERT_BUDGET + 1024},
                     http_channels=1, card_extra=["--ram", str(160 * 1024)])
    try:
        results = seven_clients(stack)
        served = [r for r in results if r.returncode == 0]
        assert all(r.stdout == INDEX for r in served)
        t = settled(stack.http)
        assert t["max_sessions"] == 2
        assert len(served) >= 2
        assert t["completed"] == len(served)
        assert t["refused"] == 7 - len(served)  # refused at connect: no handshake ran the region dry
        assert t["failures"]["arena-exhausted"] == 0
        assert t["ram"]["in_use"] == t["ram"]["idle"]
        out = curl_tls(stack.tls, stack.creds)  # and the port keeps serving
        assert out.returncode == 0 and out.stdout == INDEX
    finally:
        stack.stop()


def test_a_card_whose_ram_cannot_hold_the_tls_region_refuses_to_start(workdir):
    image, _ = make_image(workdir, "tight", {"port": 10443, "channels": 3, "mode": "certificate",
                                             "ram": 48 * 1024})
    out = run([scws_bin(), "card", "--image", str(image), "--ram", str(32 * 1024), "--vpcd", "127.0.0.1:1"], timeout=30)
    assert out.returncode != 0
    assert "RAM" in out.stderr
