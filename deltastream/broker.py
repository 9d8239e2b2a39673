"""Run a Kafka broker in the foreground, for the three-terminal flow.

    python -m deltastream.broker            # port taken from config.toml
    python -m deltastream.broker --port 19092
    python -m deltastream.broker --kafka    # Apache Kafka, its data kept on disk

The embedded broker is Tansu (:mod:`deltastream.kafka.embedded`), in memory. ``--kafka`` runs
Apache Kafka instead (:mod:`deltastream.kafka.apache`, Java 17+), its data in a folder beside the
Delta tables, so that a restart keeps every topic and message. Either runs in the foreground;
Ctrl-C (or SIGTERM) stops it, with exit status 0. It exits 1 when it cannot start (the port is in
use, the binary, Java or Maven is missing) or when the broker process ends by itself, and 2 for a
bad flag or config.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from deltastream import cli, logs, scripts
from deltastream.kafka import apache
from deltastream.kafka.activity import Activity
from deltastream.kafka.embedded import HOST, BrokerError, EmbeddedBroker

log = logging.getLogger(__name__)
DEFAULT_PORT = 9092
#: How often the embedded broker's terminal line of activity is brought up to date.
STATUS_EVERY_S = 2.0
PROG = "python -m deltastream.broker"
#: Apache Kafka's data folder, beside the Delta tables (or the config file, for tables on S3).
DATA_DIR = "kafka-data"


def port_number(text: str) -> int:
    """A TCP port from the command line: 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


def _configured_port(config_path: str) -> int:
    """The port of the first loopback bootstrap server in the config, else 9092.

    A config that is there must be valid (a bad one is reported, exit 2); none at all means 9092.
    """
    from deltastream import config

    if not Path(config_path).exists() and not Path(config_path).is_symlink():
        return DEFAULT_PORT
    cfg = config.load(config_path)
    host, _, port = cfg.general.bootstrap_servers[0].rpartition(":")
    if host in ("localhost", HOST):
        return int(port)
    log.warning(
        "%s: the first bootstrap server %s is not %s; listening on port %d",
        config_path,
        cfg.general.bootstrap_servers[0],
        HOST,
        DEFAULT_PORT,
    )
    return DEFAULT_PORT


def _configured_data_dir(config_path: str) -> Path:
    """Where Apache Kafka keeps its data: beside the config's Delta tables when they are in a
    directory, else beside the config file (``./kafka-data`` without one)."""
    from deltastream import config

    if not Path(config_path).exists() and not Path(config_path).is_symlink():
        return Path(DATA_DIR)
    cfg = config.load(config_path)
    if cfg.subscriber.on_object_store:
        return Path(config_path).parent / DATA_DIR
    return Path(cfg.subscriber.delta_path).parent / DATA_DIR


#: Set by Ctrl-C or SIGTERM: a broker that ends then ended because of it (it gets the Ctrl-C too,
#: and may be gone before this process has raised its KeyboardInterrupt).
STOPPED = threading.Event()


def _interrupt(signum: int, frame: object) -> None:
    STOPPED.set()
    raise KeyboardInterrupt


