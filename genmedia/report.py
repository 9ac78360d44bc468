"""A one-page HTML report a person can read: a section per job with its figures, pictures and links."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    """One block of the report: a title, key/value facts, free HTML (already escaped) and links."""

    title: str
    facts: dict[str, object] = field(default_factory=dict)
    body_html: str = ""
    links: dict[str, str] = field(default_factory=dict)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem} h2{font-size:1.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse} td{padding:.15rem .8rem .15rem 0;vertical-align:top} td:first-child{color:#666}
img{max-width:100%;border:1px solid #ccc} ul.links li{margin:.1rem 0}
"""


def relative_link(target: str, report_dir: Path) -> str:
    """A link from the report to ``target``: relative for local files, the URI itself otherwise."""
    if "://" in target and not target.startswith("file://"):
        return target
    path = Path(target.removeprefix("file://")).resolve()
    return Path(os.path.relpath(path, report_dir.resolve())).as_posix()


def render(title: str, sections: list[Section], report_dir: Path) -> str:
    """The report's HTML."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    for s in sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>")
        if s.facts:
            rows = "".join(
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in s.facts.items()
            )
            parts.append(f"<table>{rows}</table>")
        parts.append(s.body_html)
        if s.links:
            items = "".join(
                f"<li><a href='{html.escape(relative_link(uri, report_dir))}'>{html.escape(name)}</a></li>"
                for name, uri in s.links.items()
            )
            parts.append(f"<ul class='links'>{items}</ul>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: Path, title: str, sections: list[Section]) -> Path:
    """Write the report to the local file ``path`` (atomically) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(title, sections, path.parent), encoding="utf-8")
    tmp.replace(path)
    return path


def sparkline_svg(values: list[float], *, width: int = 900, height: int = 80, marks: list[int] | None = None) -> str:
    """An inline SVG line of ``values`` (e.g. mean luma per frame), with optional vertical marks at indices."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - (v - lo) / span * (height - 4) - 2:.1f}" for i, v in enumerate(values))
    lines = "".join(
        f"<line x1='{m * step:.1f}' x2='{m * step:.1f}' y1='0' y2='{height}' stroke='#e33' stroke-width='1'/>"
        for m in marks or []
    )
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' style='background:#fafafa'>"
        f"{lines}<polyline fill='none' stroke='#236' stroke-width='1.2' points='{points}'/></svg>"
    )
