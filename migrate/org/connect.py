"""Connect to an org: choose the login method from the options and return an ``OrgSession``.

Login methods, in the order ``select_auth_method`` checks them:

=====================  ============================================  ===========================
Method                 Options                                       Secret from
=====================  ============================================  ===========================
Salesforce CLI         ``target_org`` (alias or username)            ``sf org auth show-access-token``
JWT bearer             ``client_id``, ``username``,                  the private key file
                       ``private_key_file``, ``login_url``
Client credentials     ``client_id``, ``instance_url``               ``SF_CLIENT_SECRET``
Username and password  ``username``, ``login_url``                   ``password`` and ``security_token``,
                                                                     or ``SF_PASSWORD`` and
                                                                     ``SF_SECURITY_TOKEN``
Access token           ``instance_url``                              ``SF_ACCESS_TOKEN``
=====================  ============================================  ===========================

Username and password use SOAP ``login()``. Salesforce turns it off by default in
new orgs and does not offer it at API 65.0 and later, so it is the last resort and
logs a warning. simple-salesforce, zeep and requests are imported only when ``connect``
runs, so that importing this module (for the command line's ``--help``) stays cheap.
"""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from migrate.org.errors import (
    MIN_API_VERSION,
    RECOMMENDED_API_VERSION,
    ApiVersionTooLow,
    ErrorContext,
    InvalidConnectOptions,
    translate_errors,
)

if TYPE_CHECKING:
    from migrate.org.oauth import Token
    from migrate.org.session import OrgSession

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = RECOMMENDED_API_VERSION
DEFAULT_LOGIN_URL = "https://login.salesforce.com"

ACCESS_TOKEN_ENV = "SF_ACCESS_TOKEN"
CLIENT_SECRET_ENV = "SF_CLIENT_SECRET"
PASSWORD_ENV = "SF_PASSWORD"
SECURITY_TOKEN_ENV = "SF_SECURITY_TOKEN"

_API_VERSION_PATTERN = re.compile(r"^[1-9][0-9]*\.0$")


class AuthMethod(enum.Enum):
    """A login method that ``connect`` supports."""

    SALESFORCE_CLI = "Salesforce CLI"
    JWT_BEARER = "JWT bearer"
    CLIENT_CREDENTIALS = "client credentials"
    PASSWORD = "username and password"
    ACCESS_TOKEN = "access token"


@dataclass(frozen=True)
class ConnectOptions:
    """Connection target, login inputs, and HTTP and polling settings.

    Times are in seconds. ``password`` and ``security_token`` are masked in ``repr``;
    prefer the ``SF_PASSWORD`` and ``SF_SECURITY_TOKEN`` environment variables to
    passing them here.
    """

    target_org: str | None = None
    instance_url: str | None = None
    login_url: str = DEFAULT_LOGIN_URL
    username: str | None = None
    client_id: str | None = None
    private_key_file: Path | None = None
    jwt_audience: str | None = None
    password: str | None = None
    security_token: str | None = None
    api_version: str = DEFAULT_API_VERSION
    http_timeout: float = 120.0
    poll_interval: float = 2.0
    max_poll_interval: float = 30.0
    wait_timeout: float = 3600.0
    sf_executable: str = "sf"

    def __repr__(self) -> str:
        fields = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in {"password", "security_token"} and value is not None:
                fields.append(f"{name}='***'")
            else:
                fields.append(f"{name}={value!r}")
        return f"ConnectOptions({', '.join(fields)})"


def connect(options: ConnectOptions, *, environ: Mapping[str, str] | None = None) -> OrgSession:
    """Log in with the method the options select and return a session on the org.

    ``environ`` defaults to ``os.environ`` and supplies SF_ACCESS_TOKEN,
    SF_CLIENT_SECRET, SF_PASSWORD and SF_SECURITY_TOKEN. Raises an ``OrgError``
    subclass: InvalidConnectOptions, SalesforceCliError, LoginFailed, OrgUnreachable
    and the others in ``migrate.org.errors``.
    """
    env = os.environ if environ is None else environ
    method = select_auth_method(options, env)
    label = _label(options)
    _check_api_version(options.api_version, label)

    from migrate.org.oauth import TimeoutSession

    http = TimeoutSession(options.http_timeout)
    secrets = _secrets(options, env)
    if method is AuthMethod.SALESFORCE_CLI:
        return _connect_with_cli(options, http, env, secrets)

    context = ErrorContext(org=label, api_version=options.api_version, secrets=secrets)
    with translate_errors(context, f"login ({method.value})"):
        token = _request_token(method, options, env, http)
    return _open_session(
        options,
        http,
        instance_url=token.instance_url,
        access_token=token.access_token,
        org_id=token.org_id,
        username=options.username if method is AuthMethod.JWT_BEARER else None,
        method=method,
        secrets=secrets,
    )


