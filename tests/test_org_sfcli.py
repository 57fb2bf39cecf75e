"""Reading an org from the Salesforce CLI, against the fake `sf` in tests/fake_sf."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from migrate.org import ConnectOptions, SalesforceCliError, connect
from migrate.org.sfcli import read_org

FAKE_SF_DIR = Path(__file__).parent / "fake_sf"
TOKEN = "00DFAKE000000000001!AQEAQfakeTokenValue.123_abc"
DISPLAY_TOKEN = "00DFAKE000000000001!AQEAQdisplayTokenValue"


@pytest.fixture
def sf_orgs(tmp_path, monkeypatch):
    """Put the fake sf first on PATH and return a function that writes its org list."""
    orgs_file = tmp_path / "orgs.json"
    log_file = tmp_path / "sf-calls.jsonl"
    monkeypatch.setenv("PATH", f"{FAKE_SF_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SF_ORGS", str(orgs_file))
    monkeypatch.setenv("FAKE_SF_LOG", str(log_file))
    monkeypatch.delenv("FAKE_SF_ERRORS_TO_STDERR", raising=False)

    def write(orgs: dict) -> Path:
        orgs_file.write_text(json.dumps(orgs), encoding="utf-8")
        return log_file

    write({})
    return write


def dev_org(**overrides) -> dict:
    org = {
        "instanceUrl": "https://example-dev-ed.my.salesforce.com/",
        "id": "00DFAKE000000000001AAA",
        "username": "admin@example.com",
        "apiVersion": "65.0",
        "accessToken": TOKEN,
    }
    org.update(overrides)
    return org


def test_read_org_uses_show_access_token(sf_orgs):
    log_file = sf_orgs({"dev": dev_org()})

    org = read_org("dev")

    assert org.access_token == TOKEN
    assert org.instance_url == "https://example-dev-ed.my.salesforce.com"
    assert org.org_id == "00DFAKE000000000001AAA"
    assert org.username == "admin@example.com"
    assert org.api_version == "65.0"
    calls = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert calls == [
        ["org", "display", "--target-org", "dev", "--json"],
        ["org", "auth", "show-access-token", "--target-org", "dev", "--json"],
    ]


def test_read_org_repr_hides_token(sf_orgs):
    sf_orgs({"dev": dev_org()})

    org = read_org("dev")

    assert TOKEN not in repr(org)
    assert "00DFAKE" in repr(org)


def test_read_org_ignores_redacted_display_token(sf_orgs):
    sf_orgs({"dev": dev_org(accessToken=None)})
    # The fake returns the "[REDACTED] ..." placeholder from org display by default,
    # and show-access-token returns a null token here.

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev")

    assert "no access token" in str(caught.value)
    assert "sf org login web --alias dev" in str(caught.value)
    assert "[REDACTED]" not in str(caught.value)


def test_read_org_without_any_token(sf_orgs):
    org = dev_org()
    del org["accessToken"]
    sf_orgs({"dev": org})

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev")

    assert caught.value.call == "sf org auth show-access-token"
    assert "no access token" in caught.value.problem


def test_read_org_old_cli_falls_back_to_display(sf_orgs):
    sf_orgs({"dev": dev_org(oldCli=True, displayToken=DISPLAY_TOKEN)})

    org = read_org("dev")

    assert org.access_token == DISPLAY_TOKEN


def test_read_org_old_cli_with_redacted_display(sf_orgs):
    sf_orgs({"dev": dev_org(oldCli=True)})

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev")

    assert caught.value.call == "sf org auth show-access-token"
    assert "status 127" in caught.value.problem


def test_read_org_unknown_alias(sf_orgs):
    sf_orgs({"dev": dev_org()})

    with pytest.raises(SalesforceCliError) as caught:
        read_org("nope")

    message = str(caught.value)
    assert "no login for the alias or username 'nope'" in message
    assert "No authorization information found for nope" in message
    assert "sf org login web --alias nope" in message
    assert caught.value.org == "nope"
    assert caught.value.call == "sf org display"


def test_read_org_unknown_alias_error_on_stderr(sf_orgs, monkeypatch):
    sf_orgs({})
    monkeypatch.setenv("FAKE_SF_ERRORS_TO_STDERR", "1")

    with pytest.raises(SalesforceCliError) as caught:
        read_org("nope")

    assert "sf org login web --alias nope" in str(caught.value)


def test_read_org_skips_banner_before_json(sf_orgs):
    sf_orgs({"dev": dev_org(banner=True)})

    org = read_org("dev")

    assert org.access_token == TOKEN


def test_read_org_redacted_instance_url(sf_orgs):
    sf_orgs({"dev": dev_org(instanceUrl="[REDACTED]")})

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev")

    assert "no instance URL" in caught.value.problem


def test_read_org_sf_missing_from_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev")

    message = str(caught.value)
    assert "'sf' was not found on PATH" in message
    assert "Install Salesforce CLI" in message
    assert "SF_ACCESS_TOKEN" in message


def test_read_org_timeout(sf_orgs):
    sf_orgs({"dev": dev_org(sleepSeconds=5)})

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev", timeout=0.5)

    assert "did not finish within 0.5 seconds" in caught.value.problem


def test_read_org_never_echoes_token_in_errors(sf_orgs):
    # show-access-token succeeds with a token but org display lacks the instance URL:
    # the error must not quote any command output.
    org = dev_org(displayToken=TOKEN)
    del org["instanceUrl"]
    sf_orgs({"dev": org})

    with pytest.raises(SalesforceCliError) as caught:
        read_org("dev")

    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)


def test_connect_target_org_offline(sf_orgs, monkeypatch):
    sf_orgs({"dev": dev_org()})

    session = connect(ConnectOptions(target_org="dev"), environ=dict(os.environ))

    assert session.label == "dev"
    assert session.target_org == "dev"
    assert session.org_id == "00DFAKE000000000001AAA"
    assert session.username == "admin@example.com"
    assert session.instance_url == "https://example-dev-ed.my.salesforce.com"
    assert session.api_version == "64.0"
    assert TOKEN not in repr(session)
    session.close()


def test_connect_target_org_api_version(sf_orgs):
    sf_orgs({"dev": dev_org()})

    session = connect(ConnectOptions(target_org="dev", api_version="66.0"), environ=dict(os.environ))

    assert session.api_version == "66.0"
    session.close()
