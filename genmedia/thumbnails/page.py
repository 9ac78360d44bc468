"""``thumbnails.html``: every variant at every aspect ratio side by side, with where it came from."""

from __future__ import annotations

import html
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
.variant{display:flex;gap:1rem;align-items:flex-start;margin:1rem 0;padding:.8rem;background:#fff;border:1px solid #ddd}
.variant img{height:180px;border:1px solid #ccc} .meta{font-size:.85rem;color:#555;min-width:14rem}
.flagged{color:#b00}
"""


def render_page(doc: dict[str, Any]) -> str:
    """The HTML page for a ``thumbnails.json`` document (images referenced by relative name)."""
    title = html.escape(doc.get("title") or "thumbnails")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1><p>{html.escape(doc['summary'])}</p>",
    ]
    for v in doc["variants"]:
        facts = [
            f"source frame {v['frame_index']} at {v['time']:.2f} s (shot {v['shot']})",
            f"backend: {v['backend']}",
            f"score {v['score']:.3f}",
        ]
        if v.get("prompt"):
            facts.append(f"style {v['style']}, seed {v['seed']}: {v['prompt']}")
        if v.get("safety"):
            s = v["safety"]
            facts.append(
                f"safety ({s['checker']}): {'FLAGGED, not published' if s['flagged'] else 'passed'} ({s['score']:.3f})"
            )
        meta = "".join(f"<div>{html.escape(f)}</div>" for f in facts)
        imgs = "".join(
            f"<figure><img src='{html.escape(a['file'])}' alt='{html.escape(v['id'])} {html.escape(label)}'>"
            f"<figcaption>{html.escape(label)} {a['size'][0]}x{a['size'][1]}</figcaption></figure>"
            for label, a in v["aspects"].items()
            if a.get("file")
        )
        cls = "variant flagged" if v.get("safety", {}).get("flagged") else "variant"
        parts.append(f"<div class='{cls}'><div class='meta'><b>{html.escape(v['id'])}</b>{meta}</div>{imgs}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
