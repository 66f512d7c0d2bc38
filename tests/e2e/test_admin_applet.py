"""The admin applet over the real stack (pcscd + vpcd + `scws card`, and `scws run` for /status):
every command refused with 69 82 until VERIFY of the administrative key ADM1, then the incident
queue's summary on a fresh card's empty queue; `scws apdu` shows it; /status gives the queue's
figures and no incident contents; the remote administration commands change what the handset
gets at once. APDUs and bytes: docs/protocol.md sections 15 and 16.6."""
import json

import pytest

from attack import Admin, ok
from stack import Gateway, PcscSession, Run, http_get, run, scws_bin

DEMO_ADM_KEY = "3132333435363738"  # profiles/demo/card.toml [security] adm_key ("12345678")
VERIFY_ADM = "0020000A08" + DEMO_ADM_KEY
SELECT_ADMIN = "00A4040006F05343575341"
SUMMARY = "80500000"
# Every admin command, well formed: summary, read incident 0, acknowledge up to 1, read settings,
# write settings, read port states, close port 3516.
ADMIN_COMMANDS = ["80500000", "8052000000", "805400000400000001", "80560000", "805800000101", "805A0000",
                  "805C0000020DBC"]
# An empty queue of the demo's capacity 32: count 0, first and last 0, next 1, dropped 0.
EMPTY_SUMMARY = bytes.fromhex("20000000" "00000000" "00000000" "00000001" "00000000")


def test_admin_commands_need_verify_adm_then_the_summary_shows_an_empty_queue(card):
    s = PcscSession(card.reader)
    try:
        assert s.transmit(SELECT_ADMIN)[1] == 0x9000
        for command in ADMIN_COMMANDS:
            assert s.transmit(command)[1] == 0x6982, command   # security status not satisfied
        assert s.transmit(VERIFY_ADM)[1] == 0x9000
        data, sw = s.transmit(SUMMARY)
        assert sw == 0x9000
        assert data == EMPTY_SUMMARY
        assert s.transmit("8052000000")[1] == 0x6A83            # no incident 0 in an empty queue
        assert s.transmit("805400000400000001")[1] == 0x6A80    # sequence 1 not assigned yet
    finally:
        s.close()


def test_scws_apdu_shows_the_queue(card):
    out = run([scws_bin(), "apdu", "--reader", card.reader, SELECT_ADMIN, SUMMARY, VERIFY_ADM, SUMMARY], timeout=30)
    assert out.returncode == 0, out.stderr
    answers = [line for line in out.stdout.splitlines() if line.startswith("< ")]
    assert len(answers) == 4, out.stdout
    assert answers[1].startswith("< 69 82"), out.stdout
    assert answers[3] == "< 20 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 90 00 (9000 " + \
        answers[3].split("(9000 ", 1)[1], out.stdout


def test_status_shows_the_queue_figures_and_nothing_else(workdir):
    r = Run(workdir).start()
    try:
        status = json.loads(http_get(r.port(), "/status"))
        assert status["incidents"] == {"count": 0, "dropped": 0, "damaged": False}
    finally:
        r.stop()


def _lv(b: bytes) -> str:
    return f"{len(b):02X}" + b.hex().upper()


def _apdu(head: str, data: bytes = b"") -> str:
    return head + (f"{len(data):02X}" + data.hex().upper() if data else "")


def test_remote_administration_commands_change_what_the_handset_gets_at_once(card, workdir):
    """PUT RESOURCE in pieces, DELETE RESOURCE, PUT USER and DELETE USER on the admin applet's own
    logical channel while the gateway serves the card (docs/protocol.md 16.6); curl sees each
    change on its next request."""
    gw = Gateway(card.reader, workdir).start()
    admin = None
    try:
        port = gw.local_port()
        admin = Admin(card.reader)
        page = b"<html>" + b"remote " * 100 + b"</html>"
        assert ok(admin.transmit(_apdu("720000", len(page).to_bytes(4, "big") + bytes([9]) + b"/new.html" +
                                       bytes([9]) + b"text/html"), True)[1])
        for at in range(0, len(page), 240):
            assert ok(admin.transmit(_apdu("720100", page[at:at + 240]), True)[1])
        with pytest.raises(RuntimeError):
            http_get(port, "/new.html")                          # staged, not published: 404
        assert ok(admin.transmit("720200", True)[1])
        assert http_get(port, "/new.html") == page
        assert admin.transmit("720200", True)[1] == 0x6985    # nothing staged any more
        assert ok(admin.transmit(_apdu("740000", b"/new.html"), True)[1])
        with pytest.raises(RuntimeError):
            http_get(port, "/new.html")
        assert admin.transmit(_apdu("740000", b"/new.html"), True)[1] == 0x6A88

        def secure(user: str, password: str) -> int:
            out = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", "-u",
                       f"{user}:{password}", f"http://127.0.0.1:{port}/secure/"], timeout=60)
            return int(out.stdout[-3:])

        assert secure("carol", "c4rol-pw") == 401
        put_carol = _lv(b"carol") + _lv(b"c4rol-pw") + "01" + _lv(b"scws secure area")
        assert ok(admin.transmit(_apdu("760000", bytes.fromhex(put_carol)), True)[1])
        assert secure("carol", "c4rol-pw") == 200
        assert ok(admin.transmit(_apdu("780000", b"carol"), True)[1])
        assert secure("carol", "c4rol-pw") == 401
        assert secure("alice", "wonderland") == 200
    finally:
        if admin is not None:
            admin.s.close()
        gw.stop()
