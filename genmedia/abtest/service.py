"""The A/B testing service: experiments per video, choosing a variant to show, recording events, stats.

Used in-process (SDK, tests, simulation) and behind :mod:`genmedia.abtest.api`'s HTTP router. A choice
with a viewer context uses the contextual bandit (:mod:`genmedia.abtest.contextual`) once every variant
has ``context_min_impressions`` impressions that carried a context (``pipelines.thumbnails.abtest`` in the
config, or per experiment); otherwise it draws from the posteriors of the request's segment when that segment
has enough data for every variant, else from the global ones.

Winners are declared per scope. A segment with ``min_impressions`` of its own (and
``segment_min_impressions`` per variant) gets its own winner once one variant's P(best) there passes the
bar. The global winner (pooled data; it concludes the experiment) applies everywhere except in segments
with a winner of their own and segments whose own data show it losing (its P(best) there below
``1 - winner_probability``): those keep their own bandit, so one audience's winner never blocks another's.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from genmedia.abtest import bandit, contextual
from genmedia.abtest.contextual import Context
from genmedia.abtest.store import ACTIVE, CLICK, IMPRESSION, REPLACED, Counts, Experiment, Store, default_url
from genmedia.config import ABTestConfig, Config
from genmedia.errors import InputError

GLOBAL = "global"
STICKY_EPOCH = 500
"""A user keeps seeing the same variant until this many more impressions have updated the posteriors."""


class ExperimentSettings(BaseModel):
    """Per-experiment settings (defaults from the config)."""

    explore_floor: float = Field(ge=0, le=0.5)
    winner_probability: float = Field(gt=0.5, lt=1)
    min_impressions: int = Field(ge=1)
    segment_min_impressions: int = Field(ge=1)
    context_min_impressions: int = Field(
        ge=1, description="Per variant, impressions with a context before the contextual bandit decides."
    )


class ExperimentInfo(BaseModel):
    """An experiment as the API returns it."""

    id: str
    video: str
    status: str
    variants: list[str]
    settings: ExperimentSettings
    winner: str | None = None
    winner_probability: float | None = None
    segment_winners: dict[str, str] = Field(
        default_factory=dict, description="Winners declared on a segment's own data."
    )
    images: dict[str, dict[str, str]] = Field(default_factory=dict, description="Variant -> {aspect: image URL}.")


class Choice(BaseModel):
    """The variant to show, and why."""

    experiment_id: str
    variant: str
    reason: Literal["thompson", "explore", "winner"]
    posteriors: str = Field(
        description="What decided: 'contextual', 'global' or the segment's name (for a "
        "winner: the scope it was declared in)."
    )
    image_url: str | None = Field(None, description="The variant's image at the requested aspect, when known.")


class EventAck(BaseModel):
    """The result of recording an event."""

    event_id: str
    accepted: bool = Field(description="False when the event id was already recorded (nothing changed).")


class VariantStats(BaseModel):
    """One variant's figures."""

    variant: str
    impressions: int
    clicks: int
    ctr: float
    p_best: float
    ci_low: float
    ci_high: float


class Stats(BaseModel):
    """An experiment's figures, globally or for one segment."""

    experiment_id: str
    video: str
    status: str
    segment: str
    posteriors: str = Field(description="'global' or the segment's name: which data the figures use.")
    variants: list[VariantStats]
    winner: str | None = None
    winner_probability: float | None = None
    segment_winners: dict[str, str] = Field(
        default_factory=dict, description="Winners declared on a segment's own data."
    )


class NotFound(LookupError):
    """No experiment for a video."""


class Conflict(RuntimeError):
    """The video already has an active experiment."""


def _check_name(kind: str, value: str) -> str:
    if not value or len(value) > 100 or not all(c.isalnum() or c in "._-:" for c in value):
        raise InputError(value[:40] or "''", f"{kind} must be 1-100 characters of letters, digits, '.', '_', '-', ':'")
    return value


