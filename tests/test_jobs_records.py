"""The job store, the job registry and the HTTP API's input rules, without Ray."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from genmedia.config import ServeConfig, load_config
from genmedia.errors import ConfigError, InputError
from genmedia.jobs.records import JobState, JobStore, default_store_url
from genmedia.pipelines import registry
from genmedia.schemas import JobResult, JobStatus
from genmedia.security import api_key_digests, check_input_uri, key_allowed, safe_upload_name


def test_job_lifecycle_persists_across_store_instances(database_url: str) -> None:
    store = JobStore(database_url)
    record = store.create("analyze", "s3://b/v.mp4", {"sample_fps": 2.0})
    assert record.status is JobState.queued and len(record.id) == 32
    assert store.start(record.id) and store.progress(record.id, "decode", 3, 10)
    result = JobResult(
        job="analyze", input="s3://b/v.mp4", status=JobStatus.done, files={"shots.json": "s3://o/shots.json"}
    )
    assert store.finish(record.id, result)
    again = JobStore(database_url).get(record.id)  # a new process would see the same
    assert again.status is JobState.done and again.result == result and again.progress.stage == "decode"
    assert again.params == {"sample_fps": 2.0} and again.created_at.tzinfo is not None
    assert store.counts() == {"queued": 0, "running": 0, "done": 1, "skipped": 0, "failed": 0, "cancelled": 0}
    assert store.get("f" * 32) is None


def test_cancel_wins_over_a_late_finish_and_progress(database_url: str) -> None:
    store = JobStore(database_url)
    record = store.create("analyze", "s3://b/v.mp4", {})
    store.start(record.id)
    assert store.cancel(record.id).status is JobState.cancelled
    assert not store.progress(record.id, "decode", 1, 2)  # the running job learns it was cancelled
    assert not store.finish(record.id, JobResult(job="analyze", input="x", status=JobStatus.done))
    assert store.get(record.id).status is JobState.cancelled
    assert not store.start(record.id)


def test_retry_requeues_unfinished_and_failed_but_not_done(database_url: str) -> None:
    store = JobStore(database_url)
    running, failed, done = (store.create("analyze", f"v{i}", {}, batch="run-1") for i in range(3))
    store.start(running.id)
    store.fail(failed.id, "bad file")
    store.finish(done.id, JobResult(job="analyze", input="v2", status=JobStatus.done))
    assert store.retry(running.id) and store.retry(failed.id) and not store.retry(done.id)
    assert [r.status for r in store.list(batch="run-1")] == [JobState.queued, JobState.queued, JobState.done]
    assert store.get(failed.id).error is None
    assert store.list(batch="other") == []


def test_a_silent_running_job_is_reported_lost_and_a_beating_one_is_not(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from genmedia.jobs import records

    store = JobStore(database_url)
    silent, beating, waiting, done = (store.create("analyze", f"v{i}", {}) for i in range(4))
    for job in (silent, beating, done):
        store.start(job.id)
    store.finish(done.id, JobResult(job="analyze", input="v3", status=JobStatus.done))
    assert store.get(silent.id, lost_after_s=120).status is JobState.running  # not silent long enough yet
    later = records._now() + dt.timedelta(seconds=100)
    monkeypatch.setattr(records, "_now", lambda: later)
    assert store.heartbeat(beating.id)
    monkeypatch.setattr(records, "_now", lambda: later + dt.timedelta(seconds=100))  # 200 s after the start
    lost = store.get(silent.id, lost_after_s=120)
    assert lost.status is JobState.failed and lost.error.startswith("job lost: no word from its worker for 120 s")
    assert store.get(beating.id, lost_after_s=120).status is JobState.running  # beat 100 s ago
    assert store.get(waiting.id, lost_after_s=120).status is JobState.queued  # waiting its turn is not lost
    assert store.get(done.id, lost_after_s=120).status is JobState.done
    assert not store.heartbeat(silent.id) and not store.heartbeat(done.id)  # a late worker learns it is over


def test_a_running_job_beats_while_a_stage_reports_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from pydantic import BaseModel

    from genmedia.jobs import runner

    class NoParams(BaseModel):
        pass

    three_beats = threading.Event()

    def quiet_job(cfg, video, params, progress):  # noqa: ANN001, ANN202 - one long stage without progress reports
        three_beats.wait(60)  # as long as it takes a loaded machine to beat three times, never a fixed time
        return JobResult(job="quiet", input=video, status=JobStatus.done)

    monkeypatch.setattr(runner, "get_job", lambda name: registry.JobSpec("quiet", NoParams, quiet_job))
    store = JobStore(database_url)
    beats: list[str] = []
    real = store.heartbeat

    def counted(job_id: str) -> bool:
        beats.append(job_id)
        if len(beats) >= 3:
            three_beats.set()
        return real(job_id)

    monkeypatch.setattr(store, "heartbeat", counted)
    cfg = load_config(None, jobs={"heartbeat_s": 0.1})
    record = store.create("quiet", str(tmp_path / "v.mp4"), {})
    finished = runner.execute(cfg, store, record.id)
    assert finished.status is JobState.done, finished.error
    assert three_beats.is_set() and set(beats) == {record.id}
    # The heartbeat stops with the job: its thread ends (joined, not timed) and no beat comes after.
    for thread in [t for t in threading.enumerate() if t.name == f"heartbeat-{record.id}"]:
        thread.join(60)
        assert not thread.is_alive(), "the heartbeat stops with the job"
    after = len(beats)
    time.sleep(0.3)
    assert len(beats) == after, "the heartbeat stops with the job"


def test_uploads_are_recorded(database_url: str) -> None:
    store = JobStore(database_url)
    store.add_upload("a" * 32, "clip.mp4", "/x/uploads/a/clip.mp4", 123)
    assert store.get_upload("a" * 32).size == 123 and store.get_upload("b" * 32) is None


def test_default_store_is_sqlite_in_the_cache(tmp_path: Path) -> None:
    cfg = load_config(None, storage={"cache_dir": str(tmp_path / "cache")})
    assert default_store_url(cfg) == f"sqlite:///{(tmp_path / 'cache' / 'jobs.sqlite').resolve()}"
    assert (
        default_store_url(load_config(None, jobs={"store_url": "postgresql://db/genmedia"}))
        == "postgresql://db/genmedia"
    )


def test_registry_knows_jobs_and_says_when_one_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = registry.get_job("analyze")
    assert spec.name == "analyze" and spec.parse_params({}).model_dump()
    with pytest.raises(InputError, match="sample_fps"):
        spec.parse_params({"sample_fps": -3})
    with pytest.raises(InputError, match="unknown job"):
        registry.get_job("rm_rf")
    monkeypatch.setattr(registry, "JOB_NAMES", (*registry.JOB_NAMES, "teleport"))
    with pytest.raises(registry.JobUnavailable, match="job 'teleport' is not available in this build"):
        registry.get_job("teleport")
    assert "analyze" in registry.available_jobs() and "teleport" not in registry.available_jobs()


def test_api_keys_from_env_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENMEDIA_API_KEYS", " k1 , k2,")
    digests = api_key_digests(load_config(None, serve={"api_keys": ["k3"]}))
    assert len(digests) == 3 and not any(k in "".join(digests) for k in ("k1", "k2", "k3"))
    assert all(key_allowed(f"Bearer {k}", digests) for k in ("k1", "k2", "k3"))
    assert key_allowed("bearer k1", digests)
    for header in (None, "", "Bearer", "Bearer k4", "Basic k1", "k1", "Bearer k1 k2"):
        assert not key_allowed(header, digests), header
    monkeypatch.delenv("GENMEDIA_API_KEYS")
    with pytest.raises(ConfigError, match="no API keys"):
        api_key_digests(load_config(None))


def _resolve_to(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    def fake(host, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_hostnames_are_checked_by_what_they_resolve_to(monkeypatch: pytest.MonkeyPatch) -> None:
    serve = ServeConfig(allowed_input_schemes=["https", "http", "s3"])
    for private in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1", "100.64.0.1", "0.0.0.0"):
        _resolve_to(monkeypatch, private)
        with pytest.raises(InputError, match="non-public address"):
            check_input_uri("https://videos.example.com/a.mp4", serve)
    _resolve_to(monkeypatch, "93.184.216.34")
    assert check_input_uri("https://videos.example.com/a.mp4", serve) == "https://videos.example.com/a.mp4"


def test_scheme_and_bucket_rules() -> None:
    serve = ServeConfig(allowed_input_schemes=["s3"], allowed_buckets=["media"])
    assert check_input_uri("s3://media/a.mp4", serve) == "s3://media/a.mp4"
    for bad, why in (
        ("s3://other/a.mp4", "not allowed"),
        ("https://example.com/a.mp4", "not accepted"),
        ("file:///etc/passwd", "file:// URIs are"),
        ("../../etc/passwd", "local paths"),
        ("s3:///a.mp4", "no bucket"),
    ):
        with pytest.raises(InputError, match=why):
            check_input_uri(bad, serve)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("/var/www/clip.mp4", "clip.mp4"),
        ("....", "upload"),
        ("", "upload"),
        ("my film (final).mov", "my_film_final_.mov"),
        (".bashrc", "bashrc"),
        ("a" * 300 + ".mp4", "a" * 100 + ".mp4"),
        ("ｃｌｉｐ.mp4", "clip.mp4"),
    ],
)
def test_upload_names_are_sanitised(name: str, expected: str) -> None:
    assert safe_upload_name(name) == expected


def test_http_inputs_are_fetched_from_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Against DNS rebinding, the download (with a relative redirect) connects to the address each hop's
    check resolved: the name is looked up once per hop, by the check, never again by the HTTP client
    (whose own lookup a rebinding DNS server could answer with a private address)."""
    import http.server
    import ipaddress
    import threading

    from genmedia import security
    from genmedia.jobs.runner import fetch_http

    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            hosts.append(self.headers["Host"])
            if self.path == "/start":
                self.send_response(302)
                self.send_header("Location", "/media/clip.mp4")
                self.end_headers()
                return
            body = b"\x00\x00\x00\x18ftypmp42" * 100
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lookups: list[str] = []
    real_dns = socket.getaddrinfo

    def counting_dns(host, *args, **kwargs):
        if host != "media.test":
            return real_dns(host, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]

    def loopback_counts_as_public(uri: str, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if not addr.is_loopback:
            raise InputError(uri, f"points at a non-public address ({addr})")

    monkeypatch.setattr(socket, "getaddrinfo", counting_dns)
    monkeypatch.setattr(security, "_check_address", loopback_counts_as_public)
    cfg = load_config(None, storage={"cache_dir": str(tmp_path)}, serve={"allowed_input_schemes": ["http"]})
    port = server.server_address[1]
    try:
        path = fetch_http(cfg, f"http://media.test:{port}/start")
    finally:
        server.shutdown()
    assert path.read_bytes().startswith(b"\x00\x00\x00\x18ftyp") and path.name == "start"
    assert hosts == [f"media.test:{port}"] * 2, "the server saw the host name, not the address"
    assert lookups == ["media.test", "media.test"], "one lookup per hop (the check's), none by the HTTP client"
    with pytest.raises(InputError, match="non-public address"):  # a hop whose name resolves privately is refused
        monkeypatch.setattr(
            socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.9.9", 0))]
        )
        fetch_http(cfg, "http://media.test/clip.mp4")
