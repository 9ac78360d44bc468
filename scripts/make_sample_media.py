#!/usr/bin/env python
"""Write the genmedia sample clip and its ground truth (and optionally the messy variants) into OUTDIR.

python scripts/make_sample_media.py OUTDIR [--seconds N] [--width W --height H] [--messy]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from genmedia.media.synthetic import DEFAULT_SECONDS, make_messy_set, make_sample_clip, truth_path  # noqa: E402


def _jsonable(value: object) -> object:
    """JSON form of the facts dataclasses (fractions become "num/den" strings)."""
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    raise TypeError(f"cannot serialise {type(value).__name__}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the media, print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-speech", action="store_true", help="leave the spoken sentence out")
    parser.add_argument(
        "--messy",
        action="store_true",
        help="also write VFR, rotated, anamorphic, odd-size, "
        "MKV, 10-bit, audio-only, truncated and corrupted variants (facts in messy.json)",
    )
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    clip = args.outdir / "sample.mp4"
    try:
        make_sample_clip(
            clip,
            width=args.width,
            height=args.height,
            fps=args.fps,
            seconds=args.seconds,
            speech=not args.no_speech,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(clip)
    print(truth_path(clip))
    if args.messy:
        facts = {name: dataclasses.asdict(f) for name, f in make_messy_set(args.outdir / "messy", clip).items()}
        manifest = args.outdir / "messy" / "messy.json"
        manifest.write_text(json.dumps(facts, indent=2, default=_jsonable) + "\n")
        print(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
