"""Apicurio Registry on a loopback port: a real Schema Registry (Confluent's API) from Maven Central.

``tools/registry/pom.xml`` pins the version; Maven unpacks it once into a cache beside Apache
Kafka's (``registry`` next to :func:`deltastream.kafka.apache.default_cache`). It keeps its
schemas in memory, so each start is an empty registry. Needs ``java`` 17 or newer and, until it
is cached, ``mvn``. ``python -m deltastream.kafka.registry`` runs one in the foreground (on
``--port``, 8081 by default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from deltastream.kafka.apache import KafkaSetupError, check_java, default_cache, require
from deltastream.kafka.embedded import HOST, free_port

log = logging.getLogger(__name__)

REGISTRY_VERSION = "2.6.13.Final"
POM = Path(__file__).resolve().parents[2] / "tools" / "registry" / "pom.xml"
#: Where its Confluent-compatible API answers.
API = "/apis/ccompat/v7"
JVM_OPTS = ("-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")


def cached_jar(cache: Path | None = None) -> Path:
    """Where the registry's runner jar is once Maven has unpacked it."""
    cache = cache or default_cache().parent / "registry"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    return cache / f"app-{digest}" / f"apicurio-registry-app-{REGISTRY_VERSION}-runner.jar"


def server_jar_cached() -> bool:
    return cached_jar().is_file()


def fetch(cache: Path | None = None, timeout_s: float = 900.0) -> Path:
    """The registry's runner jar: from the cache, or unpacked there by Maven first."""
    jar = cached_jar(cache)
    if jar.is_file():
        return jar
    cache, folder = jar.parent.parent, jar.parent
    digest = folder.name.removeprefix("app-")
    mvn = require("mvn")
    log.info("fetching Apicurio Registry %s with Maven into %s (once)", REGISTRY_VERSION, cache)
    partial = cache / f"app-{digest}.part"
    command = [mvn, "-q", "-B", "-f", str(POM), "dependency:unpack-dependencies"]
    command += [f"-DoutputDirectory={partial}", f"-Dmaven.repo.local={default_cache() / 'repository'}"]
    # Maven's own markers of what it unpacked go beside it, not into the project's folder.
    command += [f"-DmarkersDirectory={cache / 'markers'}", "-DoverWriteReleases=true"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0 or not (partial / jar.name).is_file():
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln] or ["no output"]
        raise KafkaSetupError(
            f"Maven could not fetch Apicurio Registry {REGISTRY_VERSION} from {POM} (exit status "
            f"{proc.returncode}): {lines[0].strip()}; is Maven Central reachable?"
        )
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return jar


class RegistryServer:
    """One in-memory registry on a loopback port (a free one unless given)."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port(HOST)
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL of its Confluent-compatible API: ``[kafka] schema_registry_url``."""
        return f"http://{HOST}:{self.port}{API}"

    def start(self, timeout_s: float = 120.0) -> RegistryServer:
        command = [check_java(), *JVM_OPTS, f"-Dquarkus.http.port={self.port}", f"-Dquarkus.http.host={HOST}"]
        command += ["-jar", str(fetch())]
        output = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log_file:
                output.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        try:
            while not self.ready():
                if self.process.poll() is not None:
                    raise KafkaSetupError(
                        f"Apicurio Registry exited with status {self.process.returncode} at start"
                    )
                if time.monotonic() > deadline:
                    raise KafkaSetupError(
                        f"Apicurio Registry did not answer on {self.port} in {timeout_s:.0f} s"
                    )
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/subjects", timeout=2) as answer:
                return isinstance(json.loads(answer.read()), list)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self, timeout_s: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An in-memory Schema Registry (Apicurio) in the foreground.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--fetch", action="store_true", help="only fetch it with Maven, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.fetch:
            print(fetch())
            return 0
        server = RegistryServer(args.port).start()
    except KafkaSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f'Schema Registry ready: schema_registry_url = "{server.url}" (Ctrl-C stops it)', flush=True)
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
