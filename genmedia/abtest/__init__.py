"""Thumbnail A/B testing: experiments per video, Thompson sampling over Beta posteriors, events in a database.

``ABTestService`` is the in-process API; ``router`` (from :mod:`genmedia.abtest.api`) exposes it over HTTP,
and its ``get_service`` dependency can be overridden to share a service or use another store.
"""

from genmedia.abtest.api import get_service, router
from genmedia.abtest.service import ABTestService, Choice, EventAck, ExperimentInfo, Stats
from genmedia.abtest.store import Store

__all__ = ["ABTestService", "Choice", "EventAck", "ExperimentInfo", "Stats", "Store", "get_service", "router"]
