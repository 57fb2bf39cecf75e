"""JWT bearer, client credentials and username-password login against the fake org."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from migrate.org import ConnectOptions, LoginFailed, OrgRequestFailed, SessionExpired, connect

CLIENT_ID = "3MVG9FAKECLIENTID"
CLIENT_SECRET = "client-secret-value-never-shown"
PASSWORD = "Passw0rd-never-shown"
SECURITY_TOKEN = "SECTOKEN0123456789"


@pytest.fixture(scope="module")
def key_pair():
    """An RSA private key (PEM, unencrypted) and its public key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


@pytest.fixture
def key_file(tmp_path, key_pair):
    path = tmp_path / "server.key"
    path.write_bytes(key_pair[0])
    return path


def jwt_options(fake_org, key_file, **overrides):
    settings = {
        "client_id": CLIENT_ID,
        "username": fake_org.username,
        "private_key_file": key_file,
        "login_url": fake_org.instance_url,
        "http_timeout": 10.0,
    }
    settings.update(overrides)
    return ConnectOptions(**settings)


def test_jwt_bearer_login(fake_org, key_file, key_pair):
    fake_org.register_jwt_client(CLIENT_ID, key_pair[1].decode(), fake_org.username)

    session = connect(jwt_options(fake_org, key_file), environ={})

    assert session.org_id == fake_org.org_id
    assert session.username == fake_org.username
    assert session.instance_url == fake_org.instance_url
    assert session.list_metadata(["ExternalClientApplication"]) == {"ExternalClientApplication": []}
    token_calls = [call for call in fake_org.calls if call.name == "token"]
    assert len(token_calls) == 1
    # The identity URL in the token reply gives the org id, and the username is known,
    # so no userinfo request is needed.
    assert not [call for call in fake_org.calls if call.path == "/services/oauth2/userinfo"]


def test_jwt_bearer_unapproved_user(fake_org, key_file, key_pair):
    fake_org.register_jwt_client(CLIENT_ID, key_pair[1].decode(), fake_org.username)

    with pytest.raises(LoginFailed) as caught:
        connect(jwt_options(fake_org, key_file, username="someone.else@example.com"), environ={})

    assert "user hasn't approved this consumer" in str(caught.value)
    assert "Pre-authorize the user" in caught.value.hint
    assert caught.value.call == "login (JWT bearer)"


def test_jwt_bearer_unknown_client(fake_org, key_file):
    with pytest.raises(LoginFailed) as caught:
        connect(jwt_options(fake_org, key_file), environ={})

    assert "invalid_client_id" in str(caught.value)
    assert "up to 30 minutes" in caught.value.hint


def test_jwt_bearer_wrong_key(fake_org, key_file):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_public = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake_org.register_jwt_client(CLIENT_ID, other_public.decode(), fake_org.username)

    with pytest.raises(LoginFailed) as caught:
        connect(jwt_options(fake_org, key_file), environ={})

    assert "invalid_grant" in str(caught.value)
    assert "certificate uploaded to the app matches the private key" in caught.value.hint


def test_client_credentials_login(fake_org):
    fake_org.register_client_credentials(CLIENT_ID, CLIENT_SECRET, fake_org.username)
    options = ConnectOptions(client_id=CLIENT_ID, instance_url=fake_org.instance_url, http_timeout=10.0)

    session = connect(options, environ={"SF_CLIENT_SECRET": CLIENT_SECRET})

    assert session.org_id == fake_org.org_id
    assert session.username == fake_org.username
    assert CLIENT_SECRET not in repr(session)


def test_client_credentials_wrong_secret(fake_org):
    fake_org.register_client_credentials(CLIENT_ID, CLIENT_SECRET, fake_org.username)
    options = ConnectOptions(client_id=CLIENT_ID, instance_url=fake_org.instance_url, http_timeout=10.0)

    with pytest.raises(LoginFailed) as caught:
        connect(options, environ={"SF_CLIENT_SECRET": "wrong-secret-value"})

    assert "SF_CLIENT_SECRET" in caught.value.hint
    assert "wrong-secret-value" not in str(caught.value)


def test_token_endpoint_server_error(fake_org):
    fake_org.register_client_credentials(CLIENT_ID, CLIENT_SECRET, fake_org.username)
    fake_org.inject_fault("token", "server_error")
    options = ConnectOptions(client_id=CLIENT_ID, instance_url=fake_org.instance_url, http_timeout=10.0)

    with pytest.raises(OrgRequestFailed) as caught:
        connect(options, environ={"SF_CLIENT_SECRET": CLIENT_SECRET})

    assert caught.value.retryable
    assert CLIENT_SECRET not in str(caught.value)


def test_userinfo_expired_after_login(fake_org):
    fake_org.register_client_credentials(CLIENT_ID, CLIENT_SECRET, fake_org.username)
    fake_org.inject_fault("rest", "expired_session")
    options = ConnectOptions(client_id=CLIENT_ID, instance_url=fake_org.instance_url, http_timeout=10.0)

    with pytest.raises(SessionExpired) as caught:
        connect(options, environ={"SF_CLIENT_SECRET": CLIENT_SECRET})

    assert caught.value.call == "userinfo"
    assert "API Access Control" in caught.value.hint


def test_password_login_at_newer_api_version(fake_org, caplog):
    fake_org.register_password(fake_org.username, PASSWORD, SECURITY_TOKEN)
    options = ConnectOptions(
        username=fake_org.username, login_url=fake_org.instance_url, api_version="66.0", http_timeout=10.0
    )

    with caplog.at_level(logging.WARNING, logger="migrate.org"):
        session = connect(options, environ={"SF_PASSWORD": PASSWORD, "SF_SECURITY_TOKEN": SECURITY_TOKEN})

    assert session.org_id == fake_org.org_id
    assert session.api_version == "66.0"
    login_paths = [call.path for call in fake_org.calls if call.operation == "login"]
    assert login_paths == ["/services/Soap/u/64.0"]
    assert "SOAP login()" in caplog.text
    assert PASSWORD not in caplog.text


def test_password_login_rejected(fake_org):
    fake_org.register_password(fake_org.username, PASSWORD, SECURITY_TOKEN)
    options = ConnectOptions(username=fake_org.username, login_url=fake_org.instance_url, http_timeout=10.0)

    with pytest.raises(LoginFailed) as caught:
        connect(options, environ={"SF_PASSWORD": "not-the-password", "SF_SECURITY_TOKEN": SECURITY_TOKEN})

    assert "INVALID_LOGIN" in str(caught.value)
    assert "security token" in caught.value.hint
    assert "not-the-password" not in str(caught.value)
