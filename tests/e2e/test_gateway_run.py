"""`scws run`: the card and the gateway in one process, no pcscd (DESIGN.md section 1)."""
import hashlib
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from stack import ROOT, Run, http_get, wait_for


def demo(name: str) -> bytes:
    return (ROOT / "profiles" / "demo" / "www" / name).read_bytes()


def test_scws_run_serves_the_demo_profile_and_says_where(workdir):
    r = Run(workdir).start()
    try:
        port = r.port()
        assert http_get(port, "/") == demo("index.html")
        assert http_get(port, "/about.html") == demo("about.html")
        out = r.process.output()
        assert f"state: {r.state}" in out
        assert (r.state / "card.img").exists()
    finally:
        assert r.stop() == 0


def test_scws_run_keeps_its_state_across_restarts(workdir):
    r = Run(workdir).start()
    try:
        r.port()
    finally:
        assert r.stop() == 0
    r2 = Run(workdir).start()
    try:
        port = r2.port()
        assert "using the existing card image" in r2.process.output()
        assert http_get(port, "/") == demo("index.html")
    finally:
        assert r2.stop() == 0


def test_scws_run_serves_several_clients_at_once(workdir):
    r = Run(workdir).start()
    try:
        port = r.port()
        with ThreadPoolExecutor(8) as pool:
            pages = list(pool.map(lambda _: http_get(port, "/"), range(16)))
        assert all(p == demo("index.html") for p in pages)
    finally:
        assert r.stop() == 0


def test_scws_run_stops_cleanly_on_sigint(workdir):
    r = Run(workdir).start()
    port = r.port()
    r.process.proc.send_signal(signal.SIGINT)
    assert r.process.proc.wait(10) == 0
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert "stopped after" in r.process.output()
