"""``rnnkit serve``: a local web page and JSON API for trained models (needs ``rnnkit[serve]``).

See ``docs/serve.md`` for the page, the API with curl examples, and the limits. The limits
import without the extra (the command line lists them); the app needs starlette.
"""

from typing import Any

from rnnkit.serve.limits import ServeLimits

__all__ = ["ServeLimits", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # imported when asked for: it needs starlette
        from rnnkit.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
