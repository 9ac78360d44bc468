"""The job queue in the store (SQLite and a real PostgreSQL): admission, priorities, fair share, bounds, claims."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from genmedia.config import JobsConfig
from genmedia.jobs import records
from genmedia.jobs.queue import JobQueue, QueueFull, dedup_key, parse_priority
from genmedia.jobs.records import JobState, JobStore

pytestmark = pytest.mark.unit


def _queue(url: str, **settings: object) -> JobQueue:
    return JobQueue(JobStore(url), JobsConfig(**{"max_running": 100, **settings}))


def _drain(queue: JobQueue, cap: int = 1000) -> list[str]:
    """Claim until nothing may start; the claimed jobs' videos in claim order."""
    order = []
    while (claimed := queue.claim(cap)) is not None:
        order.append(claimed.record.video)
    return order


def test_priority_names_and_levels() -> None:
    assert [parse_priority(v) for v in ("high", "normal", "low", " HIGH ", 0, 7, 9)] == [9, 5, 0, 9, 0, 7, 9]
    for bad in ("urgent", 10, -1, True, "5"):
        with pytest.raises(ValueError, match="priority must be one of high, normal, low or an integer from 0 to 9"):
            parse_priority(bad)  # type: ignore[arg-type]


def test_priority_order_then_first_in_first_out(database_url: str) -> None:
    queue = _queue(database_url)
    for name, priority in (("n1", 5), ("l1", 0), ("h1", 9), ("n2", 5), ("h2", 9), ("l2", 0), ("p7", 7)):
        queue.submit("analyze", name, {}, owner="k1", priority=priority)
    assert _drain(queue) == ["h1", "h2", "p7", "n1", "n2", "l1", "l2"]
    assert queue.claim(1000) is None


def test_fair_share_across_keys_at_one_priority(database_url: str) -> None:
    """A key that queued 30 jobs first does not starve two keys that came later: starts take turns."""
    queue = _queue(database_url)
    for i in range(30):
        queue.submit("analyze", f"a{i}", {}, owner="key-a")
    for i in range(5):
        queue.submit("analyze", f"b{i}", {}, owner="key-b")
        queue.submit("analyze", f"c{i}", {}, owner="key-c")
    first = _drain(queue, cap=1000)[:15]
    assert sorted(v[0] for v in first) == ["a"] * 5 + ["b"] * 5 + ["c"] * 5, first
    assert [v for v in first if v[0] == "b"] == [f"b{i}" for i in range(5)], "first in, first out within a key"


def test_running_jobs_are_bounded_per_type_and_in_all(database_url: str) -> None:
    queue = _queue(database_url, max_running=2, running_per_type={"subtitles": 1})
    for i in range(4):
        queue.submit("analyze", f"a{i}", {})
        queue.submit("subtitles", f"s{i}", {})
    started = _drain(queue)
    assert sorted(started) == ["a0", "a1", "s0"]
    assert queue.running_by_type() == {"analyze": 2, "subtitles": 1}
    first = queue.store.list(status=JobState.running)[0]
    queue.store.fail(first.id, "done with it")
    assert len(_drain(queue)) == 1, "a finished job frees its slot"
    other = _queue(database_url, max_running=5)
    assert len(_drain(other, cap=4)) == 1, "the total cap (from the cluster's CPUs) bounds every type together"


def test_admission_control_says_when_to_retry(database_url: str) -> None:
    queue = _queue(database_url, max_queued=5, max_queued_per_key=3, retry_after_s=7)
    for i in range(3):
        queue.submit("analyze", f"a{i}", {}, owner="greedy")
    with pytest.raises(QueueFull, match="this API key has 3 jobs waiting") as over_share:
        queue.submit("analyze", "a3", {}, owner="greedy")
    assert over_share.value.retry_after_s == 7
    queue.submit("analyze", "b0", {}, owner="polite")
    queue.submit("analyze", "b1", {}, owner="polite")
    with pytest.raises(QueueFull, match="the job queue is full"):
        queue.submit("analyze", "b2", {}, owner="polite")
    queue.claim(1000)
    queue.submit("analyze", "b2", {}, owner="polite")  # room again once one started


def test_identical_work_is_queued_once(database_url: str) -> None:
    queue = _queue(database_url)
    key = dedup_key("analyze", "sha:0123", {"sample_fps": 2.0})
    assert (
        key
        == dedup_key("analyze", "sha:0123", {"sample_fps": 2.0})
        != dedup_key("analyze", "sha:0123", {"sample_fps": 3.0})
    )
    first = queue.submit("analyze", "v", {"sample_fps": 2.0}, dedup=key)
    again = queue.submit("analyze", "v-copy", {"sample_fps": 2.0}, dedup=key)
    assert first.duplicate_of is None and again.duplicate_of == first.record.id and again.record.id == first.record.id
    queue.claim(1000)
    assert queue.submit("analyze", "v", {}, dedup=key).duplicate_of == first.record.id, "running counts too"
    queue.store.fail(first.record.id, "bad input")
    assert queue.submit("analyze", "v", {}, dedup=key).duplicate_of is None, "a finished job does not absorb new ones"


