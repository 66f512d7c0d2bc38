"""The admin applet over the real stack (pcscd + vpcd + `scws card`, and `scws run` for /status):
every command refused with 69 82 until VERIFY of the administrative key ADM1, then the incident
queue's summary on a fresh card's empty queue; `scws apdu` shows it; /status gives the queue's
figures and no incident contents. APDUs and bytes: docs/protocol.md section 15."""
import json

from stack import PcscSession, Run, http_get, run, scws_bin

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
