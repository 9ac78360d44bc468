"""Load on the HTTP API: a real load generator (``hey``) and N concurrent clients on loopback, whole processes.

    apt-get update && apt-get install -y hey wrk      # the load generator (the benchmark says so when it is missing)
    python benchmarks/serve_load.py [--clients 8] [--seconds 10] [--burst 1000] [--phases 1,2] [--max-queued 64]

Starts a local Ray and the genmedia Serve app as ``genmedia serve`` does (``genmedia.serving.app.start``, with its
``SERVE_ENV``; ingress + the classical upscaler as the model deployment), then measures with ``hey`` (one process, per-request CSV: latency and status of every request):

Every phase runs with small request queues by default (``--max-queued 4``: ``serve.max_queued_requests``, so the
overload phase meets them; the ingress takes 32 requests in flight plus 4 waiting and refuses more with 503 at
once); ``--max-queued 64`` is the shipped config's value (``genmedia serve``).

1. ``GET /healthz`` at 50 connections for ``--seconds``: p50/p99, timeouts (target: p99 <= 100 ms, none);
2. ``POST /v1/jobs`` at 300 connections for ``--seconds`` (one uploaded clip, identical params: the first is
   queued, the rest are duplicates answered 200, or refused 503/429 by the ingress's bounds): p99 of the
   refusals (target <= 100 ms) and that nothing hangs;
3. a burst of ``--burst`` submissions within 10 s (identical work, as a caller retrying would send): every
   answer 202/200/429, the accepted job ends done, and the memory of the whole process tree (this driver,
   Ray, Serve, the job workers) sampled during the burst and after it, against its idle size before;

then, with Python threads as clients, for ``--seconds`` each:

4. ``GET /healthz`` through Serve, against the peer: the same FastAPI app under plain uvicorn (no Serve);
5. ``POST /v1/models/upscaler/infer`` (a 64x64 frame to 256x144) through Serve, against the peer: the same
   model class called in-process by the same number of threads;
6. overload: 6x the clients against the model with small queues; refused requests must be 503s that come
   back within a second, not timeouts.

Prints throughput, p50/p99 latency and error counts per phase, and the ratios against the peers.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(call: Callable[[], int], clients: int, seconds: float) -> dict[str, object]:
    """Run ``call`` from ``clients`` threads for ``seconds``; returns throughput, latencies and status counts."""
    latencies: dict[int, list[float]] = {}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                code = call()
            except httpx.HTTPError:
                code = -1
            with lock:
                latencies.setdefault(code, []).append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = np.array(latencies.get(200, [0.0]))
    codes = Counter({code: len(v) for code, v in latencies.items()})
    refused = np.array(latencies.get(503, [0.0]))
    return {
        "rps": len(latencies.get(200, [])) / seconds,
        "p50": float(np.percentile(ok, 50)),
        "p99": float(np.percentile(ok, 99)),
        "codes": dict(codes),
        "p99_503": float(np.percentile(refused, 99)),
    }


def need_hey() -> str | None:
    """The path of ``hey``, or None after telling the user how to install it."""
    path = shutil.which("hey")
    if path is None:
        print(
            "hey (the HTTP load generator) is not installed; install it with:\n"
            "    apt-get update && apt-get install -y hey wrk\n"
            "(Debian/Ubuntu packages; or `go install github.com/rakyll/hey@latest`)",
            file=sys.stderr,
        )
    return path


def run_hey(
    hey: str,
    url: str,
    *,
    connections: int,
    seconds: float | None = None,
    requests: int | None = None,
    qps_per_connection: float | None = None,
    method: str = "GET",
    body: str | None = None,
) -> list[tuple[float, int, float]]:
    """Run hey against ``url``; (latency s, status, start s after the run began) of every request, status 0 for an
    error or a timeout (5 s)."""
    cmd = [hey, "-c", str(connections), "-t", "5", "-o", "csv", "-m", method, "-H", f"Authorization: Bearer {KEY}"]
    cmd += ["-z", f"{seconds:g}s"] if seconds else ["-n", str(requests)]
    if qps_per_connection:
        cmd += ["-q", f"{qps_per_connection:g}"]
    if body is not None:
        cmd += ["-T", "application/json", "-d", body]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rows = csv.DictReader(io.StringIO(out))
    return [(float(r["response-time"]), int(r["status-code"] or 0), float(r["offset"])) for r in rows]


def summary(results: list[tuple[float, int, float]], seconds: float) -> dict[str, object]:
    """Requests/s, latency percentiles overall and per status, the status counts, and the p99 of the requests sent
    in the first second (connections opening) and after it."""
    by_status: dict[int, list[float]] = {}
    for latency, status, _ in results:
        by_status.setdefault(status, []).append(latency)
    pct = {
        code: (float(np.percentile(v, 50)), float(np.percentile(v, 99)), float(max(v))) for code, v in by_status.items()
    }
    all_lat = [latency for latency, _, _ in results] or [0.0]
    first = [latency for latency, _, offset in results if offset < 1.0] or [0.0]
    later = [latency for latency, _, offset in results if offset >= 1.0] or [0.0]
    return {
        "rps": len(results) / seconds,
        "p50": float(np.percentile(all_lat, 50)),
        "p99": float(np.percentile(all_lat, 99)),
        "max": float(max(all_lat)),
        "codes": dict(sorted(Counter(s for _, s, _ in results).items())),
        "per_status": pct,
        "p99_first_s": float(np.percentile(first, 99)),
        "p99_after_first_s": float(np.percentile(later, 99)),
    }


def hey_line(name: str, r: dict[str, object]) -> str:
    per = "; ".join(
        f"{code}: p50 {p50 * 1000:.0f} ms p99 {p99 * 1000:.0f} ms max {mx * 1000:.0f} ms"
        for code, (p50, p99, mx) in r["per_status"].items()
    )  # type: ignore[union-attr]
    return (
        f"{name:<44} {r['rps']:8.1f} req/s  p50 {r['p50'] * 1000:7.1f} ms  p99 {r['p99'] * 1000:7.1f} ms  "
        f"statuses {r['codes']} (0 = error/timeout)\n    per status: {per}\n"
        f"    p99 of requests sent in the first second {r['p99_first_s'] * 1000:.0f} ms, "
        f"after it {r['p99_after_first_s'] * 1000:.0f} ms"
    )


def tree_rss() -> float:
    """Resident memory of this process and all its descendants (Ray, Serve, job workers), in GB."""
    import psutil

    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e9


def line(name: str, r: dict[str, object]) -> str:
    return f"{name:<34} {r['rps']:8.1f} req/s  p50 {r['p50'] * 1000:7.1f} ms  p99 {r['p99'] * 1000:7.1f} ms  statuses {r['codes']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=1000, help="Job submissions sent within 10 s in phase 3.")
    parser.add_argument(
        "--max-queued", type=int, default=4, help="serve.max_queued_requests (64 in the shipped config)."
    )
    parser.add_argument(
        "--phases",
        default="1,2,3,4,5,6",
        help="Phases to run, comma-separated (4-6 run together when any is named); 1,2: the latency targets.",
    )
    args = parser.parse_args()
    phases = {int(p) for p in args.phases.split(",")}
    hey = need_hey()
    if hey is None:
        sys.exit(2)

    import ray
    import uvicorn
    from ray import serve

    from genmedia.config import ModelConfig, Replicas, Resources, load_config
    from genmedia.deployments.upscaler import Upscaler
    from genmedia.jobs.records import JobStore
    from genmedia.security import api_key_digests
    from genmedia.serving.app import start
    from genmedia.serving.ingress import ApiState, create_api
    from genmedia.serving.models import encode_value

    tmp = tempfile.mkdtemp(prefix="genmedia-bench-")
    upscaler = ModelConfig(
        backend="classical", resources={"cpu": Resources(num_cpus=0.5)}, replicas=Replicas(min=1, max=1), batch_size=4
    )
    cfg = load_config(
        None,
        storage={"root": f"{tmp}/out", "cache_dir": f"{tmp}/cache"},
        serve={
            "api_keys": [KEY],
            "max_queued_requests": args.max_queued,
            "allowed_input_schemes": ["s3", "https", "http"],
        },
    )
    cfg = cfg.model_copy(update={"models": {"upscaler": upscaler}})
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.clients} clients x {args.seconds:g} s per phase"
    )

    # Peer for the cheap endpoint: the same FastAPI app under plain uvicorn.
    plain_port = free_port()
    state = ApiState(cfg=cfg, key_digests=api_key_digests(cfg), store=JobStore.from_config(cfg))
    server = uvicorn.Server(uvicorn.Config(create_api(state), host="127.0.0.1", port=plain_port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)

    port = free_port()
    start(cfg, host="127.0.0.1", port=port, blocking=False)  # as `genmedia serve` starts it
    url = f"http://127.0.0.1:{port}"
    local = threading.local()

    def client(base: str) -> httpx.Client:
        if getattr(local, base, None) is None:
            setattr(local, base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30))
        return getattr(local, base)

    job_phases(hey, url, args.seconds, args.burst, phases)
    if not phases & {4, 5, 6}:
        serve.shutdown()
        ray.shutdown()
        server.should_exit = True
        return

    frames = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    body = {"inputs": {"frames": encode_value(frames), "out_width": 256, "out_height": 144}}

    plain = hammer(
        lambda: client(f"http://127.0.0.1:{plain_port}").get("/healthz").status_code, args.clients, args.seconds
    )
    served = hammer(lambda: client(url).get("/healthz").status_code, args.clients, args.seconds)
    print(line("healthz, plain uvicorn (peer)", plain))
    print(line("healthz, Ray Serve", served))
    print(f"  Serve / plain uvicorn throughput: {served['rps'] / plain['rps']:.2f}x")

    model = Upscaler(cfg, "upscaler")
    lock = threading.Lock()

    def direct() -> int:
        with lock:  # one model instance, like one replica
            model({"frames": frames[None], "out_width": np.array([256]), "out_height": np.array([144])})
        return 200

    peer = hammer(direct, args.clients, args.seconds)
    infer = hammer(
        lambda: client(url).post("/v1/models/upscaler/infer", json=body).status_code, args.clients, args.seconds
    )
    print(line("upscaler, in-process call (peer)", peer))
    print(line("upscaler over HTTP, Ray Serve", infer))
    print(f"  HTTP+Serve / in-process throughput: {infer['rps'] / peer['rps']:.2f}x")

    over = hammer(
        lambda: client(url).post("/v1/models/upscaler/infer", json=body).status_code, args.clients * 6, args.seconds
    )
    print(line(f"overload ({args.clients * 6} clients)", over))
    refused = over["codes"].get(503, 0)
    print(
        f"  503s: {refused}, p99 latency of a 503: {over['p99_503'] * 1000:.0f} ms; timeouts/errors: {over['codes'].get(-1, 0)}"
    )
    serve.shutdown()
    ray.shutdown()
    server.should_exit = True


def job_phases(hey: str, url: str, seconds: float, burst: int, phases: set[int]) -> None:
    """Those of phases 1-3 (see the module docstring) in ``phases`` against the running app at ``url``."""
    from genmedia.media.synthetic import make_sample_clip

    clip = Path(tempfile.mkdtemp(prefix="genmedia-bench-clip-")) / "clip.mp4"
    make_sample_clip(clip, width=160, height=90, fps=12, seconds=8.0, seed=3)
    headers = {"Authorization": f"Bearer {KEY}"}
    upload = httpx.post(
        f"{url}/v1/uploads", params={"name": "clip.mp4"}, content=clip.read_bytes(), headers=headers, timeout=60
    ).json()
    time.sleep(3)
    idle = tree_rss()
    print(f"process tree idle: {idle:.2f} GB")

    if 1 in phases:
        health = summary(run_hey(hey, f"{url}/healthz", connections=50, seconds=seconds), seconds)
        print(hey_line("1. healthz, hey, 50 connections", health))
    if 2 in phases:
        body = json.dumps({"video": upload["id"], "job": "analyze", "params": {"embed": "off"}})
        jobs = summary(
            run_hey(hey, f"{url}/v1/jobs", connections=300, seconds=seconds, method="POST", body=body), seconds
        )
        print(hey_line("2. POST /v1/jobs, hey, 300 connections", jobs))
        refusals = [p99 for code, (_, p99, _) in jobs["per_status"].items() if code in (429, 503)]  # type: ignore[union-attr]
        print(f"    refusals (429/503) p99: {max(refusals) * 1000:.0f} ms" if refusals else "    no refusals")
    if 3 not in phases:
        return

    body = json.dumps({"video": upload["id"], "job": "analyze", "params": {"embed": "off", "sample_fps": 3}})
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append(tree_rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    results = run_hey(
        hey,
        f"{url}/v1/jobs",
        connections=min(100, burst),
        requests=burst,
        qps_per_connection=burst / 10 / min(100, burst),
        method="POST",
        body=body,
    )
    took = time.perf_counter() - started
    print(hey_line(f"3. burst of {burst} submissions in {took:.1f} s", summary(results, took)))
    accepted = _accepted_jobs(url, headers, body)
    deadline = time.monotonic() + 600
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {
            job: httpx.get(f"{url}/v1/jobs/{job}", headers=headers, timeout=30).json()["status"] for job in accepted
        }
        if all(s not in ("queued", "running") for s in states.values()):
            break
        time.sleep(1)
    done_at = time.perf_counter() - started
    time.sleep(10)  # idle workers exit; the sampler keeps going
    done.set()
    sampler.join()
    after = tree_rss()
    print(f"    accepted jobs: {dict(Counter(states.values()))} (all ended {done_at:.0f} s after the burst began)")
    print(
        f"    process tree: idle {idle:.2f} GB, peak during the burst and its jobs {max(samples, default=after):.2f} GB, "
        f"10 s after the last job ended {after:.2f} GB"
    )


def _accepted_jobs(url: str, headers: dict[str, str], body: str) -> set[str]:
    """The distinct job ids the burst's body maps to now (one submission more: a duplicate answers with the same id)."""
    resp = httpx.post(
        f"{url}/v1/jobs", content=body, headers={**headers, "Content-Type": "application/json"}, timeout=60
    )
    return {resp.json()["id"]} if resp.status_code in (200, 202) else set()


if __name__ == "__main__":
    main()
