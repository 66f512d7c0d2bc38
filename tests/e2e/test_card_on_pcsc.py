"""The card over the real stack: pcscd + vpcd + `scws card`, seen by independent clients."""
import re

from stack import Card, PcscSession, run, scws_bin, wait_for, card_present

ICCID_FILE = "2FE2"


def atr_of(card_reader: str) -> str:
    s = PcscSession(card_reader)
    try:
        from smartcard.scard import SCardStatus
        _, _, _, _, atr = SCardStatus(s.card)
        return bytes(atr).hex().upper()
    finally:
        s.close()


def test_pcsc_scan_shows_the_reader_and_our_atr(card):
    atr = atr_of(card.reader)
    out = run(["pcsc_scan", "-n", "-t", "2"], timeout=20)
    text = out.stdout + out.stderr
    assert card.reader in text
    spaced = " ".join(atr[i:i + 2] for i in range(0, len(atr), 2))
    assert spaced in text


def test_opensc_tool_prints_the_atr(card):
    atr = atr_of(card.reader)
    out = run(["opensc-tool", "-a"], timeout=20)
    assert out.returncode == 0, out.stderr
    assert re.sub(r"[^0-9A-F]", "", out.stdout.upper()).endswith(atr) or atr in re.sub(r"[^0-9A-F]", "", out.stdout.upper())


def test_opensc_tool_selects_the_mf_and_reads_ef_iccid(card):
    out = run(["opensc-tool", "-s", "00 A4 00 04 02 3F 00", "-s", "00 A4 00 04 02 2F E2",
               "-s", "00 B0 00 00 0A"], timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SW1=0x90, SW2=0x00") == 3, out.stdout


def test_pyscard_exchanges_apdus_and_gets_iso_status_words(card):
    s = PcscSession(card.reader)
    try:
        data, sw = s.transmit("00A40004023F00")
        assert sw == 0x9000 and data[:1] == b"\x62"  # FCP template
        data, sw = s.transmit("00A4000402" + ICCID_FILE)
        assert sw == 0x9000
        data, sw = s.transmit("00B000000A")
        assert sw == 0x9000 and len(data) == 10
        assert s.transmit("80F2000C")[1] == 0x9000          # STATUS, no data
        assert s.transmit("00A40004021234")[1] == 0x6A82    # no such file
        assert s.transmit("00FF0000")[1] == 0x6D00          # unknown INS
        assert s.transmit("00A40004033F00")[1] == 0x6700    # Lc 3, only 2 data bytes
        assert s.transmit("00B0FFFF01")[1] in (0x6B00, 0x6A86)  # offset beyond the file
        assert s.transmit("0370000001")[1] == 0x6881        # channel 3 not open
    finally:
        s.close()


def test_scws_apdu_prints_responses_with_status_words(card):
    out = run([scws_bin(), "apdu", "--reader", card.reader, "00 A4 00 04 02 3F 00", "80 F2 00 0C"])
    assert out.returncode == 0, out.stderr
    assert "9000" in out.stdout.replace(" ", "")


def test_the_card_comes_back_after_its_process_restarts(pcscd, workdir):
    image = workdir / "restart.img"
    c = Card(pcscd, image).start()
    c.process.kill()
    wait_for(lambda: not card_present(c.reader), 10, "the card to leave the reader")
    c2 = Card(pcscd, image).start()
    try:
        s = PcscSession(c2.reader)
        assert s.transmit("80F2000C")[1] == 0x9000
        s.close()
    finally:
        c2.stop()


def test_a_damaged_image_is_refused_naming_the_problem(pcscd, workdir):
    image = workdir / "damaged.img"
    c = Card(pcscd, image).start()
    c.stop()
    raw = bytearray(image.read_bytes())
    raw[0] ^= 0xFF
    image.write_bytes(bytes(raw))
    out = run([scws_bin(), "card", "--image", str(image), "--vpcd", pcscd.vpcd_address(0)], timeout=20)
    assert out.returncode != 0
    assert "magic" in (out.stdout + out.stderr).lower()
    assert image.read_bytes() == bytes(raw)  # refused, never reformatted
