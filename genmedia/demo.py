"""``genmedia demo``: make a sample clip with known content, run the jobs on it on a local Ray, write report.html.

Each job adds one step to :data:`STEPS`; a step runs its job on the sample clip and returns the report
section that shows its outputs. The demo needs nothing beyond the package (no other files, no model hub).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field
from rich.console import Console

from genmedia.config import Config
from genmedia.media.probe import MediaInfo, probe
from genmedia.media.synthetic import SampleTruth, make_sample_clip
from genmedia.report import Section, sparkline_svg, write_report
from genmedia.runtime import init_ray
from genmedia.storage import is_local, local_path


@dataclass
class DemoInput:
    """The sample clip every step works on."""

    cfg: Config
    clip: Path
    truth: SampleTruth
    info: MediaInfo
    console: Console


class DemoResult(BaseModel):
    """What the demo made."""

    report: str
    clip: str
    steps: dict[str, float] = Field(description="Step name -> seconds.")

    def summary_line(self) -> str:
        """One line: steps run and where the report is."""
        steps = ", ".join(f"{name} {secs:.1f}s" for name, secs in self.steps.items())
        return f"demo done ({steps}) -> {self.report}"


def analyze_step(demo: DemoInput) -> Section:
    """Run the analysis job on the clip; compare its shots and tempo with the known answers."""
    import html

    from genmedia.pipelines.analyze import CONTACT_SHEET, load_analysis
    from genmedia.report import relative_link

    analysis = load_analysis(demo.cfg, str(demo.clip))
    truth, result = demo.truth, analysis.result
    starts = {s.start_frame: s.transition for s in analysis.shots}
    cuts_found = sum(any(abs(c - f) <= 1 and t == "cut" for f, t in starts.items()) for c in truth.cuts)
    tempo = analysis.audio.get("tempo") if analysis.audio else None
    features = analysis.features
    first_rows = [
        int(features.index[features["shot"] == s.index][0])
        for s in analysis.shots
        if (features["shot"] == s.index).any()
    ]
    sheet = relative_link(result.files[CONTACT_SHEET], local_path(demo.cfg.storage.root))
    return Section(
        "Scene analysis",
        facts={
            "shots found": ", ".join(f"{s.start_frame} ({s.transition})" for s in analysis.shots),
            "known hard cuts found within 1 frame": f"{cuts_found} of {len(truth.cuts)}",
            "tempo": f"{tempo:.2f} BPM (known {truth.audio.bpm:g})" if tempo else "no audio",
            "analysed frames": len(features),
            "frames with faces": int((features["faces"] > 0).sum()),
            "backends": ", ".join(f"{k}: {v}" for k, v in analysis.backends.items() if v),
            "time": f"{result.elapsed_s:.1f} s",
        },
        body_html=(
            "<p>Motion energy per analysed frame; red lines are the detected shot starts.</p>"
            + sparkline_svg(features["motion"].fillna(0).tolist(), marks=first_rows)
            + f"<p><img src='{html.escape(sheet)}' alt='contact sheet: one thumbnail per shot'></p>"
        ),
        links={name: uri for name, uri in result.files.items()},
    )


def trailer_step(demo: DemoInput) -> Section:
    """Cut a 6 s trailer of the clip on its own beat, one rendition plus HLS; check cuts against the known beats."""
    import html
    import json
    from fractions import Fraction

    from genmedia.pipelines import trailer
    from genmedia.report import relative_link

    quality = f"{min(demo.info.display_width, demo.info.display_height)}p"
    result = trailer.run(
        demo.cfg, str(demo.clip), trailer.Params(duration=6.0, qualities=[quality], hls=True, title="genmedia demo")
    )
    edl = json.loads(local_path(result.files[trailer.EDL_NAME]).read_text())
    frame = 1 / float(Fraction(edl["fps"]))
    truth = demo.truth
    on_beat = sum(min(abs(c["source_in"] - b) for b in truth.audio.beat_times) <= frame for c in edl["clips"][1:])
    used = [
        next((s.content for s in truth.shots if s.start <= c["source_in"] * truth.fps < s.end), "?")
        for c in edl["clips"]
    ]
    poster = relative_link(result.files[trailer.POSTER_NAME], local_path(demo.cfg.storage.root))
    return Section(
        "Trailer",
        facts={
            "duration": f"{edl['duration']:.3f} s ({edl['frame_count']} frames, target {edl['target_duration']:g} s)",
            "clips (known content of the source range)": ", ".join(used),
            "cuts (trailer frames)": ", ".join(str(c["trailer_in_frame"]) for c in edl["clips"][1:]),
            "cuts on a known beat (within 1 frame)": f"{on_beat} of {len(edl['clips']) - 1} (sync: {edl['sync']})",
            "transitions": ", ".join(c["transition"] for c in edl["clips"])
            + f", end card: {edl['end_card']['transition']}",
            "loudness": f"{edl['audio']['measured_lufs']} LUFS integrated (target {edl['audio']['target_lufs']:g})",
            "encoder": result.details.get("encoder", ""),
            "time": f"{result.elapsed_s:.1f} s",
        },
        body_html=f"<p>Poster frame (the best-scoring frame of the chosen clips):</p><p><img src='{html.escape(poster)}' alt='trailer poster'></p>",
        links={name: uri for name, uri in result.files.items() if not name.endswith((".ts", "/index.m3u8"))},
    )


def thumbnails_step(demo: DemoInput) -> Section:
    """Make 4 thumbnail variants (16:9, 1:1, 9:16) with a title; check the face shot was chosen and kept whole."""
    import html
    import json

    from genmedia.pipelines import thumbnails
    from genmedia.report import relative_link
    from genmedia.storage import local_path as to_local

    params = thumbnails.Params(
        variants=4, aspects=["16:9", "1:1", "9:16"], size=640, formats=["jpeg"], title="genmedia demo"
    )
    result = thumbnails.run(demo.cfg, str(demo.clip), params)
    doc = json.loads(to_local(result.files["thumbnails.json"]).read_text())
    fps, face = demo.truth.fps, demo.truth.face
    face_box = face.box  # the clip is square-pixel and unrotated: display geometry = coded geometry
    used = [
        next((s.content for s in demo.truth.shots if s.start <= round(v["time"] * fps) < s.end), "?")
        for v in doc["variants"]
    ]
    face_variants = [v for v in doc["variants"] if face.start <= round(v["time"] * fps) < face.end]
    kept = [
        all(
            a["crop"][0] <= face_box[0] and a["crop"][0] + a["crop"][2] >= face_box[0] + face_box[2]
            for a in v["aspects"].values()
        )
        for v in face_variants
    ]
    root = local_path(demo.cfg.storage.root)
    shown = [v for v in doc["variants"] if v["published"]][:2]
    imgs = "".join(
        f"<img src='{html.escape(relative_link(result.files[a['file']], root))}' alt='{v['id']} {label}' style='height:160px;margin-right:6px'>"
        for v in shown
        for label, a in v["aspects"].items()
    )
    return Section(
        "Thumbnails",
        facts={
            "variants (source content)": ", ".join(
                f"{v['id']}: {c} at {v['time']:.2f} s" for v, c in zip(doc["variants"], used, strict=True)
            ),
            "face shot chosen, face kept whole in every crop": f"{len(face_variants)} variant(s), kept: {all(kept) if kept else 'n/a'}",
            "backend": result.details.get("backend", ""),
            "time": f"{result.elapsed_s:.1f} s",
        },
        body_html=f"<p>The first two variants at every aspect ratio (all in thumbnails.html):</p><p>{imgs}</p>",
        links={"thumbnails.html": result.files["thumbnails.html"], "thumbnails.json": result.files["thumbnails.json"]},
    )


def subtitles_step(demo: DemoInput) -> Section:
    """Subtitle the clip's spoken sentence in its own language (no translation weights needed); compare with the known text."""
    import html
    import json

    from genmedia.pipelines import subtitles
    from genmedia.storage import local_path as to_local
    from genmedia.subtitles.wer import wer

    result = subtitles.run(demo.cfg, str(demo.clip), subtitles.Params(voiceprints=False))
    doc = json.loads(to_local(result.files["transcript.json"]).read_text())
    lang = doc["language"]
    cues = doc["tracks"][lang]["cue_list"]
    said = demo.truth.audio.speech
    heard = " ".join(s["text"] for s in doc["segments"])
    rows = "".join(
        f"<tr><td>{c['start']:.2f}</td><td>{c['end']:.2f}</td><td>{html.escape(c['text']).replace(chr(10), '<br>')}</td></tr>"
        for c in cues
    )
    return Section(
        "Subtitles",
        facts={
            "known sentence": f"{said.text} ({said.start:.2f}-{said.end:.2f} s)" if said else "none",
            "heard": heard or "(nothing)",
            "word error rate": f"{wer(said.text, heard):.0%}" if said else "n/a",
            "language, speakers, cues": f"{lang}, {len(doc['speakers'])}, {len(cues)}",
            "snapped to shot changes": result.details.get("shot_changes", 0),
            "model": f"{doc['backend']} {doc['model']}",
            "time": f"{result.elapsed_s:.1f} s",
        },
        body_html=f"<table><tr><th>start</th><th>end</th><th>cue</th></tr>{rows}</table>",
        links={name: result.files[name] for name in (f"{lang}.srt", f"{lang}.vtt", f"{lang}.ass", "transcript.json")},
    )


