"""The QA gate: checks every job runs on its outputs before its manifest, and the verdict they make.

One module per job type, each a ``check(QaInput) -> list[QaCheck]``; :func:`run_checks` picks the job's checks
and turns them into a :class:`~genmedia.schemas.QaVerdict`. The job contract (``genmedia.pipelines.job.run_job``)
calls it; a failed verdict sends the outputs to the review queue instead of publishing them.
"""

from __future__ import annotations

from collections.abc import Callable

from genmedia.qa import enhance, subtitles, thumbnails, trailer
from genmedia.qa.verdict import QaInput, local_copy, verdict_of
from genmedia.schemas import QaCheck, QaVerdict

CHECKS: dict[str, Callable[[QaInput], list[QaCheck]]] = {
    "thumbnails": thumbnails.check,
    "subtitles": subtitles.check,
    "trailer": trailer.check,
    "enhance": enhance.check,
}
"""Job name -> its checks; a job not named here (analyze, package) passes with no checks."""


def run_checks(qa: QaInput) -> QaVerdict:
    """The verdict on ``qa``'s outputs: every check of its job type, ``pass`` when all passed."""
    check = CHECKS.get(qa.job)
    return verdict_of(check(qa) if check is not None else [])


__all__ = ["CHECKS", "QaInput", "local_copy", "run_checks", "verdict_of"]
