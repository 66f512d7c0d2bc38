"""Headless Chromium (Debian's chromium) loads the demo pages through the real stack
(pcscd + vpcd + `scws card` + `scws gateway --reader ...`) and the tests check what it rendered: the
DOM after scripts (`--dump-dom`), so the demo page's inline script must have run and its second request
(/status, the card's status extension) must have come back through the card."""
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from stack import ROOT, Card, Gateway, run, scws_bin

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-deps.sh)")

DEMO_ICCID = "8988211000000000017"  # profiles/demo/card.toml
STATUS_LINE = re.compile(r"Card status: ICCID (\d+), (\d+) channel\(s\) in use, RAM high-water (\d+) of (\d+) bytes\.")


@pytest.fixture
def image(workdir: Path) -> Path:
    img = workdir / "card.img"
    out = run([scws_bin(), "provision", "--profile", str(ROOT / "profiles" / "demo"), "--out", str(img)], timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return img


@pytest.fixture
def port(pcscd, workdir, image):
    card = Card(pcscd, image).start()
    gw = Gateway(card.reader, workdir).start()
    yield gw.local_port()
    gw.stop()
    card.stop()


def dump_dom(url: str, workdir: Path, timeout: float = 90) -> str:
    """chromium --headless --dump-dom URL with a private profile; the DOM after scripts ran.

    --virtual-time-budget lets the page's pending fetches finish before the DOM is dumped (virtual
    time does not advance while a network request is outstanding). Chromium runs in its own session;
    on a timeout that session (process group = its pid) is killed, and stragglers likewise at the end."""
    profile = workdir / "chromium-profile"
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage",
            "--virtual-time-budget=15000", "--dump-dom", url]
    with open(workdir / "chromium.log", "ab") as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate(timeout=10)
            raise
        finally:
            _kill_group(proc.pid)
    assert proc.returncode == 0, f"chromium exit {proc.returncode}:\n" + (workdir / "chromium.log").read_text(errors="replace")[-3000:]
    return out.decode(errors="replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_chromium_renders_the_demo_page_and_its_script_fetches_the_card_status(port, workdir):
    dom = dump_dom(f"http://127.0.0.1:{port}/", workdir)
    assert '<h1 id="title">Smart Card Web Server</h1>' in dom
    assert 'href="/secure/"' in dom
    # The inline script replaced the placeholder with /status's JSON, fetched through the card.
    assert "not loaded yet" not in dom, dom
    m = STATUS_LINE.search(dom)
    assert m, dom
    iccid, channels, high_water, capacity = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
    assert iccid == DEMO_ICCID
    assert channels >= 1  # at least the connection that asked
    assert 0 < high_water <= capacity


def test_chromium_renders_the_protected_page_with_credentials_in_the_url(port, workdir):
    dom = dump_dom(f"http://alice:wonderland@127.0.0.1:{port}/secure/", workdir)
    assert '<h1 id="title">Secure area</h1>' in dom, dom


def test_chromium_does_not_render_the_protected_page_without_credentials(port, workdir):
    # The card answers 401 with WWW-Authenticate (test_gateway_pcsc.py checks the bytes); headless
    # Chromium has nobody to ask for credentials and renders nothing of the secure page.
    dom = dump_dom(f"http://127.0.0.1:{port}/secure/", workdir)
    assert "Secure area" not in dom, dom
