"""`make demo`'s job, end to end and small: every step runs and every link in report.html resolves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and ((tag == "a" and name == "href") or (tag == "img" and name == "src")):
                self.targets.append(value)


def test_demo_small_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "genmedia.cli", "demo", "--small", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    report = Path(result["report"])
    assert report == out / "report.html" and report.is_file()
    html = report.read_text()
    parser = _Links()
    parser.feed(html)
    local = [t for t in parser.targets if not re.match(r"^(https?:|data:|#)", t)]
    assert local, "the report links the demo's outputs"
    for target in local:
        assert (report.parent / target).is_file(), f"report.html links a missing file: {target}"
    assert list(result["steps"]) == ["analyze", "trailer", "thumbnails", "subtitles", "enhance"]
