"""Sample CSV files shaped like the article's, from a fixed seed.

    python -m deltastream.demo.sampledata --out data                  # the committed sample
    python -m deltastream.demo.sampledata --out /tmp/big --sales 1000000

Every employee's department and every sale's employee and client exist. Dates are day/month/year
without zero padding (1/4/2024); amounts have up to two decimals.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FIRST = [
    "Ana",
    "Bruno",
    "Chloé",
    "Dmitri",
    "Eilís",
    "Farah",
    "Gustav",
    "Hana",
    "Iñigo",
    "Jasmine",
    "Kofi",
    "Léa",
    "Mateo",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Søren",
    "Tomás",
    "Ursula",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Aoife",
    "Björn",
    "Camille",
    "Dante",
]
LAST = [
    "Almeida",
    "Becker",
    "Castillo",
    "D'Angelo",
    "Eriksen",
    "Fischer",
    "García",
    "Hoffmann",
    "Ishikawa",
    "Jovanović",
    "Kowalski",
    "López",
    "Müller",
    "Nguyen",
    "O'Brien",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Vargas",
    "Weiß",
    "Xu",
    "Yılmaz",
    "Zieliński",
]
DEPARTMENTS = ["Finance", "Sales", "Marketing", "Engineering", "Human Resources", "Operations"]
REGIONS = ["North", "South", "East", "West", "Central"]


@dataclass(frozen=True)
class Sizes:
    clients: int = 100
    employees: int = 50
    sales: int = 320


def _amount(rng: random.Random) -> str:
    cents = rng.randint(1_000, 2_500_000)
    text = f"{cents // 100}.{cents % 100:02d}"
    # Drop trailing zeros now and then, as spreadsheets do: 1200.50 -> 1200.5, 300.00 -> 300.
    if text.endswith("00") and rng.random() < 0.7:
        return text[:-3]
    if text.endswith("0") and rng.random() < 0.7:
        return text[:-1]
    return text


def _date(rng: random.Random) -> str:
    day_of_year = rng.randint(0, 365)
    month_days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    month = 0
    while day_of_year >= month_days[month]:
        day_of_year -= month_days[month]
        month += 1
    return f"{day_of_year + 1}/{month + 1}/2024"


def _write(path: Path, header: list[str], rows: Sequence[Sequence[object]] | object) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)  # type: ignore[arg-type]


def generate(out: Path, sizes: Sizes = Sizes(), seed: int = 42) -> dict[str, Path]:
    """Write client, department, employee and sale CSV files into ``out``."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("client", "department", "employee", "sale")}
    _write(
        paths["client"],
        ["id", "first_name", "last_name"],
        [(i, rng.choice(FIRST), rng.choice(LAST)) for i in range(1, sizes.clients + 1)],
    )
    _write(
        paths["department"],
        ["id", "department"],
        [(i, name) for i, name in enumerate(DEPARTMENTS, 1)],
    )
    _write(
        paths["employee"],
        ["id", "first_name", "last_name", "department_id"],
        [
            (i, rng.choice(FIRST), rng.choice(LAST), rng.randint(1, len(DEPARTMENTS)))
            for i in range(1, sizes.employees + 1)
        ],
    )
    sales = (
        (
            i,
            rng.randint(1, sizes.employees),
            rng.randint(1, sizes.clients),
            _date(rng),
            rng.choice(REGIONS),
            _amount(rng),
        )
        for i in range(1, sizes.sales + 1)
    )
    _write(paths["sale"], ["id", "employee_id", "client_id", "date", "region", "sale"], sales)
    return paths


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the epilog as written."""


#: The most rows a sample file may have: a billion rows is tens of gigabytes.
MAX_ROWS = 100_000_000


def main(argv: Sequence[str] | None = None) -> int:
    from deltastream import cli, scripts
    from deltastream.errors import PipelineError

    prog = "python -m deltastream.demo.sampledata"
    parser = cli.ArgumentParser(
        prog=prog,
        description=(__doc__ or "").strip().splitlines()[0],
        epilog="exit status: 0 when the files were written; 1 when --out cannot be written; 2 for bad flags.",
        formatter_class=Formatter,
    )
    parser.add_argument("--out", type=Path, default=Path("data"), help="directory to write")
    parser.add_argument("--clients", type=int, default=Sizes.clients)
    parser.add_argument("--employees", type=int, default=Sizes.employees)
    parser.add_argument("--sales", type=int, default=Sizes.sales)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    for name, count in (
        ("clients", args.clients),
        ("employees", args.employees),
        ("sales", args.sales),
    ):
        if not 1 <= count <= MAX_ROWS:
            parser.error(f"--{name} must be from 1 to {MAX_ROWS:,}")

    def body() -> int:
        if args.out.exists() and not args.out.is_dir():
            raise PipelineError(f"--out {args.out}: a file, not a directory; choose a directory")
        try:
            paths = generate(args.out, Sizes(args.clients, args.employees, args.sales), args.seed)
        except OSError as exc:
            raise PipelineError(
                f"--out {args.out}: cannot write {exc.filename or args.out} ({exc.strerror or exc}); "
                "choose a directory you can write"
            ) from None
        for path in paths.values():
            print(path)
        return 0

    return scripts.guard(prog, body)


if __name__ == "__main__":
    sys.exit(main())
