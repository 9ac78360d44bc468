"""Errors that reach users: each carries the thing it is about and one line of reason.

The CLI maps :class:`InputError` and :class:`ConfigError` to exit code 2 (bad input or usage) and any
other :class:`GenmediaError` to exit code 1; none of them prints a traceback.
"""

from __future__ import annotations


class GenmediaError(Exception):
    """Base class of every error genmedia raises on purpose."""

    exit_code = 1

    def __reduce__(self) -> tuple:
        """Pickled without calling ``__init__`` (subclasses take other arguments than the message), so the error
        crosses Ray's process boundary as itself rather than as an ``UnserializableException``."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[GenmediaError], args: tuple, state: dict) -> GenmediaError:
    """The error ``cls`` with ``args`` and attributes ``state``, as :meth:`GenmediaError.__reduce__` pickled it."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(GenmediaError):
    """The input (a media file, a URI, a parameter) cannot be used; the caller must change it."""

    exit_code = 2

    def __init__(self, source: str, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class ParamsError(InputError):
    """A job's parameters fail validation (the message names each bad field); HTTP answers 422."""


class ConfigError(GenmediaError):
    """A config file is missing or invalid; the message names the file, the field and what was expected."""

    exit_code = 2


class ModelUnavailable(GenmediaError):
    """A model's weights are not staged (or fail verification); the message says how to stage them."""

    exit_code = 1


class ServiceUnavailable(GenmediaError):
    """A server genmedia needs (the MLflow model registry) does not answer; the message names its address.

    Exit code 2 from the CLI, 503 from the HTTP API.
    """

    exit_code = 2
