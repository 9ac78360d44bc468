"""``genmedia demo``: make a sample clip with known content, run the jobs on it on a local Ray, write report.html.

Each job adds one step to :data:`STEPS`; a step runs its job on the sample clip and returns the report
section that shows its outputs. The demo needs nothing beyond the package (no ../shared, no model hub).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from rich.console import Console

from genmedia.config import Config
from genmedia.media.probe import MediaInfo, probe
from genmedia.media.synthetic import SampleTruth, make_sample_clip
from genmedia.pipelines.frames import frames_dataset
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


def decode_step(demo: DemoInput) -> Section:
    """Decode the clip's keyframe-aligned segments in parallel Ray tasks and check every frame arrived."""
    cfg = demo.cfg
    ds = frames_dataset(demo.info, cfg.pipelines.decode, fmt="gray", width=cfg.pipelines.decode.analysis_width)
    luma = np.full(demo.info.frame_count, np.nan)
    segments: set[int] = set()
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        luma[batch["frame_index"]] = batch["frame"].reshape(len(batch["frame"]), -1).mean(axis=1)
        segments.update(batch["segment"].tolist())
    missing = int(np.isnan(luma).sum())
    if missing:
        raise RuntimeError(f"{demo.clip}: {missing} of {demo.info.frame_count} frames missing from the parallel decode")
    return Section(
        "Decode on Ray",
        facts={"frames decoded": demo.info.frame_count, "segments (parallel tasks)": len(segments), "analysis size": f"{ds.take(1)[0]['frame'].shape[::-1]}"},
        body_html="<p>Mean luma per frame; red lines are the known hard cuts.</p>" + sparkline_svg(luma.tolist(), marks=demo.truth.cuts),
    )


STEPS: list[tuple[str, Callable[[DemoInput], Section]]] = [("decode", decode_step)]
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
    console.print("starting a local Ray ..." if cfg.ray.address == "local" else f"connecting to Ray at {cfg.ray.address} ...")
    init_ray(cfg)
    demo = DemoInput(cfg=cfg, clip=clip, truth=truth, info=info, console=console)
    sections, timings = [_input_section(demo)], {}
    for name, step in STEPS:
        console.print(f"running {name} ...")
        started = time.perf_counter()
        sections.append(step(demo))
        timings[name] = round(time.perf_counter() - started, 2)
    report = write_report(root / "report.html", "genmedia demo", sections)
    return DemoResult(report=str(report), clip=str(clip), steps=timings)