def serve(broker: EmbeddedBroker, log_file: Path | None = None) -> int:
    """Run ``broker`` until a Ctrl-C (``KeyboardInterrupt``); its ending by itself is an error.

    With ``log_file`` (a terminal), the broker's own output goes there and the terminal shows
    one line of activity that updates in place (:class:`~deltastream.kafka.activity.Activity`)."""
    try:
        broker.start()
    except BrokerError as exc:
        if log_file is None:
            raise
        raise BrokerError(f"{exc} (its log: {log_file})") from None
    activity = Activity(broker.bootstrap_servers) if log_file is not None else None
    try:
        # Inside the try: a Ctrl-C that comes while this line is written still stops the broker.
        where = f" (its log: {log_file})" if log_file is not None else ""
        listening = f"Kafka broker (Tansu, in memory) listening on {broker.bootstrap_servers}{where}"
        print(
            f"{listening}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        assert broker.process is not None
        status = watch(broker.process, activity)
        if STOPPED.is_set():
            raise KeyboardInterrupt
    finally:
        if activity is not None:
            activity.close()
            sys.stderr.write("\r\x1b[K")
        broker.stop()
        print("broker stopped; its in-memory data is gone", file=sys.stderr)
    raise BrokerError(f"the embedded broker exited by itself with status {status}")


def watch(process: subprocess.Popen[bytes], activity: Activity | None) -> int:
    """Wait for the broker process to end, showing its activity every :data:`STATUS_EVERY_S`."""
    if activity is None:
        return process.wait()
    while True:
        try:
            return process.wait(STATUS_EVERY_S)
        except subprocess.TimeoutExpired:
            sys.stderr.write(f"\r\x1b[K{time.strftime('%H:%M:%S')} {activity.line()}")
            sys.stderr.flush()


def serve_kafka(broker: apache.ApacheKafka) -> int:
    """Run Apache Kafka until a Ctrl-C (``KeyboardInterrupt``); its ending by itself is an error."""
    started = time.monotonic()
    broker.start()
    try:
        # Inside the try: a Ctrl-C that comes while this line is written still stops the broker.
        print(
            f"Apache Kafka {apache.KAFKA_VERSION} listening on {broker.bootstrap_servers} (ready in "
            f"{time.monotonic() - started:.1f} s; data in {broker.data_dir}, log in {broker.log_file}); "
            "Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        assert broker.process is not None
        status = broker.process.wait()
        if STOPPED.is_set():
            raise KeyboardInterrupt
    finally:
        stopped = broker.stop()
        if stopped is not None:
            print(f"broker stopped; its data stays in {broker.data_dir}", file=sys.stderr)
    raise apache.KafkaSetupError(
        f"Apache Kafka exited by itself with status {status}: "
        f"{apache.last_error(broker.log_file) or 'no error logged'} (see {broker.log_file})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.ArgumentParser(
        prog=PROG,
        description="Run an embedded Kafka broker (Tansu, in memory) in the foreground, or with\n"
        "--kafka Apache Kafka, which keeps its data on disk.",
        epilog="The embedded broker's data lives in memory only: stopping it forgets every topic and\n"
        f"message. Apache Kafka {apache.KAFKA_VERSION} (--kafka) needs Java 17+, and Maven the first time,\n"
        "to fetch it from Maven Central into ~/.cache/deltastream/kafka ($DELTASTREAM_KAFKA_CACHE).\n\n"
        "exit status: 0 when stopped with Ctrl-C or SIGTERM; 1 when it cannot start (port in use,\n"
        "package, binary, Java or Maven missing) or the broker process ends by itself; 2 for a bad\n"
        "flag or config.",
        formatter_class=cli.HelpFormatter,
    )
    parser.add_argument(
        "--config",
        default="config.toml",
        metavar="PATH",
        help="take the port from [general] bootstrap_servers of this file (9092 when there is none)",
    )
    parser.add_argument(
        "--port", type=port_number, help="listen on this port, 1 to 65535 (overrides the config)"
    )
    parser.add_argument("--quiet", action="store_true", help="hide the broker's own log lines")
    parser.add_argument(
        "--kafka", action="store_true", help="run Apache Kafka (Java 17+), keeping its data on disk"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"with --kafka: keep the data here (default: {DATA_DIR}/ beside the config's Delta tables)",
    )
    parser.add_argument(
        "--fetch", action="store_true", help="with --kafka: only fetch Apache Kafka with Maven, then exit"
    )
    args = parser.parse_args(argv)
    if (args.data_dir or args.fetch) and not args.kafka:
        parser.error(f"argument {'--data-dir' if args.data_dir else '--fetch'}: needs --kafka")

    def body() -> int:
        logs.setup(logging.INFO)
        if args.fetch:
            apache.check_java()
            print(f"Apache Kafka {apache.KAFKA_VERSION}: {len(apache.resolve_classpath().split(':'))} jars")
            return 0
        port = args.port if args.port is not None else _configured_port(args.config)
        output: int | IO[bytes] | None = None if args.quiet else sys.stderr.fileno()
        live = not args.quiet and not args.kafka and sys.stderr.isatty()
        # SIGTERM stops it as Ctrl-C does, from before the start: no broker process is left behind.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        previous_int = signal.signal(signal.SIGINT, _interrupt)
        # The terminal closed: stop the broker too (its own output goes to a file at a terminal,
        # so nothing else would end it, and it would hold the port).
        previous_hup = signal.signal(signal.SIGHUP, _interrupt)
        try:
            if args.kafka:
                data = Path(args.data_dir) if args.data_dir else _configured_data_dir(args.config)
                return serve_kafka(apache.ApacheKafka(data, port, output=output))
            if live:  # the broker's own lines to a file; the terminal gets one line of activity
                log_file = Path(tempfile.gettempdir()) / f"deltastream-broker-{port}.log"
                with log_file.open("wb") as sink:
                    return serve(EmbeddedBroker(port=port, output=sink), log_file)
            return serve(EmbeddedBroker(port=port, output=output))
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGHUP, previous_hup)

    return scripts.guard(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