def select_auth_method(options: ConnectOptions, environ: Mapping[str, str]) -> AuthMethod:
    """Return the login method the options ask for, or raise InvalidConnectOptions naming what is missing."""
    label = _label(options)
    if options.target_org:
        _reject_with(options, label, "--target-org", ("instance_url", "username", "client_id", "private_key_file",
                                                     "password", "security_token"))
        return AuthMethod.SALESFORCE_CLI
    if options.private_key_file is not None or (options.client_id and options.username):
        _require(options, label, "JWT bearer login", ("client_id", "username", "private_key_file"))
        _reject_with(options, label, "JWT bearer login", ("password", "security_token"))
        return AuthMethod.JWT_BEARER
    if options.client_id:
        _require(options, label, "client credentials login", ("instance_url",))
        _require_env(environ, label, "client credentials login", CLIENT_SECRET_ENV)
        return AuthMethod.CLIENT_CREDENTIALS
    if options.username:
        _reject_with(options, label, "username-password login", ("instance_url",))
        if not (options.password or environ.get(PASSWORD_ENV)):
            raise InvalidConnectOptions(
                label,
                "connect",
                f"username-password login needs a password and there is none in {PASSWORD_ENV}",
                f"Set {PASSWORD_ENV} (and {SECURITY_TOKEN_ENV}), or connect with --target-org ALIAS instead.",
            )
        return AuthMethod.PASSWORD
    if options.instance_url:
        _require_env(environ, label, "access token login", ACCESS_TOKEN_ENV)
        return AuthMethod.ACCESS_TOKEN
    raise InvalidConnectOptions(label, "connect", "no org to connect to was given")


def _connect_with_cli(
    options: ConnectOptions, http: object, environ: Mapping[str, str], secrets: tuple[str, ...]
) -> OrgSession:
    from migrate.org import sfcli

    assert options.target_org is not None
    cli_org = sfcli.read_org(
        options.target_org,
        executable=options.sf_executable,
        timeout=max(options.http_timeout, sfcli.CLI_TIMEOUT_SECONDS),
        environ=environ,
    )
    return _open_session(
        options,
        http,
        instance_url=cli_org.instance_url,
        access_token=cli_org.access_token,
        org_id=cli_org.org_id,
        username=cli_org.username,
        method=AuthMethod.SALESFORCE_CLI,
        secrets=secrets,
    )


def _request_token(method: AuthMethod, options: ConnectOptions, environ: Mapping[str, str], http: object) -> Token:
    from migrate.org import oauth

    if method is AuthMethod.JWT_BEARER:
        assert options.client_id is not None
        assert options.username is not None
        assert options.private_key_file is not None
        return oauth.jwt_bearer_token(
            http,  # type: ignore[arg-type]
            login_url=options.login_url,
            client_id=options.client_id,
            username=options.username,
            private_key_file=Path(options.private_key_file),
            audience=options.jwt_audience or oauth.default_audience(options.login_url),
        )
    if method is AuthMethod.CLIENT_CREDENTIALS:
        assert options.client_id is not None
        assert options.instance_url is not None
        return oauth.client_credentials_token(
            http,  # type: ignore[arg-type]
            instance_url=options.instance_url,
            client_id=options.client_id,
            client_secret=environ[CLIENT_SECRET_ENV],
        )
    if method is AuthMethod.PASSWORD:
        assert options.username
        logger.warning(
            "Logging in with username and password through SOAP login(). Salesforce turns SOAP login off "
            "by default in new orgs and does not offer it at API 65.0 and later; prefer --target-org or JWT bearer."
        )
        return oauth.password_login(
            http,  # type: ignore[arg-type]
            login_url=options.login_url,
            username=options.username,
            password=options.password or environ.get(PASSWORD_ENV, ""),
            security_token=options.security_token or environ.get(SECURITY_TOKEN_ENV, ""),
            api_version=options.api_version,
        )
    assert options.instance_url
    return oauth.Token(
        instance_url=options.instance_url.rstrip("/"),
        org_id=None,
        user_id=None,
        access_token=environ[ACCESS_TOKEN_ENV].strip(),
    )


