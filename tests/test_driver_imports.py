"""What a fresh CLI process imports before any work: the command line itself neither Ray nor torch, the job
modules not Ray Data (a job imports it when it builds a Ray Data stage; the CLI's subtitles job has none)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "ray", "ray.data")


def _imported_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.unit
def test_the_command_line_imports_neither_ray_nor_torch() -> None:
    assert _imported_after("import genmedia.cli") == []


@pytest.mark.unit
def test_job_modules_leave_ray_data_and_torch_to_the_stages_that_use_them() -> None:
    assert _imported_after("import genmedia.pipelines.subtitles, genmedia.pipelines.analyze") == ["ray"]
