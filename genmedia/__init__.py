"""genmedia: generated and enhanced media from a video library, on Ray.

Public API: :class:`Client` (the SDK, over HTTP or in-process) and :func:`load_config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genmedia.config import load_config

if TYPE_CHECKING:
    from genmedia.client import Client

__all__ = ["Client", "load_config"]


def __getattr__(name: str) -> Any:
    # The SDK pulls in HTTP and SQL clients; import it only when asked for.
    if name == "Client":
        from genmedia.client import Client

        return Client
    raise AttributeError(f"module 'genmedia' has no attribute {name!r}")
