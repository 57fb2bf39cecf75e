"""Shared pytest fixtures. The fake org (tests/fakeorg) is started once per session and reset per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fakeorg import FakeOrg


@pytest.fixture(scope="session")
def fake_org_server() -> Iterator[FakeOrg]:
    """The fake org's HTTPS server on 127.0.0.1, started once for the whole test session."""
    org = FakeOrg().start()
    try:
        yield org
    finally:
        org.stop()


@pytest.fixture
def fake_org(fake_org_server: FakeOrg, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOrg]:
    """A fake org with no components, faults, forced fields, calls or OAuth clients.

    While the test runs, REQUESTS_CA_BUNDLE names the fake org's CA, so
    simple-salesforce's session and zeep's own session (and any subprocess
    that inherits os.environ) trust the server, and NO_PROXY keeps loopback
    traffic away from any proxy. The environment is restored afterwards. The
    test fails at teardown if the fake org hit an internal error.
    """
    org = fake_org_server
    org.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_bundle)
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h.strip()]
        monkeypatch.setenv(name, ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"])))
    yield org
    errors = list(org.server_errors)
    org.reset()
    if errors:
        pytest.fail("the fake org failed while handling a request:\n" + "\n".join(errors), pytrace=False)
