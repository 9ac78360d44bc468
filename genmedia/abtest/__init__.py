"""Thumbnail A/B testing: experiments per video, Thompson sampling over Beta posteriors, events in a database.

``ABTestService`` is the in-process API; ``genmedia.abtest.api.router`` exposes it over HTTP.
"""

from genmedia.abtest.service import ABTestService, Choice, EventAck, ExperimentInfo, Stats
from genmedia.abtest.store import Store

__all__ = ["ABTestService", "Choice", "EventAck", "ExperimentInfo", "Stats", "Store"]
