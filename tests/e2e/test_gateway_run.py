"""`scws run`: the card and the gateway in one process, no pcscd."""
import hashlib
import re
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from stack import ROOT, Run, http_get, run, scws_bin, wait_for


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


HTTPS_LINE = re.compile(r"scws run: serving https://([0-9.]+):(\d+)/")


def test_a_second_scws_run_on_taken_ports_stops_at_once_naming_the_holder(workdir):
    first = Run(workdir).start()
    try:
        http_port = first.port()
        tls = wait_for(lambda: HTTPS_LINE.search(first.process.output()), 20, "the TLS port")
        tls_port = int(tls.group(2))
        # The same ports as the first: the card's first OPEN CHANNEL cannot listen.
        second = run([scws_bin(), "run", "--state", str(workdir / "second"), "--http-port", str(http_port),
                      "--tls-port", str(tls_port)], timeout=60)
        assert second.returncode == 1, second.stdout + second.stderr
        err = second.stderr
        assert "Address already in use" in err, err
        assert f"is held by process {first.process.pid} (" in err, err
        if f"cannot listen on 127.0.0.1:{http_port} (card port 3516)" in err:
            assert "--http-port PORT serves it elsewhere" in err, err
        else:
            assert f"cannot listen on 127.0.0.1:{tls_port} (card port 10443)" in err, err
            assert "--tls-port PORT serves it elsewhere" in err, err
        assert "stopped after" not in second.stdout  # it did not serve on
        assert first.process.alive()
        assert http_get(http_port, "/") == demo("index.html")
    finally:
        assert first.stop() == 0
