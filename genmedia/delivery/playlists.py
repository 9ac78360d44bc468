"""HLS playlists for the CMAF segments the DASH packager wrote: one set of segments, two manifests.

:func:`read_mpd` lists each representation's initialisation segment and media segments with their durations
(from the MPD's ``SegmentTimeline``); :func:`write_hls` writes a VOD media playlist per representation
(``#EXT-X-MAP`` to the same init segment, fMP4 media segments) and a master playlist whose ``BANDWIDTH`` is
the measured peak segment rate (video plus the audio rendition), with ``AVERAGE-BANDWIDTH``, ``CODECS``,
``RESOLUTION``, ``FRAME-RATE`` and ``#EXT-X-INDEPENDENT-SEGMENTS`` (every segment starts with a keyframe).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}
MASTER_NAME = "master.m3u8"


@dataclass
class Representation:
    """One representation of the MPD and its segment files."""

    id: str
    content_type: str
    codecs: str
    bandwidth: int
    init: str
    segments: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    width: int = 0
    height: int = 0
    frame_rate: str | None = None
    channels: int = 0

    @property
    def playlist(self) -> str:
        """The media playlist's file name."""
        return f"{self.content_type}_{self.id}.m3u8"


def _template(pattern: str, rep_id: str, number: int) -> str:
    name = pattern.replace("$RepresentationID$", rep_id)
    match = re.search(r"\$Number(%0(\d+)d)?\$", name)
    if match:
        width = int(match.group(2) or 1)
        name = name[: match.start()] + f"{number:0{width}d}" + name[match.end() :]
    return name


def read_mpd(mpd_path: Path) -> list[Representation]:
    """Every representation of a static MPD with template segments and a segment timeline."""
    root = ET.parse(mpd_path).getroot()
    reps = []
    for aset in root.iterfind(".//mpd:AdaptationSet", NS):
        content_type = aset.get("contentType", "")
        frame_rate = aset.get("frameRate")
        for rep in aset.iterfind("mpd:Representation", NS):
            tmpl = rep.find("mpd:SegmentTemplate", NS)
            if tmpl is None:
                raise ValueError(f"{mpd_path.name}: representation {rep.get('id')} has no SegmentTemplate")
            timescale = int(tmpl.get("timescale", "1"))
            number = int(tmpl.get("startNumber", "1"))
            rid = rep.get("id", "")
            channels = rep.find("mpd:AudioChannelConfiguration", NS)
            r = Representation(
                id=rid,
                content_type=content_type or rep.get("mimeType", "/").split("/")[0],
                codecs=rep.get("codecs", ""),
                bandwidth=int(rep.get("bandwidth", "0")),
                init=_template(tmpl.get("initialization", ""), rid, number),
                width=int(rep.get("width", "0")),
                height=int(rep.get("height", "0")),
                frame_rate=rep.get("frameRate", frame_rate),
                channels=int(channels.get("value", "0")) if channels is not None else 0,
            )
            for s in tmpl.iterfind("mpd:SegmentTimeline/mpd:S", NS):
                for _ in range(int(s.get("r", "0")) + 1):
                    r.segments.append(_template(tmpl.get("media", ""), rid, number))
                    r.durations.append(int(s.get("d", "0")) / timescale)
                    number += 1
            reps.append(r)
    return reps


def _rates(folder: Path, rep: Representation) -> tuple[int, int]:
    """(peak, average) bit/s over the representation's media segments."""
    sizes = [(folder / name).stat().st_size for name in rep.segments]
    peak = max((8 * s / d for s, d in zip(sizes, rep.durations, strict=True) if d > 0), default=0.0)
    average = 8 * sum(sizes) / max(sum(rep.durations), 1e-9)
    return int(math.ceil(peak)), int(math.ceil(average))


def _media_playlist(rep: Representation) -> str:
    target = max(1, math.ceil(max(rep.durations, default=1.0) - 1e-3))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{rep.init}"',
    ]
    for name, duration in zip(rep.segments, rep.durations, strict=True):
        lines += [f"#EXTINF:{duration:.6f},", name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _frame_rate(text: str | None) -> str | None:
    if not text:
        return None
    return f"{float(Fraction(text)):.3f}"


def write_hls(folder: Path, reps: list[Representation]) -> dict[str, dict[str, int]]:
    """Write a media playlist per representation and the master playlist; return each one's measured rates."""
    rates = {}
    for rep in reps:
        (folder / rep.playlist).write_text(_media_playlist(rep), encoding="utf-8")
        peak, average = _rates(folder, rep)
        rates[rep.id] = {"peak_bitrate": peak, "average_bitrate": average}
    audio = [r for r in reps if r.content_type == "audio"]
    video = sorted((r for r in reps if r.content_type == "video"), key=lambda r: -r.bandwidth)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for i, a in enumerate(audio):
        default = "YES" if i == 0 else "NO"
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio {a.id}",DEFAULT={default},AUTOSELECT=YES,'
            f'CHANNELS="{a.channels or 2}",URI="{a.playlist}"'
        )
    audio_peak = max((rates[a.id]["peak_bitrate"] for a in audio), default=0)
    audio_avg = max((rates[a.id]["average_bitrate"] for a in audio), default=0)
    for v in video:
        codecs = ",".join([v.codecs] + ([audio[0].codecs] if audio else []))
        attrs = [
            f"BANDWIDTH={rates[v.id]['peak_bitrate'] + audio_peak}",
            f"AVERAGE-BANDWIDTH={rates[v.id]['average_bitrate'] + audio_avg}",
            f'CODECS="{codecs}"',
            f"RESOLUTION={v.width}x{v.height}",
        ]
        if (fr := _frame_rate(v.frame_rate)) is not None:
            attrs.append(f"FRAME-RATE={fr}")
        if audio:
            attrs.append('AUDIO="audio"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), v.playlist]
    (folder / MASTER_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rates


__all__ = ["MASTER_NAME", "Representation", "read_mpd", "write_hls"]
