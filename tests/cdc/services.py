"""Real services for the change-event tests, started on loopback ports in temporary folders:
PostgreSQL (Debian's package, ``wal_level=logical``) and Kafka Connect (``connect-runtime`` from
Maven Central, tools/connect/pom.xml) with Debezium's PostgreSQL connector."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deltastream.kafka.apache import check_java, resolve_classpath
from deltastream.kafka.embedded import HOST, free_port

ROOT = Path(__file__).resolve().parents[2]
CONNECT_POM = ROOT / "tools" / "connect" / "pom.xml"
#: Where Debian puts PostgreSQL's programs (any major version).
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs, or ``None`` when it is not installed."""
    found = [b for b in PG_BIN if (b / "initdb").is_file()]
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    """One PostgreSQL server in a folder of its own, run as the ``postgres`` user when the tests
    run as root (PostgreSQL refuses to run as root; that user cannot enter pytest's folders)."""

    def __init__(self, bin_dir: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="deltastream-postgres-"))
        self.bin = bin_dir
        self.port = free_port(HOST)
        self.data = self.folder / "data"
        self.user: str | None = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)

    def start(self) -> Postgres:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c wal_level=logical "
            "-c max_wal_senders=4 -c max_replication_slots=4 -c fsync=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        return self

    def sql(self, statements: str) -> str:
        """Run SQL with psql; its output."""
        psql = shutil.which("psql") or str(self.bin / "psql")
        done = self._run(
            psql,
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            statements,
        )
        return done.stdout

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class Connect:
    """One Kafka Connect worker in standalone mode, its REST API on a free port; connectors are
    added through that API."""

    def __init__(self, folder: Path, bootstrap: str) -> None:
        self.folder = folder
        self.bootstrap = bootstrap
        self.port = free_port(HOST)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 120) -> Connect:
        self.folder.mkdir(parents=True, exist_ok=True)
        worker = {
            "bootstrap.servers": self.bootstrap,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "offset.storage.file.filename": str(self.folder / "offsets"),
            "offset.flush.interval.ms": "1000",
            "listeners": f"http://{HOST}:{self.port}",
            "plugin.discovery": "only_scan",
        }
        properties = self.folder / "worker.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in worker.items()))
        log4j = self.folder / "log4j2.properties"
        log4j.write_text(
            "appender.f.type = File\nappender.f.name = f\n"
            f"appender.f.fileName = {self.folder / 'connect.log'}\n"
            "appender.f.layout.type = PatternLayout\nappender.f.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = info\nrootLogger.appenderRef.f.ref = f\n"
        )
        classpath = resolve_classpath(pom=CONNECT_POM)
        command = [check_java(), "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
        command += [f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
        command += ["org.apache.kafka.connect.cli.ConnectStandalone", str(properties)]
        output = (self.folder / "stdout.log").open("wb")
        self.process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        output.close()
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Kafka Connect did not start: see {self.folder / 'connect.log'}")
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        """Whether the REST API answers (while it starts, Jetty answers 404 to every path)."""
        try:
            return self.call("GET", "/connectors") is not None
        except RuntimeError:
            return False

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"Kafka Connect {method} {path}: {exc.code} {exc.read()[:500]!r}") from None
        except (urllib.error.URLError, OSError):
            return None
        return json.loads(raw) if raw else {}

    def add(self, name: str, config: dict[str, str]) -> None:
        self.call("POST", "/connectors", {"name": name, "config": config})

    def running(self, name: str) -> bool:
        status = self.call("GET", f"/connectors/{name}/status") or {}
        tasks: Sequence[dict[str, Any]] = status.get("tasks") or []
        if any(t.get("state") == "FAILED" for t in tasks):
            raise RuntimeError(f"connector {name} failed: {tasks[0].get('trace', '')[:2000]}")
        return bool(tasks) and all(t.get("state") == "RUNNING" for t in tasks)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def debezium_postgres(pg: Postgres, prefix: str, tables: Sequence[str], schemas: bool) -> dict[str, str]:
    """A Debezium PostgreSQL connector's config for ``tables`` (``public.<name>``), its events in
    topics ``<prefix>.public.<name>``, with or without the schema envelope."""
    enabled = "true" if schemas else "false"
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": HOST,
        "database.port": str(pg.port),
        "database.user": "postgres",
        "database.password": "unused",
        "database.dbname": "postgres",
        "topic.prefix": prefix,
        "table.include.list": ",".join(f"public.{t}" for t in tables),
        "slot.name": prefix.replace("-", "_"),
        "publication.name": f"{prefix.replace('-', '_')}_publication",
        "publication.autocreate.mode": "filtered",
        "snapshot.mode": "initial",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": enabled,
        "value.converter.schemas.enable": enabled,
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
    }
