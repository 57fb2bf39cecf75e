"""Token requests for the OAuth 2.0 JWT bearer and client credentials flows, and SOAP login.

simple-salesforce 1.12.10 builds every login and token URL as
``https://{domain}.salesforce.com``, so it cannot reach a government cloud, a custom
host or a local test server. These functions send the token request to the URL
given, and the caller hands the resulting instance URL and access token to
simple-salesforce. Imported only inside ``connect``, because it imports requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from migrate.org.errors import InvalidConnectOptions, ResponseFormatError

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce rejects an assertion whose exp claim is more than 3 minutes in the future.
JWT_LIFETIME_SECONDS = 180
# SOAP login() is unavailable at API 65.0 and later, so the login request uses this version.
# The session it returns works at any API version.
LAST_SOAP_LOGIN_VERSION = "64.0"


class TimeoutSession(requests.Session):
    """A requests session that applies a default timeout, in seconds, to every request.

    simple-salesforce sends its REST and deploy/retrieve requests without a timeout,
    so a stalled server would otherwise block the tool forever.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class Token:
    """An access token and where to use it. ``access_token`` never appears in ``repr``."""

    instance_url: str
    org_id: str | None
    user_id: str | None
    access_token: str = field(repr=False)


def jwt_bearer_token(
    session: requests.Session,
    *,
    login_url: str,
    client_id: str,
    username: str,
    private_key_file: Path,
    audience: str,
) -> Token:
    """Request an access token with a JWT signed by the app's private key (RS256)."""
    import jwt

    try:
        private_key = private_key_file.read_bytes()
    except OSError as exc:
        raise InvalidConnectOptions(
            username,
            "read private key",
            f"the private key file {str(private_key_file)!r} cannot be read ({exc.strerror})",
            "Pass the path of the PEM private key that matches the certificate uploaded to the app.",
        ) from None
    claims = {
        "iss": client_id,
        "sub": username,
        "aud": audience,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    try:
        assertion = jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.exceptions.PyJWTError):
        # The exception text can quote the key, so it is left out of the message.
        raise InvalidConnectOptions(
            username,
            "sign JWT",
            f"the file {str(private_key_file)!r} is not a usable PEM RSA private key",
            "Pass the unencrypted PEM private key that matches the certificate uploaded to the app.",
        ) from None
    data = {"grant_type": JWT_GRANT_TYPE, "assertion": assertion}
    return _request_token(session, token_url(login_url), data)


def client_credentials_token(
    session: requests.Session, *, instance_url: str, client_id: str, client_secret: str
) -> Token:
    """Request an access token with the client credentials flow (client id and secret in Basic auth)."""
    data = {"grant_type": "client_credentials"}
    return _request_token(session, token_url(instance_url), data, auth=(client_id, client_secret))


def password_login(
    session: requests.Session,
    *,
    login_url: str,
    username: str,
    password: str,
    security_token: str,
    api_version: str,
) -> Token:
    """Log in with SOAP ``login()`` at API 64.0 or lower and return the session id as the token."""
    from simple_salesforce.login import SalesforceLogin

    version = min(api_version, LAST_SOAP_LOGIN_VERSION, key=_version_key)
    session_id, sf_instance = SalesforceLogin(
        username=username,
        password=password,
        security_token=security_token,
        sf_version=version,
        session=session,
        scratch_url=login_url.rstrip("/"),
    )
    return Token(instance_url=f"https://{sf_instance}", org_id=None, user_id=None, access_token=session_id)


def user_info(session: requests.Session, instance_url: str, access_token: str) -> dict[str, Any]:
    """Return the OpenID Connect userinfo of the token's user (organization_id, preferred_username)."""
    from simple_salesforce.util import exception_handler

    response = session.get(
        f"{instance_url}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if response.status_code >= 300:
        exception_handler(response, name="userinfo")
    info = response.json()
    if not isinstance(info, dict):
        raise ResponseFormatError("the userinfo reply is not a JSON object")
    return info


def token_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/services/oauth2/token"


def default_audience(login_url: str) -> str:
    """Return the JWT ``aud`` Salesforce expects: the sandbox login server for sandboxes, else production.

    NOTE: for a production My Domain login URL this returns https://login.salesforce.com,
    which Salesforce's JWT bearer documentation lists; whether every org also accepts
    the My Domain URL itself is unconfirmed. Pass ``jwt_audience`` to override.
    """
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    return "https://login.salesforce.com"


def _request_token(
    session: requests.Session, url: str, data: dict[str, str], auth: tuple[str, str] | None = None
) -> Token:
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    from simple_salesforce.util import exception_handler

    response = session.post(url, data=data, auth=auth, headers={"Accept": "application/json"})
    body = _json_or_none(response)
    if response.status_code != 200:
        if response.status_code < 500 and isinstance(body, dict) and "error" in body:
            raise SalesforceAuthenticationFailed(body.get("error"), body.get("error_description"))
        exception_handler(response, name="token")
    if not isinstance(body, dict) or not body.get("access_token") or not body.get("instance_url"):
        raise ResponseFormatError("the token reply has no access_token and instance_url")
    org_id, user_id = _ids_from_identity_url(str(body.get("id") or ""))
    return Token(
        instance_url=str(body["instance_url"]).rstrip("/"),
        org_id=org_id,
        user_id=user_id,
        access_token=str(body["access_token"]),
    )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _ids_from_identity_url(identity_url: str) -> tuple[str | None, str | None]:
    """Split ``https://login.salesforce.com/id/<org id>/<user id>`` into the two ids."""
    parts = urlsplit(identity_url).path.strip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id":
        return parts[-2], parts[-1]
    return None, None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
