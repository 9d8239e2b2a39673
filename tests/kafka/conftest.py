"""Apache Kafka only: the session's broker when the run is ``--broker kafka``, and a second one with
a SASL_SSL listener (SCRAM-SHA-512, a certificate authority made here, ACLs enforced)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern, ResourceType

from deltastream.kafka.apache import SCRAM_MECHANISM, ApacheKafka, SaslListener
from deltastream.kafka.embedded import free_port

from ..conftest import KAFKA_TEST_PROPERTIES, Broker

#: The secure broker's users and their passwords: distinct enough to be found in any output.
USERS = {
    "admin": "admin-pw-Qx81",
    "reader": "reader-pw-Zt42",
    "nobody": "nobody-pw-Lk07",
    "groupless": "groupless-pw-Vm55",
}


@pytest.fixture
def kafka(broker: Broker, broker_kind: str) -> ApacheKafka:
    """The session's broker, when it is Apache Kafka (``--broker kafka``)."""
    if broker_kind != "kafka":
        pytest.skip("Apache Kafka only: run with --broker kafka")
    assert isinstance(broker, ApacheKafka)
    return broker


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate authority: its key and certificate (PEM)."""
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl(
        "req", "-x509", "-new", "-key", key, "-sha256", "-days", "30", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        "-out", cert,
    )  # fmt: skip
    return key, cert


def make_keystore(folder: Path, ca_key: Path, ca_cert: Path) -> Path:
    """Kafka's PEM keystore for 127.0.0.1 and localhost, signed by the CA: key, then the chain."""
    key, csr, cert, ext = (folder / name for name in ("broker.key", "broker.csr", "broker.crt", "ext"))
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl("req", "-new", "-key", key, "-subj", "/CN=localhost", "-out", csr)
    openssl(
        "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-days", "30",
        "-sha256", "-extfile", ext, "-out", cert,
    )  # fmt: skip
    keystore = folder / "broker.pem"
    keystore.write_text(key.read_text() + cert.read_text() + ca_cert.read_text())
    return keystore


@dataclass(frozen=True)
class Secure:
    """The secure broker: its SASL_SSL address, the CA that signed it and one it never saw."""

    broker: ApacheKafka
    servers: str
    ca: Path
    other_ca: Path

    def client(self, user: str = "admin") -> dict[str, Any]:
        """kafka-python settings for ``user`` on the SASL_SSL listener."""
        return {
            "bootstrap_servers": self.servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_plain_username": user,
            "sasl_plain_password": USERS[user],
            "ssl_cafile": str(self.ca),
        }

    def grant(self, user: str, topics: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> None:
        """READ and DESCRIBE on ``topics``, READ on ``groups``, for ``user``."""
        principal = f"User:{user}"
        allow = ACLPermissionType.ALLOW
        acls = [
            ACL(principal, "*", op, allow, ResourcePattern(ResourceType.TOPIC, topic))
            for topic in topics
            for op in (ACLOperation.READ, ACLOperation.DESCRIBE)
        ]
        acls += [
            ACL(principal, "*", ACLOperation.READ, allow, ResourcePattern(ResourceType.GROUP, group))
            for group in groups
        ]
        admin = KafkaAdminClient(**self.client())
        try:
            assert not admin.create_acls(acls)["failed"]
        finally:
            admin.close()


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory, broker_kind: str) -> Iterator[Secure]:
    """Apache Kafka with a SASL_SSL listener: SCRAM-SHA-512 users, a test CA, ACLs enforced."""
    if broker_kind != "kafka":
        pytest.skip("Apache Kafka only: run with --broker kafka")
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate authority")
    folder = tmp_path_factory.mktemp("secure")
    ca_key, ca = make_ca(folder, "deltastream test CA")
    _, other_ca = make_ca(folder, "another CA")
    listener = SaslListener(free_port(), make_keystore(folder, ca_key, ca), USERS)
    broker = ApacheKafka(folder / "kafka", sasl=listener, properties=KAFKA_TEST_PROPERTIES)
    with broker:
        yield Secure(broker, f"127.0.0.1:{listener.port}", ca, other_ca)
