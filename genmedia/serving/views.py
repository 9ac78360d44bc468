"""What a job record shows a caller: API paths, never the server's local paths.

The store keeps real URIs (an upload's file under the storage root, outputs under ``{root}/{video}/{job}/{hash}``);
the API answers with ``upload:<id>`` for uploads and ``/v1/jobs/{id}/files/{name}`` for outputs, and blanks any
other mention of the storage root or cache dir in messages. ``s3://`` URIs of the server's storage are shown only
with ``serve.show_storage_uris`` (useful to S3 deployments whose callers read the bucket directly). Inputs a
caller named (``s3://``, ``https://``) are echoed as given.
"""

from __future__ import annotations

import json
import re

from genmedia.config import Config
from genmedia.jobs.records import JobRecord
from genmedia.storage import is_local, is_s3, join_uri, local_path


def _location(uri: str) -> str:
    """``uri`` as it appears in stored text: a local path absolute and without ``file://``."""
    return local_path(uri).as_posix() if is_local(uri) else uri.rstrip("/")


def _json_text(text: str) -> str:
    return json.dumps(text)[1:-1]


def public_record(record: JobRecord, cfg: Config) -> JobRecord:
    """``record`` with the server's storage locations replaced by API paths (see the module docstring)."""
    root = _location(cfg.storage.root)
    show = cfg.serve.show_storage_uris and is_s3(cfg.storage.root)
    replacements: list[tuple[str, str]] = []
    result = record.result
    if result is not None and not show:
        for name, uri in result.files.items():
            api = f"/v1/jobs/{record.id}/files/{name}"
            replacements += [(uri, api), (_location(uri), api)]
        if result.output_uri:
            api = f"/v1/jobs/{record.id}/files"
            replacements += [(result.output_uri, api), (_location(result.output_uri), api)]
    text = json.dumps(record.model_dump(mode="json"), ensure_ascii=False)
    for needle, api in sorted(replacements, key=lambda r: -len(r[0])):
        text = text.replace(_json_text(needle), _json_text(api))
    if not show:
        for prefix in dict.fromkeys((cfg.storage.root.rstrip("/"), root)):  # as configured (file://...) and as a path
            uploads = re.escape(_json_text(join_uri(prefix, "uploads")))
            text = re.sub(uploads + r"/([0-9a-f]{32})/([A-Za-z0-9._-]+)", r"upload:\1 (\2)", text)
            text = text.replace(_json_text(prefix), "<storage>")
    cache = cfg.storage.cache_path.expanduser().resolve().as_posix()
    text = text.replace(_json_text(cache), "<cache>").replace(_json_text(str(cfg.storage.cache_path)), "<cache>")
    public = JobRecord.model_validate_json(text)
    # The video field stays a reference the API accepts: ``upload:<id>`` without the file name.
    public.video = re.sub(r"^(upload:[0-9a-f]{32}) \(.*\)$", r"\1", public.video)
    if public.result is not None:
        public.result.input = re.sub(r"^(upload:[0-9a-f]{32}) \(.*\)$", r"\1", public.result.input)
    if is_local(public.video) and public.video.startswith("/"):
        public.video = local_path(public.video).name  # a server-local input named by a backfill or the CLI
    return public
