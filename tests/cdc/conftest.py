"""PostgreSQL and Kafka Connect with Debezium, once per session, for the change-event tests.

They need Java 17+ and Maven (for Connect) and PostgreSQL's server programs (Debian's
``postgresql`` package); without them these tests are skipped (CI installs all three). Connect
writes to the session's broker, Apache Kafka (``--broker kafka``); on the embedded broker they are
skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from ..conftest import Broker
from .services import Connect, Postgres, postgres_bin


def needs_apache_kafka(broker_kind: str) -> None:
    if broker_kind != "kafka":
        pytest.skip("Kafka Connect is tested against Apache Kafka: pytest -m broker --broker kafka")


@pytest.fixture(scope="session")
def postgres(broker_kind: str) -> Iterator[Postgres]:
    needs_apache_kafka(broker_kind)
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server programs are not installed (apt-get install postgresql)")
    server = Postgres(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def connect(tmp_path_factory: pytest.TempPathFactory, broker: Broker, broker_kind: str) -> Iterator[Connect]:
    needs_apache_kafka(broker_kind)
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("Kafka Connect needs java (17+) and mvn on PATH")
    worker = Connect(tmp_path_factory.mktemp("connect"), broker.bootstrap_servers).start()
    try:
        yield worker
    finally:
        worker.stop()