def _open_session(
    options: ConnectOptions,
    http: object,
    *,
    instance_url: str,
    access_token: str,
    org_id: str | None,
    username: str | None,
    method: AuthMethod,
    secrets: tuple[str, ...],
) -> OrgSession:
    """Build the simple-salesforce client and the OrgSession.

    When the login returned no org id or username, they come from the userinfo endpoint.
    """
    from simple_salesforce import Salesforce

    from migrate.org import oauth
    from migrate.org.session import OrgSession, PollSettings

    _check_instance_url(instance_url, _label(options))
    label = options.target_org or urlsplit(instance_url).hostname or instance_url
    context = ErrorContext(
        org=label,
        api_version=options.api_version,
        target_org=options.target_org,
        relogin_hint=_relogin_hint(method, options),
        secrets=(access_token, *secrets),
    )
    if org_id is None or username is None:
        with translate_errors(context, "userinfo"):
            info = oauth.user_info(http, instance_url, access_token)  # type: ignore[arg-type]
        org_id = org_id or _string_or_none(info.get("organization_id"))
        username = username or _string_or_none(info.get("preferred_username"))
    client = Salesforce(
        instance_url=instance_url,
        session_id=access_token,
        version=options.api_version,
        session=http,  # type: ignore[arg-type]
    )
    poll = PollSettings(
        interval=options.poll_interval,
        max_interval=options.max_poll_interval,
        timeout=options.wait_timeout,
    )
    return OrgSession(
        client,
        org_id=org_id,
        username=username,
        instance_url=instance_url,
        api_version=options.api_version,
        label=label,
        target_org=options.target_org,
        context=context,
        poll=poll,
    )


def _relogin_hint(method: AuthMethod, options: ConnectOptions) -> str:
    if method is AuthMethod.SALESFORCE_CLI:
        return f"Log in again with `sf org login web --alias {options.target_org}` and rerun."
    if method is AuthMethod.ACCESS_TOKEN:
        return (
            f"Put a fresh access token in {ACCESS_TOKEN_ENV}, or log in with `sf org login web --alias ALIAS` "
            "and rerun with --target-org ALIAS."
        )
    return (
        "Rerun to get a new session. If it expires again at once, the org may use API Access Control: "
        "ask an admin to allowlist the app the session came from."
    )


def _check_api_version(api_version: str, label: str) -> None:
    if not _API_VERSION_PATTERN.match(api_version):
        raise InvalidConnectOptions(
            label,
            "connect",
            f"API version {api_version!r} is not of the form 64.0",
            "Pass the version as digits, a dot and 0, with no leading v.",
        )
    if int(api_version.split(".")[0]) < int(MIN_API_VERSION.split(".")[0]):
        raise ApiVersionTooLow(
            label,
            "connect",
            f"API version {api_version} is lower than {MIN_API_VERSION}, the first with External Client "
            "App metadata types",
        )


def _check_instance_url(url: str, label: str) -> None:
    parts = urlsplit(url)
    extras = parts.query or parts.fragment or parts.username or parts.password
    if parts.scheme != "https" or not parts.hostname or parts.path not in {"", "/"} or extras:
        # A user:password part may be a real credential, so the message never repeats it.
        shown = url if not (parts.username or parts.password) else url.replace(parts.netloc, "***@" + parts.netloc.rsplit("@", 1)[-1])
        raise InvalidConnectOptions(
            label,
            "connect",
            f"the instance URL {shown!r} is not an https:// URL with only a host",
            "Pass the org's URL in the form https://MyDomain.my.salesforce.com.",
        )


def _require(options: ConnectOptions, label: str, method: str, names: tuple[str, ...]) -> None:
    missing = [name for name in names if not getattr(options, name)]
    if missing:
        flags = ", ".join(_flag(name) for name in missing)
        raise InvalidConnectOptions(label, "connect", f"{method} needs {flags}")


def _reject_with(options: ConnectOptions, label: str, method: str, names: tuple[str, ...]) -> None:
    extra = [name for name in names if getattr(options, name)]
    if extra:
        flags = ", ".join(_flag(name) for name in extra)
        raise InvalidConnectOptions(label, "connect", f"{method} cannot be combined with {flags}")


def _require_env(environ: Mapping[str, str], label: str, method: str, name: str) -> None:
    if not environ.get(name, "").strip():
        raise InvalidConnectOptions(
            label,
            "connect",
            f"{method} needs the environment variable {name}, which is not set",
            f"Set {name} and rerun, or connect with --target-org ALIAS instead.",
        )


# Options whose command-line flag is not the field name with dashes, or that come from
# the environment instead.
_OPTION_SOURCES = {
    "private_key_file": "--jwt-key-file",
    "password": PASSWORD_ENV,
    "security_token": SECURITY_TOKEN_ENV,
}


def _flag(name: str) -> str:
    return _OPTION_SOURCES.get(name, "--" + name.replace("_", "-"))


def _label(options: ConnectOptions) -> str:
    if options.target_org:
        return options.target_org
    if options.instance_url:
        return urlsplit(options.instance_url).hostname or options.instance_url
    if options.username:
        return options.username
    return urlsplit(options.login_url).hostname or options.login_url


def _secrets(options: ConnectOptions, environ: Mapping[str, str]) -> tuple[str, ...]:
    values = [options.password, options.security_token]
    values += [environ.get(name) for name in (ACCESS_TOKEN_ENV, CLIENT_SECRET_ENV, PASSWORD_ENV, SECURITY_TOKEN_ENV)]
    return tuple(value for value in values if value)


def _string_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
