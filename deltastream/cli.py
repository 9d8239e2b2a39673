"""What the three scripts share: common flags, config loading, logging set-up and exit codes.

This module and the ones it imports use only the standard library, so ``--help`` works and a
missing package is reported in one line even outside the virtualenv.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from deltastream import config, logs
from deltastream.errors import PipelineError

#: The exit status of a script stopped by a second Ctrl-C.
INTERRUPTED = 130


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples in descriptions as written, and show the defaults that say something."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def parser(prog: str, doc: str | None, kafka: bool = True) -> argparse.ArgumentParser:
    """A parser with the flags every script takes; ``doc`` is the script's docstring.

    ``kafka``: the script talks to Kafka, and takes ``--bootstrap-servers`` and ``--topics``.
    """
    summary, _, details = (doc or "").strip().partition("\n")
    result = argparse.ArgumentParser(
        prog=prog,
        description=summary,
        epilog=details.strip() or None,
        formatter_class=HelpFormatter,
    )
    group = result.add_argument_group("configuration")
    group.add_argument(
        "--config",
        default="config.toml",
        metavar="PATH",
        help="the TOML file that drives all three scripts",
    )
    group.add_argument(
        "--log-level", metavar="LEVEL", help="override [general] logging_level (DEBUG, INFO, ...)"
    )
    if kafka:
        group.add_argument(
            "--bootstrap-servers",
            metavar="HOST:PORT[,...]",
            help="override [general] bootstrap_servers",
        )
        group.add_argument(
            "--topics", metavar="T1,T2", help="override [general] topics (comma-separated subset)"
        )
    return result


def overrides(
    args: argparse.Namespace, extra: Mapping[tuple[str, str], Any] | None = None
) -> config.Overrides:
    """Config overrides from the common flags and ``extra`` (``None`` values are not given)."""
    result: dict[tuple[str, str], Any] = {}
    if getattr(args, "bootstrap_servers", None) is not None:
        result[("general", "bootstrap_servers")] = args.bootstrap_servers
    if getattr(args, "topics", None) is not None:
        result[("general", "topics")] = args.topics
    if args.log_level is not None:
        raw = args.log_level.strip()
        result[("general", "logging_level")] = int(raw) if raw.isdigit() else raw
    result.update({key: value for key, value in (extra or {}).items() if value is not None})
    return result


def tune_gc() -> None:
    """Keep the cyclic GC off the hot path of a long ingest.

    The scripts allocate a few container objects per record (dicts, futures), which would start a
    collection every 700 allocations; objects made at start-up are frozen out of it entirely.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def run(
    prog: str,
    args: argparse.Namespace,
    body: Callable[[config.Config], int],
    extra: Mapping[tuple[str, str], Any] | None = None,
) -> int:
    """Load the config, set up logging and run ``body`` under :func:`guard`."""
    secrets: list[str] = []

    def load_and_run() -> int:
        cfg = config.load(args.config, overrides(args, extra))
        secrets.extend(cfg.secrets())
        logs.setup(cfg.general.logging_level, secrets)
        return body(cfg)

    return guard(prog, load_and_run, secrets)


def guard(prog: str, body: Callable[[], int], secrets: Sequence[str] = ()) -> int:
    """Run ``body``; errors become one line on stderr and an exit code.

    A :class:`PipelineError` prints ``<prog>: error: <message>`` (secrets masked) and exits with
    its code; a package missing from the environment says how to install it; a second Ctrl-C
    exits 130.
    """
    try:
        return body()
    except PipelineError as exc:
        print(f"{prog}: error: {logs.redact(str(exc), secrets)}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "deltastream":
            raise
        print(missing_package(prog, exc.name), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED


def missing_package(prog: str, name: str) -> str:
    return (
        f"{prog}: error: the Python package '{name.split('.', maxsplit=1)[0]}' is not installed here; "
        "activate the project's virtualenv (. .venv/bin/activate) or install the requirements "
        "(pip install -r requirements.txt)"
    )


@contextmanager
def stop_on_signals(stop: threading.Event, what: str) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop``; a second SIGINT raises ``KeyboardInterrupt`` at once."""
    import logging

    log = logging.getLogger("deltastream.cli")

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s: %s", signal.Signals(signum).name, what)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
