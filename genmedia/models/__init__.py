"""Model weights: the registry of where they come from, where they are staged, and whether they verify.

``resolve(cfg, key)`` gives a loader the verified local directory of a model (or a one-line
ModelUnavailable saying how to stage it); ``genmedia models list|pull`` is the command-line side.
"""

from genmedia.models.registry import ModelStatus, pull, resolve, status

__all__ = ["ModelStatus", "pull", "resolve", "status"]