class ABTestService:
    """Thompson-sampling A/B tests of thumbnail variants, with state in a SQLAlchemy store."""

    def __init__(self, store: Store, defaults: ABTestConfig, *, seed: int | None = None):
        self.store = store
        self.defaults = defaults
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # numpy Generators are not thread-safe
        self._models: dict[str, tuple[int, contextual.LinearThompson]] = {}  # experiment id -> (last seq, model)

    @classmethod
    def from_config(cls, cfg: Config, *, seed: int | None = None) -> ABTestService:
        """A service on the configured store (SQLite in the cache dir by default)."""
        return cls(Store(default_url(cfg)), cfg.pipelines.thumbnails.abtest, seed=seed)

    # ------------------------------------------------------------------ experiments

    def create(
        self,
        video: str,
        variants: list[str],
        images: dict[str, dict[str, str]] | None = None,
        **settings: float | int | None,
    ) -> ExperimentInfo:
        """Start an experiment for ``video``; Conflict if one is active, InputError on bad variants.

        ``images``: variant -> {aspect: url}, returned by :meth:`choose` for a requested aspect.
        """
        _check_name("video", video)
        for v in variants:
            _check_name("variant", v)
        if len(variants) < 2 or len(set(variants)) != len(variants):
            raise InputError(video, f"an experiment needs at least 2 distinct variants, got {variants}")
        chosen = self._settings({k: v for k, v in settings.items() if v is not None})
        if chosen.explore_floor * len(variants) > 1:
            raise InputError(
                video, f"explore_floor {chosen.explore_floor} exceeds 1/{len(variants)} (the uniform share)"
            )
        _check_images(video, variants, images or {})
        exp = self.store.create(video, variants, chosen.model_dump())
        if exp is None:
            raise Conflict(f"{video}: already has an active experiment")
        self.store.set_images(exp.id, images or {})
        return self._info(exp)

    def publish(self, video: str, images: dict[str, dict[str, str]]) -> ExperimentInfo:
        """Create or update ``video``'s experiment for these variants (variant -> {aspect: url}).

        The active experiment with the same variants keeps its data and gets the new URLs; publishing the
        same images again changes nothing (a concluded experiment keeps its winner); an active one with
        other variants is ended (status 'replaced') and a new experiment starts, as after a withdrawn one.
        """
        exp = self.store.current(video)
        if exp is not None and exp.status != REPLACED and set(exp.variants) == set(images):
            if self.store.images(exp.id) == images:
                return self._info(exp)
            if exp.status == ACTIVE:
                _check_images(video, exp.variants, images)
                self.store.set_images(exp.id, images)
                return self._info(exp)
        if exp is not None and exp.status == ACTIVE:
            self.store.retire(exp.id)
        return self.create(video, list(images), images)

    def experiment(self, video: str) -> ExperimentInfo:
        """The video's active (else latest) experiment; NotFound if it never had one."""
        return self._info(self._experiment(video))

    def _settings(self, stored: dict[str, float | int]) -> ExperimentSettings:
        """An experiment's settings: ``stored`` over the config's defaults (which fill settings added since)."""
        defaults = self.defaults.model_dump(include=set(ExperimentSettings.model_fields))
        return ExperimentSettings(**{**defaults, **stored})

    def _experiment(self, video: str) -> Experiment:
        exp = self.store.current(video)
        if exp is None:
            raise NotFound(f"{video}: no A/B experiment")
        return exp

    def _info(self, exp: Experiment) -> ExperimentInfo:
        segment_winners = {seg: w for seg, (w, _) in self.store.segment_winners(exp.id).items()}
        return ExperimentInfo(
            id=exp.id,
            video=exp.video,
            status=exp.status,
            variants=exp.variants,
            settings=self._settings(exp.settings),
            winner=exp.winner,
            winner_probability=exp.winner_probability,
            segment_winners=segment_winners,
            images=self.store.images(exp.id),
        )

    # ------------------------------------------------------------------ serving

    def choose(
        self,
        video: str,
        *,
        user: str | None = None,
        segment: str | None = None,
        context: Context | None = None,
        aspect: str | None = None,
    ) -> Choice:
        """The variant (and its image at ``aspect``) for ``video`` to ``user`` with ``context``; see :meth:`_choose`.

        With ``aspect``, only variants with an image there are candidates (the thumbnails job skips an aspect
        whose crop a key frame cannot fill); InputError when no variant has one.
        """
        exp = self._experiment(video)
        images = self.store.images(exp.id) if aspect is not None else {}
        if not images:  # no aspect asked, or an experiment without images: the variant alone
            return self._choose(exp, user=user, segment=segment, context=context)
        shown = {v for v, by_aspect in images.items() if aspect in by_aspect}
        if not shown:
            known = sorted({a for by_aspect in images.values() for a in by_aspect})
            raise InputError(aspect, f"no image at this aspect for {video} (has {', '.join(known)})")
        choice = self._choose(exp, user=user, segment=segment, context=context, shown=shown)
        return choice.model_copy(update={"image_url": images[choice.variant][aspect]})

    def _choose(
        self,
        exp: Experiment,
        *,
        user: str | None,
        segment: str | None,
        context: Context | None,
        shown: set[str] | None = None,
    ) -> Choice:
        """The variant of ``exp`` to show to ``user`` in ``segment`` with the viewer's ``context``, among ``shown``
        (default: all).

        A winner declared for the request's scope is shown (see the module docstring). Otherwise Thompson
        sampling with the explore floor: contextual once it has enough data, else on the segment's Beta
        posteriors when it has enough data, else on the global ones. A given user keeps the same variant
        while the data are (nearly) unchanged.
        """
        rich = context is not None and not context.model_copy(update={"segment": None}).is_empty()
        context = _merge(context, segment)
        segment = context.segment if context else segment
        settings = self._settings(exp.settings)
        counts = self.store.counts(exp.id)
        allowed = None if shown is None or shown >= set(exp.variants) else np.array([v in shown for v in exp.variants])
        declared = self._winner_for(exp, settings, counts, segment)
        if declared is not None and (shown is None or declared[0] in shown):
            return Choice(experiment_id=exp.id, variant=declared[0], reason="winner", posteriors=declared[1])
        impressions = sum(c[IMPRESSION] for c in counts.values())
        if user:
            digest = hashlib.sha256(f"{exp.id}/{user}/{impressions // STICKY_EPOCH}".encode()).digest()
            rng, lock = np.random.default_rng(int.from_bytes(digest[:8], "big")), threading.Lock()
        else:
            rng, lock = self._rng, self._lock
        model = self._context_model(exp) if rich else None
        with lock:
            if rng.random() < settings.explore_floor * len(exp.variants):
                pool = np.arange(len(exp.variants)) if allowed is None else np.flatnonzero(allowed)
                index, explored, used = int(pool[rng.integers(len(pool))]), True, GLOBAL
            elif model is not None and model.trusted(settings.context_min_impressions):
                scores = model.scores(contextual.features(context), rng)[0]
                index, explored, used = _best(scores, allowed), False, "contextual"
            else:
                post, used = self._posteriors(exp, settings, counts, segment)
                if allowed is None:
                    index, explored = bandit.thompson_choice(post, rng, 0.0)
                else:
                    index, explored = _best(post.draw(rng, 1)[0], allowed), False
        return Choice(
            experiment_id=exp.id,
            variant=exp.variants[index],
            reason="explore" if explored else "thompson",
            posteriors=used,
        )

    def _context_model(self, exp: Experiment) -> contextual.LinearThompson:
        """The experiment's contextual model, brought up to date with the events stored since last time."""
        with self._lock:
            last, model = self._models.get(exp.id, (0, None))
            if model is None:
                model = contextual.LinearThompson(len(exp.variants))
            events = self.store.context_events(exp.id, last)
            index = {v: i for i, v in enumerate(exp.variants)}
            for kind in (IMPRESSION, CLICK):
                rows = [e for e in events if e.kind == kind and e.variant in index]
                if rows:
                    arms = np.array([index[e.variant] for e in rows])
                    x = np.stack([contextual.features(Context(**e.context)) for e in rows])
                    (model.add_impressions if kind == IMPRESSION else model.add_clicks)(arms, x)
            self._models[exp.id] = (events[-1].seq if events else last, model)
            return model

    def _winner_for(
        self, exp: Experiment, settings: ExperimentSettings, counts: Counts, segment: str | None
    ) -> tuple[str, str] | None:
        """The (winner, scope) that applies to a request from ``segment``, else None."""
        seg_n = seg_c = None
        if segment:
            own = self.store.segment_winners(exp.id).get(segment)
            if own is not None:
                return own[0], segment
            seg_n, seg_c = self._totals(exp, counts, segment)
            if seg_n.min() >= settings.segment_min_impressions and seg_n.sum() >= settings.min_impressions:
                p_best = self._p_best(seg_n, seg_c)
                best = bandit.winner(
                    p_best, seg_n, threshold=settings.winner_probability, min_impressions=settings.min_impressions
                )
                if best is not None:
                    return self.store.declare_segment_winner(
                        exp.id, segment, exp.variants[best], float(p_best[best])
                    ), segment
        overall = exp.winner if exp.status != ACTIVE else self._maybe_conclude(exp, settings, counts)
        if overall is None:
            return None
        measured = seg_n is not None and seg_n.min() >= settings.segment_min_impressions and overall in exp.variants
        if measured and self._p_best(seg_n, seg_c)[exp.variants.index(overall)] < 1 - settings.winner_probability:
            return None  # measured to lose in this segment
        return overall, GLOBAL

    def _p_best(self, n: np.ndarray, c: np.ndarray) -> np.ndarray:
        with self._lock:
            return bandit.prob_best(bandit.Posteriors.from_counts(n, c), self._rng, self.defaults.monte_carlo_draws)

    def record(
        self,
        video: str,
        kind: Literal["impression", "click"],
        event_id: str,
        variant: str,
        *,
        user: str | None = None,
        segment: str | None = None,
        context: Context | None = None,
    ) -> EventAck:
        """Record an impression or click of ``variant``; a repeated ``event_id`` is ignored.

        A click must carry the same ``context`` as its impression (the contextual model sums both).
        """
        if kind not in (IMPRESSION, CLICK):
            raise InputError(kind, "event kind must be 'impression' or 'click'")
        if not event_id or len(event_id) > 128:
            raise InputError(event_id[:40] or "''", "event_id must be 1-128 characters")
        exp = self._experiment(video)
        if variant not in exp.variants:
            raise InputError(variant, f"not a variant of {video}'s experiment ({', '.join(exp.variants)})")
        given = context is not None
        context = _merge(context, segment)
        segment = context.segment if context else segment
        stored = context.model_dump(exclude_defaults=True) if given else None
        accepted = self.store.add_event(exp.id, event_id, kind, variant, segment, user, stored)
        return EventAck(event_id=event_id, accepted=accepted)

    # ------------------------------------------------------------------ figures

    def stats(self, video: str, *, segment: str | None = None, seed: int = 0) -> Stats:
        """Impressions, clicks, CTR, P(best) and a 95% credible interval per variant (globally or for a segment)."""
        exp = self._experiment(video)
        settings = self._settings(exp.settings)
        counts = self.store.counts(exp.id)
        if exp.status == ACTIVE:
            self._maybe_conclude(exp, settings, counts)
            exp = self._experiment(video)
        n, c = self._totals(exp, counts, segment)
        post = bandit.Posteriors.from_counts(n, c)
        rng = np.random.default_rng(seed)
        draws = self.defaults.monte_carlo_draws
        p_best = bandit.prob_best(post, rng, draws)
        low, high = bandit.credible_interval(post, rng, 0.95, draws)
        rows = [
            VariantStats(
                variant=v,
                impressions=int(n[i]),
                clicks=int(c[i]),
                ctr=float(c[i] / n[i]) if n[i] else 0.0,
                p_best=float(p_best[i]),
                ci_low=float(low[i]),
                ci_high=float(high[i]),
            )
            for i, v in enumerate(exp.variants)
        ]
        return Stats(
            experiment_id=exp.id,
            video=exp.video,
            status=exp.status,
            segment=segment or GLOBAL,
            posteriors=segment or GLOBAL,
            variants=rows,
            winner=exp.winner,
            winner_probability=exp.winner_probability,
            segment_winners=self._info(exp).segment_winners,
        )

    @staticmethod
    def _totals(exp: Experiment, counts: Counts, segment: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Impressions and clicks per variant, over all segments (``segment`` None) or one segment."""
        n, c = np.zeros(len(exp.variants)), np.zeros(len(exp.variants))
        index = {v: i for i, v in enumerate(exp.variants)}
        for (seg, variant), kinds in counts.items():
            if (segment is None or seg == segment) and variant in index:
                n[index[variant]] += kinds[IMPRESSION]
                c[index[variant]] += kinds[CLICK]
        return n, c

    def _posteriors(
        self, exp: Experiment, settings: ExperimentSettings, counts: Counts, segment: str | None
    ) -> tuple[bandit.Posteriors, str]:
        if segment:
            n, c = self._totals(exp, counts, segment)
            if n.min() >= settings.segment_min_impressions:
                return bandit.Posteriors.from_counts(n, c), segment
        n, c = self._totals(exp, counts, None)
        return bandit.Posteriors.from_counts(n, c), GLOBAL

    def _maybe_conclude(self, exp: Experiment, settings: ExperimentSettings, counts: Counts) -> str | None:
        """Declare and store the winner when the global data allow it; return it (else None)."""
        n, c = self._totals(exp, counts, None)
        if n.sum() < settings.min_impressions:
            return None
        p_best = self._p_best(n, c)
        best = bandit.winner(p_best, n, threshold=settings.winner_probability, min_impressions=settings.min_impressions)
        if best is None:
            return None
        return self.store.conclude(exp.id, exp.variants[best], float(p_best[best])).winner

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()


def _check_images(video: str, variants: list[str], images: dict[str, dict[str, str]]) -> None:
    """InputError when ``images`` names an unknown variant or is not aspect -> URL strings."""
    for variant, by_aspect in images.items():
        if variant not in variants:
            raise InputError(variant, f"images name a variant that {video}'s experiment does not have")
        if not isinstance(by_aspect, dict) or not all(
            isinstance(a, str) and isinstance(u, str) and u for a, u in by_aspect.items()
        ):
            raise InputError(variant, "images must map each variant to {aspect: url} strings")


def _best(draws: np.ndarray, allowed: np.ndarray | None) -> int:
    """The index of the highest draw, among the ``allowed`` variants (a boolean mask; None: all)."""
    return int(np.argmax(draws if allowed is None else np.where(allowed, draws, -np.inf)))


def _merge(context: Context | None, segment: str | None) -> Context | None:
    """The context with ``segment`` filled in (an explicit context segment must agree with it)."""
    if segment is None:
        return context
    if context is None:
        return Context(segment=segment)
    if context.segment not in (None, segment):
        raise InputError(segment, f"segment disagrees with the context's segment {context.segment!r}")
    return context.model_copy(update={"segment": segment})
