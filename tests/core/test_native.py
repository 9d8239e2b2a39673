"""Rust panic reports written straight to stderr by native threads are held back unless the
script dies; everything else passes through."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import ROOT

PANIC = (
    b"\nthread 'tokio-rt-worker' (31991) panicked at /src/object_store/buffered.rs:369:41:\n"
    b"Already shut down\nstack backtrace:\n   0: frame\n"
    b"note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
)


def run(body: str) -> subprocess.CompletedProcess[bytes]:
    code = f"import os, sys\nfrom deltastream import native\nnative.hold_back_panics()\n{body}"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=30, check=False
    )


def test_a_panic_report_is_dropped_when_the_script_ends_with_its_own_line() -> None:
    result = run(
        f"os.write(2, b'native line\\n')\nos.write(2, {PANIC!r})\n"
        "print('script.py: error: the disk is full', file=sys.stderr)\nsys.exit(1)"
    )
    assert result.returncode == 1
    # The two reach the terminal by different ways (the filter, and Python directly): any order.
    assert sorted(result.stderr.splitlines()) == [b"native line", b"script.py: error: the disk is full"]
    assert b"panicked" not in result.stderr


def test_a_panic_report_is_shown_when_the_script_dies() -> None:
    result = run(f"os.write(2, {PANIC!r})\nos.abort()")
    assert result.returncode < 0
    assert b"panicked at /src/object_store/buffered.rs" in result.stderr
    assert b"Already shut down" in result.stderr


def test_python_tracebacks_and_prints_go_straight_through() -> None:
    result = run("print('to stdout')\nraise RuntimeError('boom')")
    assert result.stdout == b"to stdout\n"
    assert b"RuntimeError: boom" in result.stderr
