"""`scws bench admin --quick` over the real stack (its own private pcscd, vpcd, `scws card`, the gateway
with its connect map, an in-process admin server): a smoke run that every figure has a number beside
its reference. The figures themselves are not judged (a benchmark is a program)."""
import os
import re

import pytest

from stack import run, scws_bin

NUMBER = r"[0-9]+(?:\.[0-9]+)?"


@pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark's private pcscd needs root (a private mount namespace)")
def test_bench_admin_quick_prints_each_figure_with_a_number(workdir):
    out = run([scws_bin(), "bench", "admin", "--quick", "--workdir", str(workdir / "bench")], timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    text = out.stdout
    assert "not measured" not in text.split("Incidents stored per second")[0], text
    # 1. seconds to the stored incident, beside seconds to the closed port
    assert re.search(rf"incident stored at the server: {NUMBER} s after the first of \d+ foreign-CA handshakes; "
                     rf"reference: port closed {NUMBER} s", text), text
    # 2. APDUs and seconds of the session, beside one plain GET
    m = re.search(rf"admin session with one incident: (\d+) APDUs, {NUMBER} s .*"
                  rf"reference: one plain HTTP GET / (\d+) APDUs, {NUMBER} s", text)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, text
    assert "1 incident(s)" in text, text
    # 3. card RAM of the client session, beside one PSK server session
    m = re.search(r"TLS region peak (\d+) bytes \+ HTTP state (\d+) bytes of the arena; arena high-water (\d+) bytes "
                  r"before the session, (\d+) after .* one PSK server session of the TLS port (\d+) bytes", text)
    assert m and all(int(g) > 0 for g in m.groups()), text
    # 4. incidents per second through the server, beside the store alone (PostgreSQL may be missing)
    assert re.search(rf"Incidents stored per second, SQLite: \d+ incidents .* {NUMBER} incidents/s; "
                     rf"reference: straight into the store {NUMBER} s: {NUMBER} incidents/s", text), text
    assert re.search(rf"Incidents stored per second, PostgreSQL: (not measured: .+|\d+ incidents .* {NUMBER} incidents/s)", text), text