def enhance_step(demo: DemoInput) -> Section:
    """Upscale x2 with automatic denoise and per-shot grading; show a frame of the face shot before and after."""
    import html

    import av
    import cv2
    import numpy as np

    from genmedia.pipelines import enhance
    from genmedia.report import relative_link

    cfg = demo.cfg
    result = enhance.run(cfg, str(demo.clip), enhance.Params(upscale=2, denoise="auto", grade="auto"))
    doc = enhance.load_report(cfg, result)
    face = demo.truth.face
    wanted = (face.start + face.end) // 2
    pictures = {}
    for name, path in (("before", demo.clip), ("after", local_path(result.files[enhance.VIDEO]))):
        with av.open(str(path)) as container:
            frame = next(f for i, f in enumerate(container.decode(video=0)) if i == wanted)
            pictures[name] = frame.to_ndarray(format="rgb24")
    h, w = pictures["after"].shape[:2]
    side = np.concatenate(
        [cv2.resize(pictures["before"], (w, h), interpolation=cv2.INTER_NEAREST), pictures["after"]], axis=1
    )
    root = local_path(cfg.storage.root)
    still = root / "enhance_before_after.png"
    cv2.imwrite(str(still), cv2.cvtColor(side, cv2.COLOR_RGB2BGR))
    out, tp = doc["output"], doc["throughput"]
    return Section(
        "Enhance",
        facts={
            "output": f"{out['width']}x{out['height']} @ {out['fps']:g} fps, {out['frames']} frames, {out['codec']} {out['pix_fmt']}",
            "applied": ", ".join(doc["applied"]) or "nothing",
            "noise measured (sigma, 8-bit)": f"{doc['denoise']['measured_sigma']:.2f}",
            "shots graded (from the analysis)": f"{len(doc['grade']['per_shot'])} ({doc['shots']['source']})",
            "backends": ", ".join(f"{k}: {v}" for k, v in doc["backends"].items()),
            "main pass": f"{tp['main_pass_s']:.1f} s, {tp['end_to_end_fps']} input frames/s",
            "time": f"{result.elapsed_s:.1f} s",
        },
        body_html=(
            f"<p>Frame {wanted} (face shot): source scaled with nearest neighbour (left) and enhanced (right).</p>"
            f"<p><img src='{html.escape(relative_link(str(still), root))}' alt='before and after enhancement'></p>"
        ),
        links={name: result.files[name] for name in (enhance.VIDEO, enhance.REPORT, enhance.LUT)},
    )


