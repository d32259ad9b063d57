"""`turing report`: one self-contained HTML page, rendered by headless Chromium with its charts drawn."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import turing
from test_status_and_errors import failed_run  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


def rendered_dom(page: Path) -> str:
    """The DOM after Chromium loaded the page and ran its script (no network, no profile left behind)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the report tests need Chromium (Debian package chromium; .ci/run installs it)"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={page.parent / 'chromium-profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_report_renders_in_chromium_with_its_numbers_and_charts(
    failed_run: int,  # noqa: F811
    turing_env: dict[str, str],
    tmp_path: Path,
) -> None:
    page = tmp_path / "report.html"
    written = turing(turing_env, "report", "--run", str(failed_run), "--out", str(page))
    assert written.returncode == 0, written.stdout + written.stderr
    source = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", source), "the page must load nothing"
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', source, re.S).group(1))  # type: ignore[union-attr]
    assert len(data["timeline"]) == 40 and sum(slot["steps"] for slot in data["timeline"]) == 18  # zeros kept
    dom = rendered_dom(page)
    assert f"Run {failed_run} of workflow 7801" in dom
    assert re.search(r"<b>6</b>failed", dom) and re.search(r"<b>18</b>steps", dom)
    for chart in ("throughput-chart", "funnel-chart", "latency-chart"):
        svg = re.search(rf'<svg[^>]*id="{chart}"[^>]*>(.*?)</svg>', dom, re.S)
        assert svg and 'data-drawn="yes"' in svg.group(0) and svg.group(1).count("<rect") >= 1, chart
    assert "RuntimeError" in dom and "the actor broke" in dom
    assert "s_break" in dom and "test_failing" in dom
    missing = turing(turing_env, "report", "--run", "999999", "--out", str(page))
    assert missing.returncode == 2 and "there is no run 999999" in missing.stdout
