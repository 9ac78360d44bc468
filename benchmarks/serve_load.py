"""Load on the HTTP API: N concurrent clients on loopback for a fixed time, against a cheap endpoint and a model.

    python benchmarks/serve_load.py [--clients 8] [--seconds 10]

Starts a local Ray and the genmedia Serve app (ingress + the classical upscaler as the model deployment),
then measures, each for ``--seconds``:

1. ``GET /healthz`` through Serve, against the peer: the same FastAPI app under plain uvicorn (no Serve);
2. ``POST /v1/models/upscaler/infer`` (a 64x64 frame to 256x144) through Serve, against the peer: the same
   model class called in-process by the same number of threads;
3. overload: 6x the clients against the model with small queues; refused requests must be 503s that come
   back within a second, not timeouts.

Prints throughput, p50/p99 latency and error counts per phase, and the ratios against the peers.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable

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
    return {"rps": len(latencies.get(200, [])) / seconds, "p50": float(np.percentile(ok, 50)), "p99": float(np.percentile(ok, 99)),
            "codes": dict(codes), "p99_503": float(np.percentile(refused, 99))}


def line(name: str, r: dict[str, object]) -> str:
    return f"{name:<34} {r['rps']:8.1f} req/s  p50 {r['p50'] * 1000:7.1f} ms  p99 {r['p99'] * 1000:7.1f} ms  statuses {r['codes']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    import ray
    import uvicorn
    from ray import serve

    from genmedia.config import ModelConfig, Replicas, Resources, load_config
    from genmedia.deployments.upscaler import Upscaler
    from genmedia.jobs.records import JobStore
    from genmedia.runtime import init_ray
    from genmedia.security import api_key_digests
    from genmedia.serving.app import APP_NAME, build_app
    from genmedia.serving.ingress import ApiState, create_api
    from genmedia.serving.models import encode_value

    tmp = tempfile.mkdtemp(prefix="genmedia-bench-")
    upscaler = ModelConfig(backend="classical", resources={"cpu": Resources(num_cpus=0.5)}, replicas=Replicas(min=1, max=1), batch_size=4)
    cfg = load_config(None, storage={"root": f"{tmp}/out", "cache_dir": f"{tmp}/cache"},
                      serve={"api_keys": [KEY], "max_queued_requests": 4})
    cfg = cfg.model_copy(update={"models": {"upscaler": upscaler}})
    print(f"{os.cpu_count()} cores; {args.clients} clients x {args.seconds:g} s per phase")

    # Peer for the cheap endpoint: the same FastAPI app under plain uvicorn.
    plain_port = free_port()
    state = ApiState(cfg=cfg, key_digests=api_key_digests(cfg), store=JobStore.from_config(cfg))
    server = uvicorn.Server(uvicorn.Config(create_api(state), host="127.0.0.1", port=plain_port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)

    init_ray(cfg)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 60})
    serve.run(build_app(cfg, gpu_types=[]), name=APP_NAME, route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    local = threading.local()

    def client(base: str) -> httpx.Client:
        if getattr(local, base, None) is None:
            setattr(local, base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30))
        return getattr(local, base)

    frames = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)
    body = {"inputs": {"frames": encode_value(frames), "out_width": 256, "out_height": 144}}

    plain = hammer(lambda: client(f"http://127.0.0.1:{plain_port}").get("/healthz").status_code, args.clients, args.seconds)
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
    infer = hammer(lambda: client(url).post("/v1/models/upscaler/infer", json=body).status_code, args.clients, args.seconds)
    print(line("upscaler, in-process call (peer)", peer))
    print(line("upscaler over HTTP, Ray Serve", infer))
    print(f"  HTTP+Serve / in-process throughput: {infer['rps'] / peer['rps']:.2f}x")

    over = hammer(lambda: client(url).post("/v1/models/upscaler/infer", json=body).status_code, args.clients * 6, args.seconds)
    print(line(f"overload ({args.clients * 6} clients)", over))
    refused = over["codes"].get(503, 0)
    print(f"  503s: {refused}, p99 latency of a 503: {over['p99_503'] * 1000:.0f} ms; timeouts/errors: {over['codes'].get(-1, 0)}")
    serve.shutdown()
    ray.shutdown()
    server.should_exit = True


if __name__ == "__main__":
    main()
