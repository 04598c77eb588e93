"""report.html in a real browser (headless Chromium): it renders, logs no console error, loads nothing from
outside, and every chart has data points."""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
import zlib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from aiservice.report.compute import build_report, fold_day
from aiservice.report.render import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DAY = date(2026, 11, 28)
CHARTS = {"spend_by_model", "top_users", "cost_per_success", "cache_savings"}
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make install adds it)")


def demo_html() -> bytes:
    rng = random.Random(4)
    usage = {}
    traces = {}
    for offset in range(30):
        day = DAY - timedelta(days=offset)
        rows = [
            {
                "user_id": f"user-{rng.randrange(8)}",
                "org_id": rng.choice(["acme", "globex", ""]),
                "model": rng.choice(["claude-sonnet-4-5", "azure/gpt-5-mini", "claude-haiku-4-5"]),
                "call_type": rng.choice(["optimize", "testgen"]),
                "calls": 3,
                "cost_usd": Decimal(rng.randrange(1, 90_000)) / 10_000,
                "input_tokens": 9000,
                "output_tokens": 900,
                "cache_read_tokens": rng.randrange(0, 90_000),
            }
            for _ in range(12)
        ]
        usage[day] = fold_day(day, rows, detail=day == DAY)
        traces[day] = [
            {
                "user_id": "user-1",
                "cost_usd": Decimal("0.42") + offset,
                "optimize_requests": 1,
                "optimization_found": True,
            }
        ]
    return render_html(build_report(DAY, usage, traces, {}, generated_at="2026-11-29T06:00:00+00:00"))


def run_chromium(args: list[str], page: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)]


def png_colours(path: Path, samples: int = 4000) -> int:
    """Distinct colours among sampled pixels of an 8-bit RGB(A) non-interlaced PNG: a blank page has one."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour_type = struct.unpack(">IIBB", data[16:26])
    chunks, pos = [], 8
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    channels = {2: 3, 6: 4}[colour_type]
    stride = width * channels + 1
    seen = set()
    previous = bytearray(stride - 1)
    rows = []
    for y in range(height):  # undo the PNG filters
        kind, line = raw[y * stride], bytearray(raw[y * stride + 1 : (y + 1) * stride])
        for i in range(len(line)):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    rng = random.Random(0)
    for _ in range(samples):
        line = rows[rng.randrange(height)]
        x = rng.randrange(width) * channels
        seen.add(bytes(line[x : x + 3]))
    return len(seen)


def test_the_html_is_self_contained_and_every_chart_has_points() -> None:
    html = demo_html().decode()
    assert "<script" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r'(?:src|href)="(?!data:|#)', html), "a resource outside the page"
    charts = dict(re.findall(r'data-chart="([a-z_]+)" data-points="(\d+)"', html))
    assert set(charts) == CHARTS
    for name, points in charts.items():
        svg = html.split(f'data-chart="{name}"', 1)[1].split("</svg>", 1)[0]
        values = re.findall(r'class="point" data-value="([0-9.E+-]+)"', svg)
        assert int(points) == len(values) > 0, name
        assert all(Decimal(v) > 0 for v in values), name


@needs_chromium
def test_chromium_renders_the_report_without_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_bytes(demo_html())
    dom = run_chromium(["--dump-dom"], page, tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stderr) == []
    for name in CHARTS:
        assert f'data-chart="{name}"' in dom.stdout
    assert dom.stdout.count('class="point"') >= 30 + 4
    shot = tmp_path / "shot.png"
    proc = run_chromium([f"--screenshot={shot}", "--window-size=1200,1800", "--hide-scrollbars"], page, tmp_path)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    assert console_errors(proc.stderr) == []
    assert png_colours(shot) > 12  # bars of several models, text, axes: not a blank page


@needs_chromium
def test_the_console_check_catches_an_error(tmp_path: Path) -> None:
    """The harness itself: a page that logs an error is caught (so a clean run means something)."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('boom'); undefinedCall();</script></body></html>")
    proc = run_chromium(["--dump-dom"], page, tmp_path)
    assert console_errors(proc.stderr), proc.stderr[-2000:]
