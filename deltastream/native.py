"""What native libraries write to the process's stderr: Rust panics of their background threads.

delta-rs 1.6.6 answers a failed write (a full disk, say) with a Python error, which the scripts
turn into their one line, and also with panics of its background tokio threads (object_store's
buffered writer: "Already shut down"), which Rust prints straight to file descriptor 2, out of
Python's reach, with a backtrace. :func:`hold_back_panics` puts a small filter process between
the script and its stderr: it passes every line through at once, except Rust panic reports, which
it keeps. When the script ends normally (its own message said what happened), they are dropped;
when it dies (an abort, a signal), they are written out, since then they are all there is.
``DELTASTREAM_RAW_STDERR=1`` leaves stderr as it is, for debugging.

Only the standard library is used here: the filter starts before anything else is imported.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys

#: Written to the filter when the script ends normally.
DONE = b"\x00deltastream: done\n"

FILTER = r"""
import re, sys
start = re.compile(rb"^thread '[^']*'( \(\d+\))? panicked at ")
end = re.compile(rb"^note: ")
out = sys.stdout.buffer
held, inside, done, blank = [], False, False, b""
for line in sys.stdin.buffer:
    if line == DONE:
        done = True
        continue
    if not inside and start.match(line):
        inside, held, blank = True, held + [blank], b""
    if inside:
        held.append(line)
        inside = not end.match(line)
        continue
    if line == b"\n" and not blank:
        blank = line  # Rust writes a blank line before a panic report: wait for the next one
        continue
    out.write(blank + line)
    out.flush()
    blank = b""
out.write(blank)
if held and not done:
    out.write(b"".join(held))
out.flush()
""".replace("DONE", repr(DONE))


def hold_back_panics() -> None:
    """Route file descriptor 2 through the filter; Python's own ``sys.stderr`` writes directly."""
    if os.environ.get("DELTASTREAM_RAW_STDERR"):
        return
    try:
        terminal = os.dup(2)
        filter_process = subprocess.Popen(
            [sys.executable, "-S", "-c", FILTER],
            stdin=subprocess.PIPE,
            stdout=terminal,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            # Out of the terminal's process group: Ctrl-C stops the script, which the filter
            # outlives until the last line is through.
            start_new_session=True,
        )
    except OSError:
        return  # no filter: the panics, if any, show
    assert filter_process.stdin is not None
    os.dup2(filter_process.stdin.fileno(), 2)
    sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")  # noqa: SIM115

    def finish() -> None:
        with contextlib.suppress(OSError):
            os.write(2, DONE)

    atexit.register(finish)
