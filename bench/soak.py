"""Soak: the user's three terminals at a steady rate for a set time, and what they cost over time.

An embedded broker, subscriber.py (running), publisher.py --rate N (the sales, one in ten an update
of a recent sale) and query.py --watch run side by side for --minutes. Every --sample-s the
sale table is measured: its folder against its live data, data files, log files, versions; and the
resident memory of each process. A probe sent every few seconds measures freshness: from the
broker's acknowledgement to the table version that holds it. The probe updates a recent sale
(one the published sales never update), as the sales' own updates do: an id far from the others
would widen the id range of every file compaction puts it in, and of every batch it is in, and
every upsert would then read every file.

    .venv/bin/python bench/soak.py --minutes 30                 # the figures in the README
    .venv/bin/python bench/soak.py --minutes 0.5 --rate 50      # a quick look (CI runs this)
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import csv
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable
from kafka import KafkaProducer

from deltastream.demo import sampledata
from deltastream.kafka.embedded import EmbeddedBroker

ROOT = Path(__file__).resolve().parent.parent
#: One sale in this many is an update of a recent sale, not a new one.
UPDATE_EVERY = 10
#: A probe updates a sale published this many seconds earlier; its region names the probe.
PROBE_BEHIND_S = 5.0
PROBE_REGION = "probe "


@dataclass(frozen=True)
class Sample:
    """The sale table and the processes at one moment."""

    minute: float
    #: Wall time of the sample.
    at: float
    folder_mb: float
    live_mb: float
    #: What the retention keeps: files removed from the table less than the retention ago, and the
    #: log entries and checkpoints younger than it.
    kept_mb: float
    files: int
    log_files: int
    version: int
    rss_mb: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.folder_mb / self.live_mb if self.live_mb else 0.0

    @property
    def rest_ratio(self) -> float:
        """The folder beyond what the retention keeps, against the live data."""
        return (self.folder_mb - self.kept_mb) / self.live_mb if self.live_mb else 0.0


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sales_with_updates(raw: Path, count: int, seed: int = 7) -> list[int]:
    """Rewrite raw/sale.csv: ``count`` sales, one in :data:`UPDATE_EVERY` an update (a new amount)
    of one of the 100 sales before it. Returns the ids no row updates, in order."""
    rng = random.Random(seed)
    with (raw / "sale.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    out: list[list[str]] = []
    for n in range(count):
        if n > 100 and n % UPDATE_EVERY == 0:
            row = list(out[n - rng.randint(1, 100)])
            row[5] = f"{rng.randint(100, 99999)}.{rng.randint(0, 99):02d}"
        else:
            row = list(body[n % len(body)])
            row[0] = str(n + 1)
        out.append(row)
    with (raw / "sale.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(out)
    updated = {int(row[0]) for n, row in enumerate(out) if n > 100 and n % UPDATE_EVERY == 0}
    return [n + 1 for n in range(count) if not (n > 100 and n % UPDATE_EVERY == 0) and n + 1 not in updated]


def write_config(path: Path, bootstrap: str, raw: Path, delta: Path, args: argparse.Namespace) -> Path:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    declared = text[text.index("\n[topic.") : text.index("\n[query]")]
    path.write_text(
        f"""[general]
