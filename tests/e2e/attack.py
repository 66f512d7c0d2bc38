"""Helpers of the attack tests: a card image with chosen detection settings, the admin applet's view of
the incident queue and the port states over PC/SC (pyscard), and waiting for a card port to close at
the gateway. APDUs: docs/protocol.md section 15 (the admin applet), README "The admin applet"."""
import json
import re
import shutil
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from stack import ROOT, PcscSession, run, scws_bin, wait_for

DEMO_ADM_KEY = "3132333435363738"  # profiles/demo/card.toml [security] adm_key
ADMIN_AID = "F05343575341"
RULES = {1: "tls-handshake-failures", 2: "tls-unknown-psk", 3: "tls-bad-records", 4: "http-password-guessing",
         5: "http-malformed-flood", 6: "connection-flood", 7: "slow-clients"}


def make_image(workdir: Path, name: str, detection: dict | None = None, tls: dict | None = None,
               scws: dict | None = None, admin: dict | None = None, card: dict | None = None) -> tuple[Path, Path]:
    """The demo profile with some [detection], [tls], [scws] or [admin] values replaced; (image,
    credentials). Without `admin` the card's link to an administration server is off, so that its
    incidents stay in its queue for the test to read (docs/protocol.md section 16)."""
    admin = {"enabled": False} if admin is None else admin
    profile = workdir / f"profile-{name}"
    shutil.copytree(ROOT / "profiles" / "demo", profile)
    toml = (profile / "card.toml").read_text()
    for section, values in (("detection", detection), ("tls", tls), ("scws", scws), ("admin", admin),
                            ("card", card)):
        for key, value in (values or {}).items():
            text = value if isinstance(value, str) and value.startswith("{") else json.dumps(value)
            pattern = re.compile(rf"(\[{section}\][^\[]*?)^{key} = [^\n#]*", re.S | re.M)
            toml, n = pattern.subn(lambda m: m.group(1) + f"{key} = {text} ", toml)
            if n == 0:
                toml = toml.replace(f"[{section}]\n", f"[{section}]\n{key} = {text}\n", 1)
    (profile / "card.toml").write_text(toml)
    image = workdir / f"{name}.img"
    creds = workdir / f"{name}-credentials"
    out = run([scws_bin(), "provision", "--profile", str(profile), "--out", str(image), "--credentials", str(creds)],
              timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return image, creds


@dataclass
class Incident:
    rule: str
    flags: int
    last_kind: int
    sequence: int
    iccid: bytes
    port: int
    events: int
    threshold: int
    window: int
    detail: int
    first_time: int
    last_time: int
    evidence: bytes


def parse_incident(record: bytes) -> Incident:
    assert len(record) == 60 and record[0] == 1
    port, events, threshold, window, detail, first, last = struct.unpack(">HHHHHII", record[18:36])
    return Incident(RULES.get(record[1], "?"), record[2], record[3], struct.unpack(">I", record[4:8])[0],
                    record[8:18], port, events, threshold, window, detail, first, last,
                    record[38:38 + record[37]])


def ok(sw: int) -> bool:
    """90 00, or 91 XX: done, and a proactive command of XX bytes waits for the terminal (the gateway
    shares the card; TS 102 221 10.2.1.1)."""
    return sw == 0x9000 or sw >> 8 == 0x91


class Admin:
    """The admin applet on a logical channel of its own, beside the gateway's channel 0 (pyscard,
    shared mode)."""

    def __init__(self, reader: str, key: str = DEMO_ADM_KEY, verify: bool = True):
        self.s = PcscSession(reader)
        data, sw = self.s.transmit("0070000001")  # MANAGE CHANNEL open (ISO/IEC 7816-4 11.1.2)
        assert ok(sw), hex(sw)
        self.cla = data[0]
        assert ok(self.transmit(f"A4040006{ADMIN_AID}")[1])
        if verify:
            assert ok(self.s.transmit("0020000A08" + key)[1])

    def transmit(self, rest: str, proprietary: bool = False) -> tuple[bytes, int]:
        cla = (0x80 if proprietary else 0x00) | self.cla
        return self.s.transmit(f"{cla:02X}{rest}")

    def summary(self) -> dict:
        data, sw = self.transmit("50000014", True)
        assert ok(sw), hex(sw)
        first, last, nxt, dropped = struct.unpack(">IIII", data[4:20])
        return {"capacity": data[0], "count": data[1], "damaged": bool(data[2] & 1), "first": first, "last": last,
                "next": nxt, "dropped": dropped}

    def incidents(self) -> list[Incident]:
        out = []
        for i in range(self.summary()["count"]):
            data, sw = self.transmit(f"52{i:02X}003C", True)
            assert ok(sw), hex(sw)
            out.append(parse_incident(data))
        return out

    def port_states(self) -> dict[int, dict]:
        data, sw = self.transmit("5A000000", True)
        assert ok(sw), hex(sw)
        states = {}
        for i in range(data[0]):
            port, closed, rule, incident, closed_at, reopen_in = struct.unpack(">HBBIII", data[1 + 16 * i:17 + 16 * i])
            states[port] = {"closed": bool(closed), "rule": RULES.get(rule), "incident": incident,
                            "reopen_in": reopen_in}
        return states

    def close(self) -> None:
        self.s.transmit(f"{self.cla:02X}A4040C00")  # nothing selected on the channel any more
        self.s.transmit(f"007080{self.cla & 0x03:02X}00")  # MANAGE CHANNEL close
        self.s.close()


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except (ConnectionRefusedError, socket.timeout):
        return True


def wait_port_closed(gateway, card_port: int, local_port: int, timeout: float = 30) -> None:
    """The gateway stopped listening for the card port (all its channels closed by the card) and a
    new connection is refused."""
    line = re.compile(rf"stopped listening on [0-9.]+:{local_port} \(card port {card_port}\)")
    wait_for(lambda: line.search(gateway.process.output()), timeout, f"the gateway to stop listening for {card_port}")
    assert refused(local_port)