STEPS: list[tuple[str, Callable[[DemoInput], Section]]] = [
    ("analyze", analyze_step),
    ("trailer", trailer_step),
    ("thumbnails", thumbnails_step),
    ("subtitles", subtitles_step),
    ("enhance", enhance_step),
]
"""Demo steps in order: (name, step). Each job's issue adds its step here."""


def _input_section(demo: DemoInput) -> Section:
    info, truth = demo.info, demo.truth
    return Section(
        "Sample clip",
        facts={
            "file": demo.clip.name,
            "size": f"{info.width}x{info.height} @ {info.fps:g} fps, {info.duration:.2f} s, {info.frame_count} frames",
            "codecs": f"{info.video_codec} + {', '.join(a.codec for a in info.audio_streams) or 'no audio'}",
            "known hard cuts (frames)": ", ".join(map(str, truth.cuts)),
            "known fades (frames)": ", ".join(f"{f.out_start}-{f.in_end}" for f in truth.fades),
            "beat track": f"{truth.audio.bpm:g} BPM",
            "speech": truth.audio.speech.text if truth.audio.speech else "none",
        },
        links={"sample.mp4": str(demo.clip)},
    )


def run_demo(cfg: Config, *, small: bool = False, console: Console | None = None) -> DemoResult:
    """Run every demo step on a fresh sample clip under the config's (local) storage root."""
    console = console or Console(stderr=True)
    if not is_local(cfg.storage.root):
        raise ValueError(f"the demo writes its report locally; use --out DIR (storage.root is {cfg.storage.root})")
    root = local_path(cfg.storage.root)
    clip = root / "sample" / "sample.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"making the sample clip {clip} ...")
    size = {"width": 320, "height": 180, "seconds": 12} if small else {"width": 640, "height": 360, "seconds": 24}
    truth = make_sample_clip(clip, **size)
    info = probe(clip, cfg.limits)
    console.print(
        "starting a local Ray ..." if cfg.ray.address == "local" else f"connecting to Ray at {cfg.ray.address} ..."
    )
    init_ray(cfg)
    demo = DemoInput(cfg=cfg, clip=clip, truth=truth, info=info, console=console)
    sections, timings = [_input_section(demo)], {}
    for name, step in STEPS:
        console.print(f"running {name} ...")
        started = time.perf_counter()
        sections.append(step(demo))
        timings[name] = round(time.perf_counter() - started, 2)
    report = write_report(root / "report.html", "genmedia demo", sections)
    from genmedia.serving.cli import curl_hint

    console.print(curl_hint(clip, cfg.serve.port), highlight=False, soft_wrap=True)
    return DemoResult(report=str(report), clip=str(clip), steps=timings)
