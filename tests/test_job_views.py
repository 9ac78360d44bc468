"""Job views show API paths, never the server's local paths; s3:// URIs of the server's storage only when configured."""

from __future__ import annotations

import datetime as dt

import pytest

from genmedia.config import load_config
from genmedia.jobs.records import JobRecord, JobState
from genmedia.schemas import JobResult, JobStatus
from genmedia.serving.views import public_record

pytestmark = pytest.mark.unit

ID = "a" * 32
UPLOAD = "b" * 32


def _record(root: str, cache: str) -> JobRecord:
    prefix = f"{root}/0123456789abcdef/analyze/0123456789ab"
    video = f"{root}/uploads/{UPLOAD}/clip.mp4"
    result = JobResult(
        job="analyze",
        input=video,
        status=JobStatus.done,
        output_uri=prefix,
        files={"shots.json": f"{prefix}/shots.json"},
        warnings=[f"{video}: 3 of 9 frames are damaged", f"staged at {cache}/inputs/x"],
    )
    now = dt.datetime.now(dt.UTC)
    return JobRecord(
        id=ID,
        job="analyze",
        video=video,
        params={"music": video},
        status=JobState.done,
        result=result,
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_local_storage_shows_api_paths(tmp_path, scheme: str) -> None:  # noqa: ANN001
    root, cache = f"{scheme}{tmp_path / 'out'}", str(tmp_path / "cache")
    cfg = load_config(None, storage={"root": root, "cache_dir": cache}, serve={"show_storage_uris": True})
    view = public_record(_record(root, cache), cfg)
    text = view.model_dump_json()
    assert str(tmp_path) not in text
    assert view.video == f"upload:{UPLOAD}" and view.result.input == f"upload:{UPLOAD}"
    assert view.result.files == {"shots.json": f"/v1/jobs/{ID}/files/shots.json"}
    assert view.result.output_uri == f"/v1/jobs/{ID}/files"
    assert view.result.warnings == [
        f"upload:{UPLOAD} (clip.mp4): 3 of 9 frames are damaged",
        "staged at <cache>/inputs/x",
    ]
    assert view.params == {"music": f"upload:{UPLOAD} (clip.mp4)"}


@pytest.mark.parametrize("show", [False, True])
def test_s3_uris_only_when_the_config_says_so(tmp_path, show: bool) -> None:  # noqa: ANN001
    root = "s3://media-out/genmedia"
    cfg = load_config(None, storage={"root": root, "cache_dir": str(tmp_path)}, serve={"show_storage_uris": show})
    view = public_record(_record(root, str(tmp_path)), cfg)
    if show:
        assert view.result.files["shots.json"] == f"{root}/0123456789abcdef/analyze/0123456789ab/shots.json"
        assert view.video == f"{root}/uploads/{UPLOAD}/clip.mp4"
    else:
        assert "s3://media-out" not in view.model_dump_json()
        assert view.result.files["shots.json"] == f"/v1/jobs/{ID}/files/shots.json" and view.video == f"upload:{UPLOAD}"
