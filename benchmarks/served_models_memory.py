"""Process-tree memory of N concurrent subtitle jobs under the Serve app: shared transcriber replicas vs one copy per job.

    python benchmarks/served_models_memory.py --mode served   # jobs call the transcriber deployment (default)
    python benchmarks/served_models_memory.py --mode actors   # jobs.use_served_models: false, one actor pool per job

Starts a local Ray and the genmedia Serve app (ingress + the transcriber deployment: the real Whisper base, int8,
one replica), uploads ``genmedia/assets/sample_speech.flac`` once and submits ``--jobs`` subtitles jobs at once
(distinct glossaries, so none is a duplicate of another; no speaker labels). The job plane lets all of them run
together (``jobs.running_per_type.subtitles = --jobs``, ``cpus_per_job`` 0.1) and the transcriber asks for
0.5 CPU, so in ``actors`` mode every job's actor pool can start its own Whisper at once: what the app did before
jobs shared the replicas. Every second it samples the RSS and PSS of the whole process tree (this driver, Ray,
Serve, job workers, actors) with psutil, and prints the idle size before the jobs, the peak while they run, the
size after they end, the jobs' wall time and (``served``) the requests the transcriber replica answered. Run each
mode in its own process (a fresh Ray) on a quiet machine; say the load (``uptime``) beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

SPEECH = Path(__file__).resolve().parent.parent / "genmedia" / "assets" / "sample_speech.flac"
KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_memory() -> tuple[float, float, int]:
    """(RSS GB, PSS GB, processes) of this process and all its descendants."""
    me = psutil.Process()
    rss = pss = 0
    procs = [me, *me.children(recursive=True)]
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 1e9, pss / 1e9, len(procs)


class Sampler(threading.Thread):
    """Samples :func:`tree_memory` every ``every_s`` until stopped; keeps the peak."""

    def __init__(self, every_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.every_s = every_s
        self.peak = (0.0, 0.0, 0)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            rss, pss, n = tree_memory()
            if pss > self.peak[1]:
                self.peak = (rss, pss, n)
            self.halt.wait(self.every_s)


def config(mode: str, jobs: int, root: Path):  # noqa: ANN201 (-> Config)
    from genmedia.config import Resources, load_config

    base = load_config(
        None,
        storage={"root": str(root / "out")},
        jobs={
            "store_url": f"sqlite:///{root / 'jobs.db'}",
            "running_per_type": {"subtitles": jobs},
            "cpus_per_job": 0.1,
            "use_served_models": mode == "served",
        },
        ray={"num_cpus": 2 + jobs},
        serve={"api_keys": [KEY]},
    )
    whisper = base.model("transcriber").model_copy(update={"resources": {"cpu": Resources(num_cpus=0.5)}})
    return base.model_copy(update={"models": {"transcriber": whisper}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["served", "actors"], default="served")
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()

    from ray import serve

    from genmedia.runtime import init_ray
    from genmedia.serving.app import APP_NAME, build_app

    root = Path(tempfile.mkdtemp(prefix="served-models-"))
    cfg = config(args.mode, args.jobs, root)
    init_ray(cfg)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 60})
    serve.run(build_app(cfg, gpu_types=[]), name=APP_NAME, route_prefix="/", blocking=False)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    while client.get("/healthz").status_code != 200:
        time.sleep(0.5)
    time.sleep(5)  # the replicas settle
    idle = tree_memory()
    upload = client.post("/v1/uploads", params={"name": SPEECH.name}, content=SPEECH.read_bytes()).json()["id"]
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    ids = []
    for i in range(args.jobs):
        params = {"diarize": False, "formats": ["srt"], "glossary": [f"bench-{args.mode}-{i}"]}
        answer = client.post("/v1/jobs", json={"video": upload, "job": "subtitles", "params": params})
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    views = {}
    while len(views) < len(ids):
        for job_id in ids:
            view = client.get(f"/v1/jobs/{job_id}").json()
            if view["status"] not in ("queued", "running"):
                views[job_id] = view
        time.sleep(0.5)
    wall = time.monotonic() - started
    sampler.halt.set()
    sampler.join()
    time.sleep(5)  # job workers exit (one job per worker process)
    after = tree_memory()
    statuses = sorted({v["status"] for v in views.values()})
    by = sorted({(v.get("result") or {}).get("details", {}).get("transcribed_by", "-") for v in views.values()})
    texts = sorted({(v.get("result") or {}).get("summary", v.get("error")) for v in views.values()})
    requests = (
        serve.get_deployment_handle("transcriber", APP_NAME).stats.remote().result()["requests"]
        if args.mode == "served"
        else None
    )
    report = {
        "mode": args.mode,
        "jobs": args.jobs,
        "statuses": statuses,
        "transcribed_by": by,
        "summaries": texts,
        "wall_s": round(wall, 1),
        "idle_rss_gb": round(idle[0], 2),
        "idle_pss_gb": round(idle[1], 2),
        "idle_processes": idle[2],
        "peak_rss_gb": round(sampler.peak[0], 2),
        "peak_pss_gb": round(sampler.peak[1], 2),
        "peak_processes": sampler.peak[2],
        "after_rss_gb": round(after[0], 2),
        "after_pss_gb": round(after[1], 2),
        "after_processes": after[2],
        "transcriber_requests": requests,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=1))
    serve.shutdown()


if __name__ == "__main__":
    main()
