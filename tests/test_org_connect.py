"""Choosing the login method, validating connection options, and import cost; no server."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.org import (
    ApiVersionTooLow,
    AuthMethod,
    ConnectOptions,
    InvalidConnectOptions,
    OrgUnreachable,
    connect,
    select_auth_method,
)
from migrate.org.oauth import default_audience

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-Value-that-must-not-leak"


@pytest.mark.parametrize(
    ("options", "environ", "expected"),
    [
        (ConnectOptions(target_org="dev"), {}, AuthMethod.SALESFORCE_CLI),
        (
            ConnectOptions(client_id="3MVG9", username="u@example.com", private_key_file=Path("server.key")),
            {},
            AuthMethod.JWT_BEARER,
        ),
        (
            ConnectOptions(client_id="3MVG9", instance_url="https://example.my.salesforce.com"),
            {"SF_CLIENT_SECRET": SECRET},
            AuthMethod.CLIENT_CREDENTIALS,
        ),
        (ConnectOptions(username="u@example.com"), {"SF_PASSWORD": SECRET}, AuthMethod.PASSWORD),
        (ConnectOptions(username="u@example.com", password=SECRET), {}, AuthMethod.PASSWORD),
        (
            ConnectOptions(instance_url="https://example.my.salesforce.com"),
            {"SF_ACCESS_TOKEN": SECRET},
            AuthMethod.ACCESS_TOKEN,
        ),
    ],
    ids=lambda value: value.name if isinstance(value, AuthMethod) else None,
)
def test_select_auth_method(options, environ, expected):
    assert select_auth_method(options, environ) is expected


@pytest.mark.parametrize(
    ("options", "environ", "phrase"),
    [
        (ConnectOptions(), {}, "no org to connect to was given"),
        (ConnectOptions(target_org="dev", instance_url="https://x.my.salesforce.com"), {}, "--target-org cannot be combined with --instance-url"),
        (ConnectOptions(target_org="dev", password=SECRET), {}, "cannot be combined with SF_PASSWORD"),
        (ConnectOptions(private_key_file=Path("server.key")), {}, "JWT bearer login needs --client-id, --username"),
        (ConnectOptions(client_id="3MVG9", username="u@example.com"), {}, "needs --jwt-key-file"),
        (ConnectOptions(client_id="3MVG9"), {}, "client credentials login needs --instance-url"),
        (ConnectOptions(client_id="3MVG9", instance_url="https://x.my.salesforce.com"), {}, "SF_CLIENT_SECRET"),
        (ConnectOptions(instance_url="https://x.my.salesforce.com"), {}, "SF_ACCESS_TOKEN"),
        (ConnectOptions(instance_url="https://x.my.salesforce.com"), {"SF_ACCESS_TOKEN": "  "}, "SF_ACCESS_TOKEN"),
        (ConnectOptions(username="u@example.com"), {}, "needs a password"),
        (ConnectOptions(username="u@example.com", instance_url="https://x.my.salesforce.com"), {}, "cannot be combined with --instance-url"),
    ],
)
def test_select_auth_method_rejects(options, environ, phrase):
    with pytest.raises(InvalidConnectOptions) as caught:
        select_auth_method(options, environ)

    assert phrase in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("version", ["v64.0", "64", "64.1", "sixty-four", ""])
def test_connect_rejects_malformed_api_version(version):
    options = ConnectOptions(instance_url="https://x.my.salesforce.com", api_version=version)

    with pytest.raises(InvalidConnectOptions) as caught:
        connect(options, environ={"SF_ACCESS_TOKEN": SECRET})

    assert "is not of the form 64.0" in str(caught.value)


def test_connect_rejects_low_api_version():
    options = ConnectOptions(instance_url="https://x.my.salesforce.com", api_version="58.0")

    with pytest.raises(ApiVersionTooLow) as caught:
        connect(options, environ={"SF_ACCESS_TOKEN": SECRET})

    assert "lower than 59.0" in str(caught.value)
    assert "--api-version 64.0 or later" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://x.my.salesforce.com", "https://x.my.salesforce.com/services", "x.my.salesforce.com"]
)
def test_connect_rejects_bad_instance_url(url):
    with pytest.raises(InvalidConnectOptions) as caught:
        connect(ConnectOptions(instance_url=url), environ={"SF_ACCESS_TOKEN": SECRET})

    assert "is not an https:// URL with only a host" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_connect_options_repr_masks_secrets():
    options = ConnectOptions(username="u@example.com", password=SECRET, security_token="TOKEN123456")

    text = repr(options)

    assert SECRET not in text
    assert "TOKEN123456" not in text
    assert "password='***'" in text
    assert "username='u@example.com'" in text


def test_jwt_key_file_missing(tmp_path):
    options = ConnectOptions(
        client_id="3MVG9", username="u@example.com", private_key_file=tmp_path / "missing.key",
        login_url="https://127.0.0.1:9",
    )

    with pytest.raises(InvalidConnectOptions) as caught:
        connect(options, environ={})

    assert "missing.key" in str(caught.value)
    assert "cannot be read" in str(caught.value)


def test_jwt_key_file_not_a_key(tmp_path):
    key_file = tmp_path / "server.key"
    key_file.write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n")
    options = ConnectOptions(
        client_id="3MVG9", username="u@example.com", private_key_file=key_file, login_url="https://127.0.0.1:9"
    )

    with pytest.raises(InvalidConnectOptions) as caught:
        connect(options, environ={})

    assert "is not a usable PEM RSA private key" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
    ],
)
def test_default_jwt_audience(login_url, audience):
    assert default_audience(login_url) == audience


def test_password_login_warns_about_soap(caplog, monkeypatch):
    # Port 9 (discard) on loopback refuses the connection, so the login fails fast
    # after the warning is logged.
    options = ConnectOptions(username="u@example.com", login_url="https://127.0.0.1:9", http_timeout=5)

    with caplog.at_level(logging.WARNING, logger="migrate.org.connect"):
        with pytest.raises(OrgUnreachable) as caught:
            connect(options, environ={"SF_PASSWORD": SECRET, "SF_SECURITY_TOKEN": "tok"})

    assert "does not offer it at API 65.0 and later" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)
    assert caught.value.call == "login (username and password)"


def test_importing_org_package_skips_http_clients():
    code = (
        "import sys, migrate.org, migrate.org.connect, migrate.org.errors\n"
        "loaded = [m for m in ('requests', 'simple_salesforce', 'zeep') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )

    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert completed.stdout.strip() == ""


def test_instance_url_with_credentials_not_echoed():
    from migrate.org import ConnectOptions, InvalidConnectOptions, connect

    options = ConnectOptions(instance_url="https://admin:hunter2@127.0.0.1:9")
    with pytest.raises(InvalidConnectOptions) as caught:
        connect(options, environ={"SF_ACCESS_TOKEN": "x"})
    assert "hunter2" not in str(caught.value)
    assert "127.0.0.1:9" in str(caught.value)
