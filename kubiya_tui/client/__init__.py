"""Clients of the control plane (``api``) and of Temporal (``temporal``, ``temporal_query``)."""

import sys

# httpx's package imports its command-line tool (click, rich.progress, pygments: ~50 ms of
# every command's start) whenever click and rich are installed. No process of ours runs that
# tool: marked missing, httpx skips it, as it does when they are not installed.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]
