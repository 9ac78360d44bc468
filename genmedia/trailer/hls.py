"""An HLS rendition for CDN delivery: each MP4 rendition remuxed (no re-encode) into MPEG-TS segments with
PyAV's ``hls`` muxer, plus a master playlist naming every variant with its bandwidth, resolution and codecs.

Layout (relative to the trailer's outputs): ``hls/master.m3u8``, ``hls/{rung}/index.m3u8``,
``hls/{rung}/seg_00000.ts``...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from genmedia.trailer.frames import Rung

MASTER = "master.m3u8"


@dataclass(frozen=True)
class Variant:
    """One remuxed variant: its playlist (relative to the HLS root), peak bitrate and codecs string."""

    rung: Rung
    playlist: str
    bandwidth: int
    average_bandwidth: int
    codecs: str


def _avc_codec_string(extradata: bytes | None) -> str:
    """``avc1.PPCCLL`` from an avcC record (profile, constraint flags, level); a Main@3.1 default otherwise."""
    if extradata and len(extradata) >= 4 and extradata[0] == 1:
        return f"avc1.{extradata[1]:02x}{extradata[2]:02x}{extradata[3]:02x}"
    return "avc1.4d401f"


def _segment_durations(playlist: Path) -> list[float]:
    """The ``#EXTINF`` durations of a media playlist."""
    return [float(line.split(":", 1)[1].split(",", 1)[0]) for line in playlist.read_text().splitlines()
            if line.startswith("#EXTINF:")]


def remux_variant(mp4: Path, rung: Rung, hls_root: Path, segment_seconds: float) -> Variant:
    """Remux ``mp4`` into ``hls_root/{rung}/`` as a VOD media playlist of TS segments."""
    folder = hls_root / rung.name
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    with av.open(str(mp4)) as src:
        video = src.streams.video[0]
        codecs = [_avc_codec_string(video.codec_context.extradata)]
        options = {
            "hls_time": f"{segment_seconds:g}",
            "hls_playlist_type": "vod",
            "hls_segment_type": "mpegts",
            "hls_segment_filename": str(folder / "seg_%05d.ts"),
            "hls_flags": "independent_segments",
        }
        with av.open(str(playlist), "w", format="hls", options=options) as dst:
            mapping = {video.index: dst.add_stream_from_template(video)}
            if src.streams.audio:
                audio = src.streams.audio[0]
                mapping[audio.index] = dst.add_stream_from_template(audio)
                codecs.append("mp4a.40.2")
            for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
                if packet.dts is None:
                    continue
                packet.stream = mapping[packet.stream_index]
                dst.mux(packet)
    durations = _segment_durations(playlist)
    sizes = [p.stat().st_size for p in sorted(folder.glob("seg_*.ts"))]
    peak = max((8 * s / d for s, d in zip(sizes, durations, strict=False) if d > 0), default=0.0)
    average = 8 * sum(sizes) / max(sum(durations), 1e-9)
    return Variant(rung, f"{rung.name}/index.m3u8", int(peak) + 1, int(average) + 1, ",".join(codecs))


def write_master(hls_root: Path, variants: list[Variant]) -> Path:
    """Write ``master.m3u8`` listing ``variants`` (largest first)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f"RESOLUTION={v.rung.width}x{v.rung.height},CODECS=\"{v.codecs}\""
        )
        lines.append(v.playlist)
    path = hls_root / MASTER
    path.write_text("\n".join(lines) + "\n")
    return path


def write_hls(renditions: dict[str, Path], rungs: list[Rung], hls_root: Path, segment_seconds: float = 2.0) -> list[Path]:
    """Remux every rendition and write the master playlist; return every file written (master last)."""
    variants = [remux_variant(renditions[r.name], r, hls_root, segment_seconds) for r in rungs]
    files = [p for v in variants for p in sorted((hls_root / v.rung.name).iterdir())]
    return [*files, write_master(hls_root, variants)]
