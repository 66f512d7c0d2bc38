"""`scws bench attack --quick` over the real stack (its own private pcscd, vpcd, `scws card`, the
gateway; openssl s_client, curl and raw sockets as attackers): a smoke run that it ran, that every
rule closed its port and left exactly one incident of its own in the queue read through PC/SC, and
that the legitimate load left none. The figures themselves are not judged (a benchmark is a program)."""
import json
import os

import pytest

from stack import run, scws_bin

RULES = ["tls-handshake-failures", "tls-unknown-psk", "tls-bad-records", "http-password-guessing",
         "http-malformed-flood", "connection-flood", "slow-clients"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark's private pcscd needs root (a private mount namespace)")
def test_bench_attack_quick_finds_one_incident_per_rule_and_none_under_legitimate_load(workdir):
    out = run([scws_bin(), "bench", "attack", "--quick", "--json", "--workdir", str(workdir / "bench")], timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    figures = json.loads(out.stdout)
    assert figures["benchmark"] == "attack"
    assert figures["stack"]["measured"], figures
    assert figures["memory"]["nvm_per_incident"] == 60
    assert 0 < figures["memory"]["windows_ram"] < figures["memory"]["detector_ram"]
    assert [row["rule"] for row in figures["rules"]] == RULES
    for row in figures["rules"]:
        assert row["closed"], row
        assert row["attempts"] >= 1 and row["seconds"] > 0, row
        assert row["queue_error"] == "", row
        assert row["matching_incidents"] == 1 and len(row["incidents"]) == 1, row
        incident = row["incidents"][0]
        assert incident["rule"] == row["rule"] and incident["port"] == row["port"] and incident["port_closed"], row
        assert row["reference"]["measured"] and row["reference"]["incidents"] == 0, row
    legitimate = figures["legitimate"]
    assert legitimate["queue_read"], legitimate
    assert legitimate["incidents"] == [], legitimate
    assert legitimate["failures"] == 0, legitimate
    assert legitimate["tls_ok"] == 7 * legitimate["requests_per_client"], legitimate
