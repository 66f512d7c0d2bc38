"""Access conditions and passwords at rest over the real stack (pcscd + vpcd + `scws card`): EF.ICCID
is updated only after VERIFY of the administrative key ADM1, wrong keys block it for good (also
across a restart of the card process, a power cycle), and no password of the profile is in the
image in clear. APDUs and bytes: docs/protocol.md, "Access conditions"."""
from pathlib import Path

from stack import Card, PcscSession, card_present, run, scws_bin, wait_for

DEMO_ADM_KEY = "3132333435363738"  # profiles/demo/card.toml [security] adm_key ("12345678")
WRONG_ADM_KEY = "3030303030303030"
SELECT_ICCID = "00A4000C022FE2"


def verify(key: str) -> str:
    return "0020000A08" + key  # VERIFY, P2 = 0A (ADM1, TS 102 221 9.5.1), Lc = 8


def read_iccid(s: PcscSession) -> bytes:
    assert s.transmit(SELECT_ICCID)[1] == 0x9000
    data, sw = s.transmit("00B000000A")
    assert sw == 0x9000
    return data


def test_opensc_tool_cannot_update_ef_iccid_without_adm(card):
    out = run(["opensc-tool", "-s", "00 A4 00 0C 02 2F E2", "-s", "00 D6 00 00 02 11 22"], timeout=20)
    assert out.returncode == 0, out.stderr
    assert "SW1=0x69, SW2=0x82" in out.stdout, out.stdout


def test_update_of_ef_iccid_needs_verify_adm_and_changes_nothing_before(card):
    s = PcscSession(card.reader)
    try:
        before = read_iccid(s)
        assert s.transmit("00D60000021122")[1] == 0x6982   # security status not satisfied
        assert read_iccid(s) == before                      # nothing changed
        assert s.transmit("0020000A")[1] == 0x63C3          # Lc absent: 3 tries left
        assert s.transmit(verify(DEMO_ADM_KEY))[1] == 0x9000
        assert s.transmit(SELECT_ICCID)[1] == 0x9000
        assert s.transmit("00D60000021122")[1] == 0x9000
        assert read_iccid(s)[:2] == b"\x11\x22"
    finally:
        s.close()


def test_three_wrong_verifies_block_adm_and_a_power_cycle_keeps_it_blocked(pcscd, workdir):
    image = workdir / "adm.img"
    c = Card(pcscd, image).start()
    try:
        s = PcscSession(c.reader)
        assert [s.transmit(verify(WRONG_ADM_KEY))[1] for _ in range(3)] == [0x63C2, 0x63C1, 0x63C0]
        assert s.transmit(verify(DEMO_ADM_KEY))[1] == 0x6983  # blocked: even the right key
        s.close()
    finally:
        c.stop()
    wait_for(lambda: not card_present(c.reader), 10, "the card to leave the reader")
    c = Card(pcscd, image).start()  # a new card process on the same image: a power cycle
    try:
        s = PcscSession(c.reader)
        assert s.transmit("0020000A")[1] == 0x6983
        assert s.transmit(verify(DEMO_ADM_KEY))[1] == 0x6983
        assert s.transmit(SELECT_ICCID)[1] == 0x9000
        assert s.transmit("00D60000021122")[1] == 0x6982
        s.close()
    finally:
        c.stop()


def test_the_demo_image_holds_no_password_and_no_adm_key_in_clear(workdir):
    image = workdir / "demo.img"
    out = run([scws_bin(), "provision", "--profile", str(Path(__file__).resolve().parents[2] / "profiles" / "demo"),
               "--out", str(image)], timeout=120)
    assert out.returncode == 0, out.stderr
    raw = image.read_bytes()
    assert b"wonderland" not in raw                         # the demo user's password
    assert "wonderland" not in out.stdout + out.stderr
    assert b"alice" in raw                                  # the user is there, by name
    assert DEMO_ADM_KEY not in out.stdout + out.stderr      # the key is never printed
