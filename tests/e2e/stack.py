"""The real PC/SC stack for end-to-end tests: a private pcscd with a vpcd reader on ports chosen per
run, the scws card process, and helpers to wait for conditions with a bound (never a fixed sleep).

Tests run inside a private mount namespace with a tmpfs on /run/pcscd (scripts/test.sh does that),
so the pcscd started here never meets the system one. Everything started is stopped by process id.
"""
from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from smartcard.scard import (SCARD_PROTOCOL_T0, SCARD_PROTOCOL_T1, SCARD_S_SUCCESS, SCARD_SCOPE_USER,
                             SCARD_SHARE_SHARED, SCARD_STATE_PRESENT, SCARD_STATE_UNAWARE,
                             SCARD_LEAVE_CARD, SCardConnect, SCardDisconnect,
                             SCardEstablishContext, SCardGetStatusChange, SCardListReaders,
                             SCardReleaseContext, SCardTransmit)

ROOT = Path(__file__).resolve().parents[2]
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def build_dir() -> Path:
    return Path(os.environ.get("SCWS_BUILD_DIR", ROOT / "build"))


def scws_bin() -> str:
    return str(build_dir() / "sim" / "scws")


def wait_for(condition, timeout: float, what: str, interval: float = 0.02):
    """Polls condition() until it returns a truthy value or the bound runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # polling interval of a bounded wait, not synchronisation


def port_pair_free(port: int) -> bool:
    for p in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", p))
            except OSError:
                return False
    return True


def choose_vpcd_port() -> int:
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(200):
        port = rng.randrange(20000, 60000, 2)
        if port_pair_free(port):
            return port
    raise RuntimeError("no free port pair for vpcd")


class Process:
    """A child process with its output in a log file; stop() ends exactly this pid."""

    def __init__(self, args: list[str], log: Path, env: dict | None = None):
        self.args = args
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


class Pcscd:
    """pcscd in the foreground with a private reader configuration holding one vpcd reader."""

    def __init__(self, workdir: Path, friendly_name: str = "scws test"):
        self.workdir = workdir
        self.port = choose_vpcd_port()
        self.friendly_name = friendly_name
        self.config_dir = workdir / "reader.conf.d"  # reader files only: pcscd parses everything here
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "vpcd").write_text(
            f'FRIENDLYNAME "{friendly_name}"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    0x{self.port:04X}\n")
        self.process: Process | None = None

    @property
    def readers(self) -> list[str]:
        return [f"{self.friendly_name} 00 00", f"{self.friendly_name} 00 01"]

    def vpcd_address(self, slot: int = 0) -> str:
        return f"127.0.0.1:{self.port + slot}"

    def start(self) -> "Pcscd":
        if PCSCD_SOCKET.exists() and _socket_answers(PCSCD_SOCKET):
            raise RuntimeError("another pcscd is running; run the tests through scripts/test.sh "
                               "(private mount namespace)")
        self.process = Process(["pcscd", "-f", "-a", "-c", str(self.config_dir)],
                               self.workdir / "pcscd.log")
        wait_for(lambda: set(self.readers) <= set(list_readers()), 10, "pcscd and the vpcd reader")
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def list_readers() -> list[str]:
    hresult, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        return []
    try:
        hresult, readers = SCardListReaders(ctx, [])
        return list(readers) if hresult == SCARD_S_SUCCESS else []
    finally:
        SCardReleaseContext(ctx)


def card_present(reader: str) -> bool:
    hresult, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        return False
    try:
        # Blocks until the state changes or 200 ms pass: waits on pcscd, not on a clock.
        hresult, states = SCardGetStatusChange(ctx, 200, [(reader, SCARD_STATE_UNAWARE)])
        if hresult != SCARD_S_SUCCESS:
            return False
        return bool(states[0][1] & SCARD_STATE_PRESENT)
    finally:
        SCardReleaseContext(ctx)


class Card:
    """`scws card` connected to a vpcd slot of a Pcscd."""

    def __init__(self, pcscd: Pcscd, image: Path, slot: int = 0, extra: list[str] | None = None):
        self.pcscd = pcscd
        self.image = image
        self.slot = slot
        self.extra = extra or []
        self.process: Process | None = None

    @property
    def reader(self) -> str:
        return self.pcscd.readers[self.slot]

    def start(self, wait: bool = True) -> "Card":
        args = [scws_bin(), "card", "--image", str(self.image), "--vpcd",
                self.pcscd.vpcd_address(self.slot)] + self.extra
        self.process = Process(args, self.pcscd.workdir / f"card{self.slot}-{time.monotonic_ns()}.log")
        if wait:
            wait_for(lambda: card_present(self.reader) or not self.process.alive(), 10,
                     "the card in the reader")
            if not self.process.alive():
                raise RuntimeError("scws card exited:\n" + self.process.output())
        return self

    def stop(self) -> int | None:
        if self.process:
            rc = self.process.stop()
            return rc
        return None


class PcscSession:
    """A pyscard connection: transmit(hex) -> (data bytes, sw)."""

    def __init__(self, reader: str):
        hresult, self.ctx = SCardEstablishContext(SCARD_SCOPE_USER)
        assert hresult == SCARD_S_SUCCESS
        hresult, self.card, self.protocol = SCardConnect(self.ctx, reader, SCARD_SHARE_SHARED,
                                                         SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1)
        assert hresult == SCARD_S_SUCCESS, f"SCardConnect failed: {hresult:#x}"

    def transmit(self, apdu: str | bytes) -> tuple[bytes, int]:
        data = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        hresult, response = SCardTransmit(self.card, self.protocol, list(data))
        assert hresult == SCARD_S_SUCCESS, f"SCardTransmit failed: {hresult:#x}"
        assert len(response) >= 2
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def close(self) -> None:
        SCardDisconnect(self.card, SCARD_LEAVE_CARD)
        SCardReleaseContext(self.ctx)


def run(args: list[str], timeout: float = 30, check: bool = False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=check,
                          stdin=subprocess.DEVNULL, **kw)


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


LISTEN_LINE = re.compile(r"gateway: channel (\d+) listening on ([0-9a-fA-F.:\[\]]+):(\d+) \(card port (\d+)")
SERVING_LINE = re.compile(r"scws run: serving http://([0-9.]+):(\d+)/")


class Gateway:
    """`scws gateway --reader ...` with the card's ports mapped to ephemeral local ports (kept across
    card sessions), so parallel runs never collide. local_port() reads the port from its output."""

    def __init__(self, reader: str, workdir: Path, card_ports: tuple[int, ...] = (3516, 10443),
                 extra: list[str] | None = None):
        self.reader = reader
        self.workdir = workdir
        self.card_ports = card_ports
        self.extra = extra or []
        self.process: Process | None = None

    def start(self) -> "Gateway":
        args = [scws_bin(), "gateway", "--reader", self.reader, "--poll-interval", "200"]
        for p in self.card_ports:
            args += ["--map", f"{p}=0"]
        self.process = Process(args + self.extra, self.workdir / f"gateway-{time.monotonic_ns()}.log")
        return self

    def listening(self, card_port: int = 3516) -> list[tuple[int, int]]:
        """(channel, local port) for every 'listening' line seen so far for card_port."""
        out = self.process.output() if self.process else ""
        return [(int(m.group(1)), int(m.group(3))) for m in LISTEN_LINE.finditer(out)
                if int(m.group(4)) == card_port]

    def local_port(self, card_port: int = 3516, channels: int = 1, timeout: float = 20) -> int:
        def ready():
            if not self.process.alive():
                raise RuntimeError("scws gateway exited:\n" + self.process.output())
            seen = self.listening(card_port)
            return seen[-1][1] if len(seen) >= channels else None
        return wait_for(ready, timeout, f"{channels} channel(s) listening for card port {card_port}")

    def stop(self) -> int | None:
        return self.process.stop() if self.process else None


class Run:
    """`scws run` with a private state folder and an ephemeral HTTP port."""

    def __init__(self, workdir: Path, extra: list[str] | None = None):
        self.workdir = workdir
        self.state = workdir / "run-state"
        self.extra = extra or []
        self.process: Process | None = None

    def start(self) -> "Run":
        args = [scws_bin(), "run", "--state", str(self.state), "--http-port", "0", "--tls-port", "0"] + self.extra
        self.process = Process(args, self.workdir / f"run-{time.monotonic_ns()}.log")
        return self

    def port(self, timeout: float = 20) -> int:
        def ready():
            if not self.process.alive():
                raise RuntimeError("scws run exited:\n" + self.process.output())
            m = SERVING_LINE.search(self.process.output())
            return int(m.group(2)) if m else None
        return wait_for(ready, timeout, "scws run to serve")

    def stop(self) -> int | None:
        return self.process.stop() if self.process else None


def http_get(port: int, path: str = "/", timeout: float = 20) -> bytes:
    """curl, the independent client: the body, or an exception with curl's error."""
    out = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(timeout), f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, timeout=timeout + 5, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"curl {path}: exit {out.returncode}: {out.stderr.decode(errors='replace')}")
    return out.stdout