logging_level = "INFO"
bootstrap_servers = "{bootstrap}"
topics = ["client", "department", "employee", "sale"]
[publisher]
raw_path = "{raw}"
batch_size = 1000
[subscriber]
delta_path = "{delta}"
group_id = "soak"
vacuum_retention_hours = {args.retention_hours}
{f"max_batch_latency_ms = {args.latency_ms}" if args.latency_ms else ""}
{declared}
""",
        encoding="utf-8",
    )
    return path


class Probe:
    """Every ``every_s``, updates a sale published :data:`PROBE_BEHIND_S` earlier (one of
    ``ids``, which no published row updates; its region counts the probes) and notes, for each
    update, when the commit that holds it was written to the table's log, and when a reader
    polling the log every 50 ms had read it.

    The log is read commit by commit, with the files each commit adds: the first figure does not
    depend on how long a reader takes to scan the table, which grows with it."""

    def __init__(
        self, bootstrap: str, table: Path, ids: list[int], rate: float, every_s: float = 2.0
    ) -> None:
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        self.table = table
        self.ids = ids
        self.rate = rate
        self.every_s = every_s
        self.started = time.monotonic()
        self.sent: dict[int, float] = {}  # probe -> wall time of the broker's acknowledgement
        self.committed: dict[int, float] = {}  # probe -> wall time of the commit holding it
        self.read: dict[int, float] = {}  # probe -> wall time the reader had it
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send), threading.Thread(target=self._watch)]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        self.producer.close()

    def latencies(self) -> tuple[list[float], list[float]]:
        """Acknowledged -> committed, and acknowledged -> read, sorted."""
        committed = sorted(self.committed[n] - self.sent[n] for n in self.committed if n in self.sent)
        read = sorted(self.read[n] - self.sent[n] for n in self.read if n in self.sent)
        return committed, read

    def window(self, since: float, until: float) -> str:
        """Freshness to the commit of the probes acknowledged between two wall times: "p50 / p99"
        in seconds (the probes not committed yet count as not yet)."""
        values = sorted(
            self.committed[n] - at
            for n, at in self.sent.items()
            if since < at <= until and n in self.committed
        )
        if not values:
            return "-"
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return f"{statistics.median(values):.2f} / {p99:.2f}"

    def _send(self) -> None:
        n = 0
        while not self.stop.wait(self.every_s):
            n += 1
            behind = self.rate * max(0.0, time.monotonic() - self.started - PROBE_BEHIND_S)
            ident = self.ids[min(len(self.ids) - 1, bisect.bisect_left(self.ids, max(1.0, behind)))]
            fields = {"id": str(ident), "employee_id": "1", "client_id": "1", "date": "1/1/2024"}
            value = json.dumps({**fields, "region": f"{PROBE_REGION}{n}", "sale": "1.00"}).encode()
            self.producer.send("sale", key=str(ident).encode(), value=value).get(30)
            self.sent[n] = time.time()

    def _watch(self) -> None:
        log_dir = self.table / "_delta_log"
        version = 0
        while not self.stop.wait(0.05):
            while (entry := log_dir / f"{version:020d}.json").exists():
                committed = entry.stat().st_mtime  # the file is written whole, then linked in place
                for probe in self._probes_in(entry):
                    self.committed.setdefault(probe, committed)
                    self.read.setdefault(probe, time.time())
                version += 1

    def _probes_in(self, entry: Path) -> list[int]:
        """The probes whose update the commit ``entry`` adds to the table."""
        adds = [
            action["add"]["path"]
            for line in entry.read_text().splitlines()
            if line.strip() and "add" in (action := json.loads(line))
        ]
        probes: list[int] = []
        for path in adds:
            regions = pl.read_parquet(self.table / unquote(path), columns=["region"])["region"]
            probes.extend(
                int(region.removeprefix(PROBE_REGION))
                for region in regions.to_list()
                if region and region.startswith(PROBE_REGION)
            )
        return probes


def sample(started: float, table: Path, pids: dict[str, int], retention_hours: float) -> Sample:
    delta = DeltaTable(str(table))
    actions = pl.DataFrame(delta.get_add_actions(flatten=True))
    live = int(actions["size_bytes"].sum()) if actions.height else 0
    paths = set(actions["path"].to_list()) if actions.height else set()
    return Sample(
        minute=(time.monotonic() - started) / 60,
        at=time.time(),
        folder_mb=folder_bytes(table) / 2**20,
        live_mb=live / 2**20,
        kept_mb=kept_bytes(table, paths, retention_hours) / 2**20,
        files=len(list(table.glob("*.parquet"))),
        log_files=len(list((table / "_delta_log").iterdir())),
        version=delta.version(),
        rss_mb={name: rss_mb(pid) for name, pid in pids.items()},
    )


def kept_bytes(table: Path, live: set[str], retention_hours: float) -> int:
    """Bytes the retention keeps: data files removed less than ``retention_hours`` ago (by their
    remove actions) and log files younger than that."""
    since_ms = (time.time() - retention_hours * 3600) * 1000
    removed: set[str] = set()
    kept = 0
    for entry in (table / "_delta_log").iterdir():
        try:
            stat = entry.stat()
            lines = entry.read_text(encoding="utf-8").splitlines() if entry.suffix == ".json" else []
        except FileNotFoundError:  # cleaned up meanwhile
            continue
        if stat.st_mtime * 1000 >= since_ms:
            kept += stat.st_size
        for line in lines:
            remove = json.loads(line).get("remove") if '"remove"' in line else None
            if remove and int(remove.get("deletionTimestamp") or 0) >= since_ms:
                removed.add(remove["path"])
    for path in removed - live:
        try:
            kept += (table / path).stat().st_size
        except FileNotFoundError:
            continue
    return kept


def start(script: str, cfg: Path, *args: str, log_to: Path | None = None) -> subprocess.Popen[bytes]:
    out = log_to.open("wb") if log_to is not None else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, str(ROOT / script), "--config", str(cfg), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=out,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def report(samples: list[Sample], probe: Probe, args: argparse.Namespace) -> None:
    latencies = probe.latencies()
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} rows/s (one in {UPDATE_EVERY} an update), "
        f"retention {args.retention_hours:g} h, sampled every {args.sample_s:g} s\n"
    )
    names = list(samples[0].rss_mb)
    print(
        "| minute | folder MB | live MB | kept by retention MB | rest/live | data files | log files "
        "| version | freshness p50 / p99 s | " + " | ".join(f"RSS {n} MB" for n in names) + " |"
    )
    print("|" + "---:|" * (9 + len(names)))
    step = max(1, len(samples) // 12)
    since = 0.0
    for s in [*samples[::step], samples[-1]] if samples[-1] not in samples[::step] else samples[::step]:
        fresh, since = probe.window(since, s.at), s.at
        rss = " | ".join(f"{s.rss_mb[n]:.0f}" for n in names)
        print(
            f"| {s.minute:.1f} | {s.folder_mb:.2f} | {s.live_mb:.2f} | {s.kept_mb:.2f} | "
            f"{s.rest_ratio:.1f}x | {s.files} | "
            f"{s.log_files} | {s.version} | {fresh} | {rss} |"
        )
    first, last = samples[0], samples[-1]
    minutes = max(last.minute - first.minute, 1e-9)
    print(f"\ncommits per minute: {(last.version - first.version) / minutes:.1f}")
    for what, values in zip(("committed", "read by a reader polling every 50 ms"), latencies, strict=True):
        if values:
            p50 = statistics.median(values)
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            print(
                f"freshness ({len(values)} probes, acknowledged -> {what}): p50 {p50 * 1000:.0f} ms, "
                f"p99 {p99 * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms"
            )
    settled = max((s.ratio for s in samples if s.minute >= 1), default=0.0)
    rest = max((s.rest_ratio for s in samples if s.minute >= 1), default=0.0)
    print(f"largest folder/live ratio after the first minute: {settled:.1f}x")
    print(f"largest (folder - kept by retention)/live ratio after the first minute: {rest:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0, help="rows per second published")
    parser.add_argument("--retention-hours", type=float, default=0.1, help="vacuum_retention_hours")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--latency-ms", type=int, help="max_batch_latency_ms (default: the config's default)")
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="deltastream-soak-"))
    if args.workdir is None:
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    raw, delta = work / "data", work / "delta"
    count = int(args.rate * args.minutes * 60) + 1000
    sampledata.generate(raw, sampledata.Sizes(sales=1000))
    never_updated = sales_with_updates(raw, count)
    samples: list[Sample] = []
    with EmbeddedBroker() as broker:
        cfg = write_config(work / "config.toml", broker.bootstrap_servers, raw, delta, args)
        log(f"soak for {args.minutes:g} min at {args.rate:g} rows/s in {work}")
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "publisher.py"),
                "--config",
                str(cfg),
                "--topics",
                "client,department,employee",
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        subscriber = start("subscriber.py", cfg, log_to=work / "subscriber.log")
        publisher = start("publisher.py", cfg, "--topics", "sale", "--rate", str(args.rate))
        watcher = start("query.py", cfg, "--watch", "1")
        probe = Probe(broker.bootstrap_servers, delta / "sale", never_updated, args.rate)
        pids = {"subscriber": subscriber.pid, "publisher": publisher.pid, "query --watch": watcher.pid}
        started = time.monotonic()
        try:
            while not (delta / "sale" / "_delta_log").exists():
                time.sleep(0.1)
            probe.start()
            end = started + args.minutes * 60
            while time.monotonic() < end:
                time.sleep(min(args.sample_s, max(0.0, end - time.monotonic())))
                samples.append(sample(started, delta / "sale", pids, args.retention_hours))
                s = samples[-1]
                log(
                    f"{s.minute:.1f} min: folder {s.folder_mb:.2f} MB, live {s.live_mb:.2f} MB, "
                    f"{s.files} files, {s.log_files} log files, version {s.version}"
                )
        finally:
            probe.close()
            for process in (publisher, watcher, subscriber):
                stop(process)
    report(samples, probe, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
