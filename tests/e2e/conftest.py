import shutil

import pytest

from admin_stack import Postgres
from stack import Card, Pcscd, temp_dir


@pytest.fixture
def workdir():
    d = temp_dir("scws-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pcscd(workdir):
    daemon = Pcscd(workdir).start()
    yield daemon
    daemon.stop()


@pytest.fixture
def card(pcscd, workdir):
    c = Card(pcscd, workdir / "card.img").start()
    yield c
    c.stop()


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster (initdb in a temporary folder, no system service)."""
    pg = Postgres().start()
    yield pg
    pg.stop()
