"""The interop suite fails, in one line naming what is missing, when PostgreSQL or Redis is not there."""

from __future__ import annotations

import pytest

from kubiya_tui.stack.processes import LOOPBACK, free_port
from tests.interop import peer
from tests.interop.conftest import _fail, check_prerequisites
from tests.interop.peer import PeerMissing


@pytest.mark.parametrize("what", ["POSTGRES", "REDIS"])
def test_a_missing_service_fails_the_suite_in_one_line(monkeypatch, what) -> None:
    monkeypatch.setattr(peer, what, (LOOPBACK, free_port()))  # nothing listens there
    with pytest.raises(PeerMissing) as caught:
        check_prerequisites()
    line = str(caught.value)
    assert "\n" not in line and ("PostgreSQL" if what == "POSTGRES" else "Redis") in line and "not reachable" in line
    # What the fixtures do with it: a failure (pytest.fail), never a skip.
    with pytest.raises(pytest.fail.Exception) as failed:
        _fail(caught.value)
    assert str(failed.value) == f"interop: {line}"
