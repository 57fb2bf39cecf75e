"""OAuth 2.0 token endpoint: JWT bearer and client credentials flows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from .org import FakeOrg

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_CREDENTIALS = "client_credentials"


class OAuthError(Exception):
    """A rejected token request, sent as HTTP 400 JSON {error, error_description}."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def load_public_key(pem: str | bytes) -> Any:
    """Load the RSA public key of a PEM certificate or PEM public key."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data).public_key()
    except ValueError:
        pass
    try:
        return serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ValueError("cert_pem must be a PEM X.509 certificate or PEM public key") from exc


def issue(org: "FakeOrg", form: dict[str, str], authorization: str | None) -> tuple[dict[str, str], str]:
    """Check a token request and return (token response JSON, client id), or raise OAuthError."""
    grant_type = form.get("grant_type", "")
    if grant_type == JWT_BEARER:
        client_id, username = _check_jwt(org, form.get("assertion", ""))
    elif grant_type == CLIENT_CREDENTIALS:
        client_id, username = _check_client_credentials(org, form, authorization)
    else:
        # External client apps do not support the username-password flow, and
        # the fake models only the two flows above.
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    token = org.issue_token(username)
    user = next(u for u in org.users() if u.username == username)
    issued_at = str(int(time.time() * 1000))
    signature = base64.b64encode(
        hmac.new(org.org_id.encode(), f"{org.instance_url}{issued_at}".encode(), hashlib.sha256).digest()
    ).decode()
    response = {
        "access_token": token,
        "instance_url": org.instance_url,
        "id": f"{org.instance_url}/id/{org.org_id}/{user.id}",
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api",
    }
    return response, client_id


def _check_jwt(org: "FakeOrg", assertion: str) -> tuple[str, str]:
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", f"invalid assertion: {exc}") from exc
    client_id = str(unverified.get("iss", ""))
    client = org.client(client_id)
    if client is None or client.public_key is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    try:
        # simple-salesforce sends `exp` as a digit string, which PyJWT's own
        # check rejects, so exp and aud are checked below instead.
        claims = jwt.decode(
            assertion,
            client.public_key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", f"invalid assertion: {exc}") from exc
    try:
        expires = int(claims.get("exp", 0))
    except (TypeError, ValueError):
        raise OAuthError("invalid_grant", "invalid assertion: exp is not a number") from None
    if expires <= time.time():
        raise OAuthError("invalid_grant", "invalid assertion: the assertion has expired")
    if not _audience_ok(org, str(claims.get("aud", ""))):
        raise OAuthError("invalid_grant", f"audience is invalid: {claims.get('aud')!r}")
    if claims.get("sub") != client.username:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return client_id, client.username


def _audience_ok(org: "FakeOrg", audience: str) -> bool:
    """Accept https://<anything>.salesforce.com (login, test, My Domain) or the fake's own URL."""
    if audience.rstrip("/") == org.instance_url:
        return True
    parts = urlsplit(audience)
    host = parts.hostname or ""
    return parts.scheme == "https" and host.endswith(".salesforce.com")


def _check_client_credentials(org: "FakeOrg", form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    client_id = form.get("client_id", "")
    secret = form.get("client_secret", "")
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "invalid client credentials") from None
        client_id, _, secret = decoded.partition(":")
    client = org.client(client_id)
    if client is None or client.secret is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(client.secret.encode(), secret.encode()):
        raise OAuthError("invalid_client", "invalid client credentials")
    return client_id, client.username
