"""`scws run` serves the demo profile's TLS port too, with demo credentials made on the first start in
its state folder and reused afterwards, and prints a curl command that works."""
import re
import shlex
import subprocess

from stack import ROOT, Run, http_get, wait_for

INDEX = (ROOT / "profiles" / "demo" / "www" / "index.html").read_bytes()
HTTPS_LINE = re.compile(r"scws run: serving https://127\.0\.0\.1:(\d+)/")
CURL_LINE = re.compile(r"scws run: try: (curl .*)")


def tls_port(r: Run) -> int:
    def ready():
        if not r.process.alive():
            raise RuntimeError("scws run exited:\n" + r.process.output())
        m = HTTPS_LINE.search(r.process.output())
        return int(m.group(1)) if m else None
    return wait_for(ready, 20, "scws run to serve https")


def printed_curl(r: Run) -> list[str]:
    m = CURL_LINE.search(r.process.output())
    assert m, r.process.output()
    return shlex.split(m.group(1)) + ["-sS", "--fail", "--max-time", "30"]


def test_scws_run_serves_tls_with_demo_credentials_and_a_curl_command_that_works(workdir):
    r = Run(workdir).start()
    try:
        http = r.port()
        port = tls_port(r)
        out = subprocess.run(printed_curl(r), capture_output=True, timeout=40, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        assert out.stdout == INDEX
        assert f"https://127.0.0.1:{port}/" in " ".join(printed_curl(r))
        creds = r.state / "credentials"
        assert (creds / "ca.pem").exists() and (creds / "client-1.key").exists()
        assert "TLS credentials created in" in r.process.output()
        assert http_get(http, "/") == INDEX
    finally:
        assert r.stop() == 0


def test_scws_run_reuses_its_demo_credentials_after_a_restart_and_a_reprovision(workdir):
    r = Run(workdir).start()
    try:
        tls_port(r)
    finally:
        assert r.stop() == 0
    ca = (r.state / "credentials" / "ca.pem").read_bytes()
    for extra in ([], ["--reprovision"]):
        again = Run(workdir, extra=extra).start()
        try:
            tls_port(again)
            out = subprocess.run(printed_curl(again), capture_output=True, timeout=40, stdin=subprocess.DEVNULL)
            assert out.returncode == 0 and out.stdout == INDEX, out.stderr
        finally:
            assert again.stop() == 0
        assert (r.state / "credentials" / "ca.pem").read_bytes() == ca  # client certificates stay valid
