"""Apache Kafka as a real broker: one KRaft node (broker and controller) run from Maven Central's jars.

``tools/kafka/pom.xml`` pins the version. Maven resolves it once into a cache (by default
``~/.cache/deltastream/kafka``, or ``$DELTASTREAM_KAFKA_CACHE``), and the resolved classpath is kept
there beside it, so a start runs Maven again only when the pom changed or a jar went missing. The
broker's data (its topics, messages, group offsets and users) stays in ``data_dir`` between starts.
Needs ``java`` (17 or newer) and, until the classpath is cached, ``mvn``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from deltastream.errors import PipelineError
from deltastream.kafka.embedded import HOST, free_port, port_open

log = logging.getLogger(__name__)

#: The version tools/kafka/pom.xml pins (and docker-compose.yml runs).
KAFKA_VERSION = "4.4.0"
POM = Path(__file__).resolve().parents[2] / "tools" / "kafka" / "pom.xml"
SCRAM_MECHANISM = "SCRAM-SHA-512"
JAVA_MIN = 17
#: A broker with a few topics needs little: a small heap, one GC thread and the quick JIT start it
#: in about 4 s on 2 cores and keep it near 150 MB (Kafka's scripts give it a 1 GB heap).
JVM_OPTS = (
    "-Xms64m",
    "-Xmx256m",
    "-XX:MaxDirectMemorySize=64m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-XX:ReservedCodeCacheSize=48m",
    "-Djava.awt.headless=true",
    # log4j's own shutdown hook would end logging before Kafka's hook has shut the broker down.
    "-Dlog4j2.shutdownHookEnabled=false",
)
INSTALL = {
    "java": "install a JDK 17 or newer (Debian, Ubuntu: apt-get install openjdk-17-jdk-headless)",
    "mvn": "install Maven (Debian, Ubuntu: apt-get install maven)",
}
LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = {pattern}
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = {pattern}
appender.console.filter.level.type = ThresholdFilter
appender.console.filter.level.level = {console_level}
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
# Each of these prints its whole configuration, ~300 lines, several times at start-up.
logger.config.name = kafka.server.KafkaConfig
logger.config.level = warn
logger.abstract.name = org.apache.kafka.common.config.AbstractConfig
logger.abstract.level = warn
"""


class KafkaSetupError(PipelineError):
    """Apache Kafka could not be fetched, prepared or started; the message says what to do."""


def require(tool: str) -> str:
    """The path of ``tool`` on PATH, or one line saying what to install."""
    found = shutil.which(tool)
    if found is None:
        raise KafkaSetupError(f"`{tool}` is not on PATH; Apache Kafka needs it: {INSTALL[tool]}")
    return found


def default_cache() -> Path:
    """Where Maven's jars and the resolved classpath are kept: ``$DELTASTREAM_KAFKA_CACHE``, else
    ``deltastream/kafka`` in the user's cache folder (``$XDG_CACHE_HOME``, ``~/.cache``)."""
    if given := os.environ.get("DELTASTREAM_KAFKA_CACHE"):
        return Path(given)
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "deltastream" / "kafka"


def check_java() -> str:
    """The ``java`` to run Kafka with: on PATH and at least :data:`JAVA_MIN` ("1.8.0" is 8)."""
    java = require("java")
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r'version "(?:1\.)?(\d+)', proc.stderr + proc.stdout)
    if found is not None and int(found.group(1)) < JAVA_MIN:
        version = found.group(1)
        raise KafkaSetupError(
            f"{java} is Java {version}; Apache Kafka {KAFKA_VERSION} needs {INSTALL['java']}"
        )
    return java


def resolve_classpath(cache: Path | None = None, pom: Path = POM, timeout_s: float = 900.0) -> str:
    """Apache Kafka's classpath: read from the cache, or resolved by Maven into it first.

    The cache file is named by the pom's digest: another pom resolves anew, and so does a cached
    classpath one of whose jars has gone.
    """
    cache = cache or default_cache()
    if not pom.is_file():
        raise KafkaSetupError(f"{pom} is missing: run from a clone of the project")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    cached = cache / f"classpath-{digest}.txt"
    if cached.is_file():
        classpath = cached.read_text(encoding="utf-8").strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = require("mvn")
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"classpath-{digest}.{os.getpid()}.part"
    log.info("fetching %s with Maven into %s (once)", pom.relative_to(POM.parents[2]), cache)
    command = [mvn, "-q", "-B", "-f", str(pom), "dependency:build-classpath"]
    command += [f"-Dmdep.outputFile={partial}", f"-Dmaven.repo.local={cache / 'repository'}"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln] or ["no output"]
        raise KafkaSetupError(
            f"Maven could not fetch what {pom} names (exit status {proc.returncode}): "
            f"{lines[0].strip()}; is Maven Central reachable?"
        )
    partial.replace(cached)
    return cached.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class SaslListener:
    """A second listener, SASL_SSL with SCRAM-SHA-512, where an authorizer enforces ACLs.

    ``keystore`` is a PEM file: an unencrypted PKCS#8 key, then the certificate chain. ``users``
    (name to password) are created when the data folder is formatted, and only then; ``admin`` is
    one of them, and a super user. Kafka's own traffic (the controller, and the broker's PLAINTEXT
    listener, whose clients are ANONYMOUS) must be super too: so the PLAINTEXT port is open to
    anyone, and only this listener is secure.
    """

    port: int
    keystore: Path
    users: Mapping[str, str]
    admin: str = "admin"