def test_queue_position_and_depth(database_url: str) -> None:
    queue = _queue(database_url)
    low = queue.submit("analyze", "l", {}, priority=0).record
    normal = queue.submit("analyze", "n", {}, priority=5).record
    high = queue.submit("analyze", "h", {}, priority=9).record
    assert [queue.position(queue.store.get(r.id)) for r in (high, normal, low)] == [1, 2, 3]
    assert queue.depth_by_priority() == {0: 1, 5: 1, 9: 1}
    queue.claim(1000)
    assert queue.position(queue.store.get(high.id)) is None and queue.position(queue.store.get(low.id)) == 2


def test_the_queue_survives_a_restart(database_url: str) -> None:
    _queue(database_url).submit("analyze", "v", {}, priority=9)
    claimed = _queue(database_url).claim(10)  # a new process, a new store object
    assert claimed.record.video == "v" and claimed.record.attempts == 1 and claimed.record.started_at is not None
    assert claimed.waited_s >= 0


def test_concurrent_dispatchers_never_start_a_job_twice(database_url: str) -> None:
    """Six dispatchers with their own connections claim from one table at once (SKIP LOCKED on PostgreSQL)."""
    queue = _queue(database_url, max_running=1000)
    ids = {queue.submit("analyze", f"v{i}", {}, owner=f"k{i % 3}").record.id for i in range(60)}

    def dispatcher(_: int) -> list[str]:
        mine = JobQueue(JobStore(database_url), queue.cfg)
        got = []
        while (claimed := mine.claim(1000)) is not None:
            got.append(claimed.record.id)
        return got

    with cf.ThreadPoolExecutor(6) as pool:
        claims = [job for got in pool.map(dispatcher, range(6)) for job in got]
    assert sorted(claims) == sorted(ids), "each job claimed exactly once"
    assert {r.attempts for r in queue.store.list(status=JobState.running)} == {1}


def test_a_lost_job_is_queued_again_until_max_attempts(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queue(database_url)
    job = queue.submit("analyze", "v", {}).record
    for attempt in (1, 2, 3):
        assert queue.claim(10).record.attempts == attempt
        state = queue.store.lost(job.id, "its worker process died (SIGKILL)", max_attempts=3)
        assert state is (JobState.queued if attempt < 3 else JobState.failed)
    final = queue.store.get(job.id)
    assert final.status is JobState.failed and final.attempts == 3
    assert final.error.startswith(
        "job lost on each of its 3 attempts, the last time: its worker process died (SIGKILL)"
    )
    # A silent job found by a poll is settled the same way.
    silent = queue.submit("analyze", "w", {}).record
    queue.claim(10)
    later = records._now() + dt.timedelta(seconds=300)
    monkeypatch.setattr(records, "_now", lambda: later)
    assert queue.silent(120) == [silent.id]
    again = queue.store.get(silent.id, lost_after_s=120, max_attempts=3)
    assert again.status is JobState.queued and again.error.startswith(
        "attempt 1 of 3 lost: no word from its worker for 120 s"
    )


def test_an_old_store_gains_the_queue_columns(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # the table as the previous release made it, with one job in it
        conn.execute(
            text(
                "CREATE TABLE genmedia_jobs (id VARCHAR(32) PRIMARY KEY, job VARCHAR(32) NOT NULL, video TEXT NOT NULL, "
                "params JSON NOT NULL, status VARCHAR(16) NOT NULL, stage VARCHAR(64), done FLOAT, total FLOAT, "
                "result JSON, error TEXT, batch VARCHAR(64), created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO genmedia_jobs VALUES ('"
                + "a" * 32
                + "', 'analyze', 'v', '{}', 'queued', NULL, NULL, NULL, "
                "NULL, NULL, NULL, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    queue = _queue(url)
    old = queue.store.get("a" * 32)
    assert old.priority == 5 and old.attempts == 0 and old.status is JobState.queued
    assert queue.claim(10).record.id == old.id


def test_backfill_records_are_low_priority_and_not_in_the_api_queue(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backfill streams its own records through Ray Data: the HTTP queue neither counts nor starts them."""
    from genmedia.jobs.backfill import _prepare, main

    queue = _queue(database_url, max_queued=1)
    records, todo = _prepare(queue.store, "run-1", ["v1", "v2"], ["analyze"], {"analyze": {}})
    assert len(todo) == 2 and {r.priority for r in queue.store.list(batch="run-1")} == {0}
    assert queue.claim(10) is None and queue.depth_by_priority() == {} and queue.silent(0) == []
    queue.submit("analyze", "api-job", {})  # the backfill's queued records do not fill the API's queue
    assert main(["--input", "x", "--tasks", "analyze", "--priority", "urgent"]) != 0
    assert "--priority" in capsys.readouterr().err
