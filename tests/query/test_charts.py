"""Pictures of the sales: --chart draws the totals by department and region and the sales per
day into a PNG or an SVG whose bars are as tall as their totals; --summary at a terminal draws the
same totals as bars of text."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import run
from .test_terminal import ANSI, in_terminal

SVG = "{http://www.w3.org/2000/svg}"


def heights(svg: Path) -> dict[str, float]:
    """The height of each bar an SVG names, by its id."""
    found: dict[str, float] = {}
    for group in ET.parse(svg).getroot().iter(f"{SVG}g"):
        name = group.get("id", "")
        if re.match(r"(department|region|day|week|month|year):", name):
            path = group.find(f"{SVG}path")
            assert path is not None
            ys = [float(y) for y in re.findall(r"[-\d.]+ ([-\d.]+)", path.get("d", ""))]
            found[name] = max(ys) - min(ys)
    return found


def test_an_svg_has_a_bar_per_department_region_and_day_as_tall_as_its_total(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "sales.svg"
    code, _, _ = run(site, capsys, "--summary", "--chart", str(chart), "--format", "csv")
    assert code == 0
    bars = heights(chart)
    assert set(bars) == {"department:Finance", "department:Research", "region:North", "day:2024-11-09"}
    # Finance sold 10,099.99 and Research 1,205.50: its bar is 8.38 times as tall.
    assert bars["department:Finance"] / bars["department:Research"] == pytest.approx(
        10099.99 / 1205.50, rel=0.01
    )


def test_a_png_is_an_image(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "sales.png"
    code, _, _ = run(site, capsys, "--chart", str(chart), "--format", "csv")
    assert code == 0
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 300


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--chart", "sales.txt"], "--chart sales.txt: expected a file name ending .png or .svg"),
        (
            ["--history", "--chart", "sales.png"],
            "--chart goes with the report and --summary, not with --history",
        ),
    ],
)
def test_a_chart_that_cannot_be_is_one_line(
    site: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(site, capsys, *argv)
    assert code == 2 and f"query.py: error: {message}; see query.py --help" in err


def test_the_summary_at_a_terminal_draws_its_totals_as_bars(site: Path) -> None:
    code, seen = in_terminal(site, "--summary")
    assert code == 0
    plain = ANSI.sub("", seen)
    assert "total by department" in plain and "total by region" in plain
    bar = {line.split()[0]: line.count("█") for line in plain.splitlines() if "█" in line}
    assert bar["Finance"] == 40 and bar["Research"] == round(40 * 1205.50 / 10099.99)
    assert "10,099.99" in plain


def test_a_year_of_days_names_few_enough_to_be_read() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    from deltastream.query.charts import MOST_LABELS, _bars

    figure, axes = pyplot.subplots()
    try:
        days = [f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(214)]
        _bars(axes, "day", days, [1] * len(days))
        named = [label.get_text() for label in axes.get_xticklabels()]
        assert 0 < len(named) <= MOST_LABELS and named[0] == days[0]
        assert len(axes.patches) == len(days)  # a bar for each day all the same
    finally:
        pyplot.close(figure)


def test_a_chart_that_cannot_be_written_is_said_before_anything_is_read(
    site: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(site, capsys, "--summary", "--chart", str(tmp_path / "nowhere" / "sales.svg"))
    assert code == 1 and out == ""
    assert (
        f"--chart {tmp_path / 'nowhere' / 'sales.svg'}: the folder {tmp_path / 'nowhere'} does not exist"
        in err
    )