def server_properties(
    data_dir: Path, host: str, port: int, controller_port: int, sasl: SaslListener | None
) -> dict[str, str]:
    """A single node's server.properties: broker and controller, tuned for one machine."""
    listeners = [f"PLAINTEXT://{host}:{port}", f"CONTROLLER://{host}:{controller_port}"]
    advertised = [f"PLAINTEXT://{host}:{port}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir / "kraft"),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # One partition for each internal topic (50 by default): the first group, transaction
        # or share group then starts in a fraction of a second.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "background.threads": "2",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(2 << 20),
        "broker.heartbeat.interval.ms": "500",
        # After a kill, the broker's old registration holds its restart back until this expires
        # (9 s by default).
        "broker.session.timeout.ms": "3000",
    }
    if sasl is not None:
        listeners.insert(1, f"SASL_SSL://{host}:{sasl.port}")
        advertised.append(f"SASL_SSL://{host}:{sasl.port}")
        protocols.append("SASL_SSL:SASL_SSL")
        props |= {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(sasl.keystore),
            "listener.name.sasl_ssl.ssl.client.auth": "none",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{sasl.admin};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }
    return props | {
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(protocols),
    }


def prepare(
    data_dir: Path, port: int, sasl: SaslListener | None, properties: Mapping[str, str], console: bool
) -> list[str]:
    """Write the broker's config into ``data_dir``, format it if new; the command that runs it.

    ``console`` sends the broker's errors to its stdout too (its log is
    ``logs/server.log`` either way).
    """
    java = check_java()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log4j = data_dir / "log4j2.properties"
    pattern = "[%d] %p %m (%c)%n"
    level = "ERROR" if console else "OFF"
    log4j.write_text(LOG4J2.format(log_file=logs / "server.log", console_level=level, pattern=pattern))
    command = [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={logs}"]
    command += ["-cp", resolve_classpath()]
    props = server_properties(data_dir, HOST, port, free_port(HOST), sasl) | dict(properties)
    config = data_dir / "server.properties"
    config.write_text("".join(f"{k}={v.replace(chr(92), chr(92) * 2)}\n" for k, v in props.items()))
    if not (data_dir / "kraft" / "meta.properties").is_file():
        # Kafka's own ids never start with "-", which its tools would read as an option: the top bit
        # off keeps the first character a letter.
        raw = bytearray(uuid.uuid4().bytes)
        raw[0] &= 0x7F
        cluster = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        args = ["format", "-t", cluster, "-c", str(config)]
        for name, password in (sasl.users if sasl else {}).items():
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
        proc = subprocess.run(
            [*command, "kafka.tools.StorageTool", *args], capture_output=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            said = proc.stderr.decode(errors="replace").strip().splitlines() or ["nothing said"]
            detail = last_error(logs / "server.log") or said[-1][:300]
            raise KafkaSetupError(f"cannot format {data_dir} for Apache Kafka: {detail}")
    return [*command, "kafka.Kafka", str(config)]


class ApacheKafka:
    """One Apache Kafka node on a loopback port (a free one unless given), its data kept in
    ``data_dir``.

    ``properties`` have the last word on server.properties (the tests allow shorter group
    sessions with ``group.min.session.timeout.ms``). The broker's log is ``logs/server.log`` in
    ``data_dir``; ``output`` (a file or descriptor) gets its errors too, and the JVM's
    own output, which otherwise goes to ``logs/stdout.log``.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        sasl: SaslListener | None = None,
        properties: Mapping[str, str] | None = None,
        output: IO[bytes] | int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.host = HOST
        self.port = port or free_port(HOST)
        self.sasl = sasl
        self.properties = dict(properties or {})
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout_s: float = 120.0) -> ApacheKafka:
        """Format ``data_dir`` if new, start the broker, and return once it answers requests."""
        if port_open(self.host, self.port):
            raise KafkaSetupError(
                f"port {self.port} on {self.host} is already in use (a broker already running?); "
                "stop what listens there or choose another port with --port"
            )
        command = prepare(self.data_dir, self.port, self.sasl, self.properties, self.output is not None)
        output = self.output
        if output is None:
            output = (self.log_file.parent / "stdout.log").open("ab")
        try:
            # A session of its own: Ctrl-C in a terminal reaches only this process, which then
            # stops the broker cleanly.
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.output is None and not isinstance(output, int):
                output.close()
        try:
            self._wait_ready(timeout_s)
        except BaseException:  # Ctrl-C included: never leave a broker behind
            self.stop(timeout_s=10)
            raise
        log.debug("Apache Kafka pid %d ready on %s", self.pid, self.bootstrap_servers)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while not api_versions_ok(self.host, self.port):
            if self.process.poll() is not None:
                raise KafkaSetupError(
                    f"Apache Kafka exited with status {self.process.returncode} at start: "
                    f"{last_error(self.log_file) or 'no error logged'} (see {self.log_file})"
                )
            if time.monotonic() > deadline:
                raise KafkaSetupError(f"Apache Kafka did not answer on {self.port} in {timeout_s:.0f} s")
            time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Stop the broker cleanly, or kill it after ``timeout_s`` (0: at once, as a crash would);
        its exit status (143 after a clean shutdown), ``None`` when it was not running."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if timeout_s > 0 else signal.SIGKILL)
            try:
                process.wait(timeout_s or None)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def last_error(log_file: Path) -> str | None:
    """The last ERROR line of the broker's log, shortened, or ``None``."""
    try:
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    errors = [line for line in lines if "] ERROR " in line]
    return errors[-1].split("] ERROR ", 1)[1][:300] if errors else None


def api_versions_ok(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether a Kafka broker on ``host:port`` answers an ApiVersions (v0) request without error."""
    client_id = b"deltastream"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as sock,
            sock.makefile("rb") as answers,
        ):
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", answers.read(4))
            answer = answers.read(size)
    except (OSError, struct.error):
        return False
    return len(answer) >= 6 and struct.unpack(">ih", answer[:6]) == (7, 0)
