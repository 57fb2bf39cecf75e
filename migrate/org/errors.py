"""Errors raised at the org boundary, and the one place that translates client exceptions into them.

Every call that talks to an org runs inside ``translate_errors``. It turns what
simple-salesforce, zeep, requests and lxml raise, and the SOAP fault codes inside
their messages, into an ``OrgError`` subclass whose message names the org, the call
and what to do next. Exceptions that are not about talking to an org (a ``TypeError``
from a bug, say) pass through unchanged.

Error tree::

    SfecaError
      OrgError                  org, call, problem, hint, job_id, retryable
        SessionExpired          INVALID_SESSION_ID, HTTP 401
        LoginFailed             OAuth or SOAP login rejected
        AccessDenied            INSUFFICIENT_ACCESS, API disabled, HTTP 403
        ApiVersionTooLow        INVALID_TYPE, UNSUPPORTED_API_VERSION below 64.0, versions below 59.0
        ApiVersionUnsupported   UNSUPPORTED_API_VERSION at 64.0 or later
        RequestLimitExceeded    REQUEST_LIMIT_EXCEEDED
        OrgUnreachable          connection refused or reset, TLS failure, timeout
        UnexpectedResponse      a reply that is not the XML or JSON the API sends
        UnsupportedMetadataType a type missing from simple-salesforce's bundled WSDL
        OrgRequestFailed        HTTP 5xx, unknown fault codes, anything else
        DeployFailed            a deploy that finished without success
        RetrieveFailed          a retrieve that finished without success
        PollTimedOut            a deploy or retrieve still running at the deadline
        AmbiguousComponent      several components match where one is expected
        SalesforceCliError      the ``sf`` executable is missing or fails
        InvalidConnectOptions   connection options that cannot work together

``DeployInterrupted`` is not an ``OrgError``: it is the ``KeyboardInterrupt`` raised
when Ctrl-C stops the wait for a deploy, and it carries the deploy id.

Only the standard library is imported at module level, so that importing the
command line (for ``--help``) does not load simple-salesforce, zeep or requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from migrate.errors import SfecaError

# The version at which every ECA type and field the tool writes exists; hints recommend it.
RECOMMENDED_API_VERSION = "64.0"
# The first version with any External Client App metadata type; connect rejects lower ones.
MIN_API_VERSION = "59.0"

ECA_PERMISSIONS_HINT = (
    'Ask a Salesforce admin to give the user the permissions "Create, edit, and delete External '
    'Client Apps", "View all External Client Apps, view their settings, and edit their policies" '
    'and "Modify Metadata Through Metadata API Functions", then rerun.'
)
API_ACCESS_HINT = (
    'Ask a Salesforce admin to give the user the "API Enabled" permission (and, in orgs that turn on '
    "API Access Control, to allowlist the app the session came from), then rerun."
)
REQUEST_LIMIT_HINT = (
    "Retry after the org's rolling 24-hour API request window frees up. Setup > Company "
    "Information shows the API requests used and the limit."
)
CONCURRENT_LIMIT_HINT = (
    "The org has too many long-running requests at once. Wait a few minutes and rerun."
)
API_VERSION_HINT = f"Use --api-version {RECOMMENDED_API_VERSION} or later."
SERVER_ERROR_HINT = (
    "Retry in a few minutes. If it keeps failing, check https://status.salesforce.com "
    "for the org's instance."
)
BUG_HINT = "Rerun with --debug and report the output as a bug in sfeca-migrate."

# A Salesforce session id: the 15- or 18-character org id, "!", then the opaque part.
_SESSION_ID_PATTERN = re.compile(r"\b00D[0-9A-Za-z]{12,15}![0-9A-Za-z._\-]+")
_MAX_DETAIL_CHARS = 300


class OrgError(SfecaError):
    """An org call that failed, with the org label, the call name and what to do next.

    ``retryable`` is true for failures that a second attempt of a read-only call may
    not hit (connection resets, timeouts, HTTP 5xx without a specific fault code).
    ``job_id`` is the deploy or retrieve id when the failure happened while waiting
    for one.
    """

    default_hint = ""

    def __init__(
        self,
        org: str,
        call: str,
        problem: str,
        hint: str | None = None,
        *,
        job_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.org = org
        self.call = call
        self.problem = problem
        self.hint = hint if hint is not None else self.default_hint
        self.job_id = job_id
        self.retryable = retryable
        super().__init__(self._format())

    def _format(self) -> str:
        job = f" (job {self.job_id})" if self.job_id else ""
        message = f"{self.call} on org {self.org}{job} failed: {self.problem}."
        if self.hint:
            message += f" {self.hint}"
        return message

    def __str__(self) -> str:
        return self._format()

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are not in self.args, so pickling needs them spelled out.
        return (_rebuild_org_error, (type(self), self.__dict__.copy()))


def _rebuild_org_error(cls: type[OrgError], state: dict[str, Any]) -> OrgError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._format())
    return error


class SessionExpired(OrgError):
    """The access token or session id is expired, revoked or not valid for this org."""

    default_hint = "Log in again with `sf org login web --alias ALIAS` and rerun with --target-org ALIAS."


class LoginFailed(OrgError):
    """The login or token request was rejected."""

    default_hint = "Check the username, client id and credentials, and the login URL, then rerun."


class AccessDenied(OrgError):
    """The user lacks a permission the call needs."""

    default_hint = ECA_PERMISSIONS_HINT


class ApiVersionTooLow(OrgError):
    """The API version is too low for the External Client App types."""

    default_hint = API_VERSION_HINT


class ApiVersionUnsupported(OrgError):
    """The org does not support the requested API version."""

    default_hint = (
        f"Pass the highest API version the org supports, {RECOMMENDED_API_VERSION} or later, with --api-version."
    )


class RequestLimitExceeded(OrgError):
    """The org's API request limit is used up."""

    default_hint = REQUEST_LIMIT_HINT


class OrgUnreachable(OrgError):
    """The connection to the org failed or timed out."""

    default_hint = "Check the org URL and the network connection, then rerun."


class UnexpectedResponse(OrgError):
    """A reply that is not the XML or JSON the Salesforce API sends."""

    default_hint = (
        "Check that the instance URL is the org's own URL (https://MyDomain.my.salesforce.com) "
        "and that no proxy or login page answers in its place."
    )


class UnsupportedMetadataType(OrgError):
    """A metadata type that the WSDL bundled with simple-salesforce does not define."""

    default_hint = (
        "Install simple-salesforce 1.12.7 or later, whose bundled WSDL (API 63.0) "
        "defines the External Client App types."
    )


class OrgRequestFailed(OrgError):
    """A call that failed for a reason with no more specific class: HTTP 5xx, unknown faults."""

    default_hint = SERVER_ERROR_HINT


class DeployFailed(OrgError):
    """A deploy that finished without success."""

    default_hint = "Fix the components listed above and rerun."


class RetrieveFailed(OrgError):
    """A retrieve that finished without success."""

    default_hint = "Check the component names and that the user can see them, then rerun."


class PollTimedOut(OrgError):
    """A deploy or retrieve that was still running when the wait limit ran out."""

    default_hint = "The job may still finish in the org. Check it in Setup > Deployment Status."


class AmbiguousComponent(OrgError):
    """Several components match where the tool expects exactly one."""

    default_hint = "Remove or rename the extra components in the org, then rerun."


class SalesforceCliError(OrgError):
    """The Salesforce CLI (``sf``) is missing, or it failed to return the org's details."""

    default_hint = "Check the alias with `sf org list`, or log in with `sf org login web --alias ALIAS`."


class InvalidConnectOptions(OrgError):
    """Connection options that are missing or cannot be used together."""

    default_hint = (
        "Connect with --target-org ALIAS (Salesforce CLI), --instance-url with SF_ACCESS_TOKEN, "
        "JWT bearer (--client-id, --username, --jwt-key-file) or client credentials "
        "(--client-id, --instance-url, SF_CLIENT_SECRET)."
    )


class DeployInterrupted(KeyboardInterrupt):
    """Ctrl-C while waiting for a deploy. The deploy keeps running in the org."""

    def __init__(self, deploy_id: str, org: str, target_org: str | None = None) -> None:
        self.deploy_id = deploy_id
        self.org = org
        self.target_org = target_org
        super().__init__(deploy_id)

    @property
    def check_command(self) -> str:
        """The Salesforce CLI command that reports the deploy's outcome."""
        target = self.target_org or "ALIAS"
        return f"sf project deploy report --job-id {self.deploy_id} --target-org {target}"

    def __str__(self) -> str:
        return (
            f"Stopped waiting for deploy {self.deploy_id} on org {self.org}; the deploy continues in "
            f"the org. Check it with `{self.check_command}` or in Setup > Deployment Status."
        )


@dataclass(frozen=True)
class ErrorContext:
    """Connection facts that error messages use.

    ``secrets`` are the values (access token, client secret, password) to mask in
    any text that comes back from the org. They are left out of ``repr``.
    """

    org: str
    api_version: str = RECOMMENDED_API_VERSION
    target_org: str | None = None
    relogin_hint: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every known secret and anything shaped like a session id masked."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return _SESSION_ID_PATTERN.sub("***", text)

    def session_hint(self) -> str:
        if self.relogin_hint:
            return self.relogin_hint
        if self.target_org:
            return f"Log in again with `sf org login web --alias {self.target_org}` and rerun."
        return SessionExpired.default_hint


class ResponseFormatError(Exception):
    """A reply from the org that this package could not parse; translated to UnexpectedResponse."""


@dataclass(frozen=True)
class _Detail:
    """The parts of a failed response that decide the error class."""

    status: int | None = None
    code: str | None = None
    message: str = ""


@contextmanager
def translate_errors(context: ErrorContext, call: str, *, job_id: str | None = None) -> Iterator[None]:
    """Run the body and re-raise what a client library raises as an ``OrgError``.

    ``OrgError`` and exceptions that ``translate`` does not recognise pass through.
    """
    try:
        yield
    except OrgError:
        raise
    except Exception as exc:
        error = translate(exc, context, call, job_id=job_id)
        if error is None:
            raise
        raise error from exc


def translate(
    exc: BaseException, context: ErrorContext, call: str, *, job_id: str | None = None
) -> OrgError | None:
    """Return the ``OrgError`` for an exception raised while talking to the org, or None.

    None means the exception is not about talking to an org and should propagate as is.
    """
    for translator in _translators():
        error = translator(exc, context, call, job_id)
        if error is not None:
            return error
    return None


def _translators() -> tuple[Any, ...]:
    return (_from_local, _from_simple_salesforce, _from_zeep, _from_requests, _from_lxml, _from_ca_bundle)


def _from_local(exc: BaseException, context: ErrorContext, call: str, job_id: str | None) -> OrgError | None:
    if isinstance(exc, ResponseFormatError):
        return UnexpectedResponse(context.org, call, context.scrub(str(exc)), job_id=job_id)
    return None


def _from_ca_bundle(exc: BaseException, context: ErrorContext, call: str, job_id: str | None) -> OrgError | None:
    # requests raises a bare OSError when REQUESTS_CA_BUNDLE (or a verify path) names a missing file.
    if isinstance(exc, OSError) and "CA certificate bundle" in str(exc):
        return OrgUnreachable(
            context.org,
            call,
            "the TLS certificate bundle named by REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) does not exist",
            "Point REQUESTS_CA_BUNDLE at an existing PEM file, or unset it to use the system certificates.",
            job_id=job_id,
        )
    return None


def _from_simple_salesforce(
    exc: BaseException, context: ErrorContext, call: str, job_id: str | None
) -> OrgError | None:
    from simple_salesforce import exceptions as sfe

    if isinstance(exc, sfe.SalesforceAuthenticationFailed):
        code = None if exc.code is None else str(exc.code)
        detail = _Detail(status=None, code=code, message=exc.auth_message)
        return _login_failed(detail, context, call)
    if isinstance(exc, sfe.SalesforceError):
        detail = _detail_from_content(exc.status, exc.content)
        by_code = _from_code(detail, context, call, job_id)
        if by_code is not None:
            return by_code
        more_than_one = isinstance(exc, sfe.SalesforceMoreThanOneRecord)
        return _from_status(detail, context, call, job_id, more_than_one=more_than_one)
    if isinstance(exc, sfe.SalesforceOperationError):
        problem = f"a Bulk API 2.0 job failed ({_describe(_Detail(message=str(exc)), context)})"
        hint = "Check the job in Setup > Bulk Data Load Jobs, then rerun."
        return OrgRequestFailed(context.org, call, problem, hint, job_id=job_id)
    return None


def _from_zeep(exc: BaseException, context: ErrorContext, call: str, job_id: str | None) -> OrgError | None:
    from zeep import exceptions as ze

    if isinstance(exc, ze.Fault):
        code = _strip_prefix(exc.code) if exc.code else _code_from_text(exc.message or "")
        detail = _Detail(status=None, code=code, message=exc.message or "")
        by_code = _from_code(detail, context, call, job_id)
        if by_code is not None:
            return by_code
        problem = f"the org returned a SOAP fault ({_describe(detail, context)})"
        return OrgRequestFailed(context.org, call, problem, job_id=job_id)
    if isinstance(exc, ze.TransportError):
        detail = _detail_from_content(exc.status_code or None, exc.content)
        by_code = _from_code(detail, context, call, job_id)
        if by_code is not None:
            return by_code
        return _from_status(detail, context, call, job_id)
    if isinstance(exc, (ze.XMLSyntaxError, ze.XMLParseError, ze.DTDForbidden, ze.EntitiesForbidden,
                        ze.ExternalReferenceForbidden)):
        problem = f"the reply is not valid XML ({_describe(_Detail(message=str(exc.message)), context)})"
        return UnexpectedResponse(context.org, call, problem, job_id=job_id)
    if isinstance(exc, ze.LookupError):
        problem = f"simple-salesforce's bundled WSDL does not define the type ({context.scrub(str(exc.message))})"
        return UnsupportedMetadataType(context.org, call, problem, job_id=job_id)
    if isinstance(exc, ze.Error):
        problem = f"the SOAP client failed ({context.scrub(str(exc.message))[:_MAX_DETAIL_CHARS]})"
        return OrgRequestFailed(context.org, call, problem, BUG_HINT, job_id=job_id)
    return None


def _from_requests(exc: BaseException, context: ErrorContext, call: str, job_id: str | None) -> OrgError | None:
    import requests

    errors = requests.exceptions
    if not isinstance(exc, errors.RequestException):
        return None
    if isinstance(exc, errors.JSONDecodeError):
        problem = "the reply is not valid JSON"
        return UnexpectedResponse(context.org, call, problem, job_id=job_id)
    if isinstance(exc, (errors.ProxyError, errors.InvalidProxyURL)):
        problem = "the HTTPS proxy failed or its URL is not valid"
        hint = "Check the HTTPS_PROXY and NO_PROXY environment variables, then rerun."
        return OrgUnreachable(context.org, call, problem, hint, job_id=job_id, retryable=False)
    if isinstance(exc, errors.SSLError):
        problem = "the TLS handshake failed (the server certificate could not be verified)"
        hint = (
            "Check the org URL. Behind a TLS-inspecting proxy, point REQUESTS_CA_BUNDLE at the "
            "proxy's CA certificate file."
        )
        return OrgUnreachable(context.org, call, problem, hint, job_id=job_id, retryable=False)
    if isinstance(exc, errors.Timeout):
        problem = "the org did not answer in time"
        hint = "Check the network connection and rerun."
        return OrgUnreachable(context.org, call, problem, hint, job_id=job_id, retryable=True)
    if isinstance(exc, errors.ConnectionError):
        problem = "the connection failed or was closed by the server"
        return OrgUnreachable(context.org, call, problem, job_id=job_id, retryable=True)
    if isinstance(exc, (errors.InvalidURL, errors.MissingSchema, errors.InvalidSchema)):
        problem = "the org URL is not a valid https:// URL"
        hint = "Pass the org's URL in the form https://MyDomain.my.salesforce.com."
        return InvalidConnectOptions(context.org, call, problem, hint, job_id=job_id)
    problem = f"the HTTP request failed ({type(exc).__name__})"
    return OrgUnreachable(context.org, call, problem, job_id=job_id, retryable=True)


def _from_lxml(exc: BaseException, context: ErrorContext, call: str, job_id: str | None) -> OrgError | None:
    from lxml import etree

    if isinstance(exc, etree.XMLSyntaxError):
        problem = f"the reply is not valid XML ({context.scrub(exc.msg or str(exc))[:_MAX_DETAIL_CHARS]})"
        return UnexpectedResponse(context.org, call, problem, job_id=job_id)
    return None


# Fault and error codes (SOAP faultcode, REST errorCode) mapped to an error class.
_SESSION_CODES = frozenset({"INVALID_SESSION_ID", "INVALID_AUTH_HEADER"})
_ACCESS_CODES = frozenset(
    {
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "INSUFFICIENT_PRIVILEGES",
    }
)
_API_DISABLED_CODES = frozenset({"API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"})
_VERSION_CODES = frozenset({"UNSUPPORTED_API_VERSION", "INVALID_TYPE"})


def _from_code(detail: _Detail, context: ErrorContext, call: str, job_id: str | None) -> OrgError | None:
    code = detail.code
    if code is None:
        return None
    described = _describe(detail, context)
    if code in _SESSION_CODES:
        problem = f"the session is expired or not valid ({described})"
        return SessionExpired(context.org, call, problem, context.session_hint(), job_id=job_id)
    if code == "REQUEST_LIMIT_EXCEEDED":
        problem = f"the org refused the request because an API limit is used up ({described})"
        hint = CONCURRENT_LIMIT_HINT if "ConcurrentPerOrg" in detail.message else REQUEST_LIMIT_HINT
        return RequestLimitExceeded(context.org, call, problem, hint, job_id=job_id)
    if code in _ACCESS_CODES:
        problem = f"the user lacks a permission the call needs ({described})"
        return AccessDenied(context.org, call, problem, job_id=job_id)
    if code in _API_DISABLED_CODES:
        problem = f"API access is not enabled for the user or org ({described})"
        return AccessDenied(context.org, call, problem, API_ACCESS_HINT, job_id=job_id)
    if code in _VERSION_CODES:
        return _version_error(detail, context, call, job_id)
    if code == "UNKNOWN_EXCEPTION":
        problem = f"the org reported an internal error ({described})"
        return OrgRequestFailed(context.org, call, problem, job_id=job_id, retryable=True)
    return None


def _version_error(detail: _Detail, context: ErrorContext, call: str, job_id: str | None) -> OrgError:
    described = _describe(detail, context)
    if _version_tuple(context.api_version) < _version_tuple(RECOMMENDED_API_VERSION):
        problem = f"API version {context.api_version} does not know the requested type ({described})"
        return ApiVersionTooLow(context.org, call, problem, job_id=job_id)
    # NOTE: the fault a real org sends for a version above its maximum is unconfirmed;
    # UNSUPPORTED_API_VERSION is assumed here.
    if detail.code == "UNSUPPORTED_API_VERSION":
        problem = f"the org does not support API version {context.api_version} ({described})"
        return ApiVersionUnsupported(context.org, call, problem, job_id=job_id)
    problem = f"the org does not know the requested metadata type at API version {context.api_version} ({described})"
    hint = (
        "Check that External Client Apps are turned on in Setup > External Client App Settings; "
        "if they are, try a later --api-version."
    )
    return ApiVersionTooLow(context.org, call, problem, hint, job_id=job_id)


def _from_status(
    detail: _Detail,
    context: ErrorContext,
    call: str,
    job_id: str | None,
    *,
    more_than_one: bool = False,
) -> OrgError:
    described = _describe(detail, context)
    status = detail.status
    if more_than_one:
        problem = f"more than one record matched ({described})"
        hint = "Name the record by its id or full name so that exactly one matches, then rerun."
        return OrgRequestFailed(context.org, call, problem, hint, job_id=job_id)
    if status == 401:
        problem = f"the session is expired or not valid ({described})"
        return SessionExpired(context.org, call, problem, context.session_hint(), job_id=job_id)
    if status == 403:
        problem = f"the org refused the request ({described})"
        return AccessDenied(context.org, call, problem, job_id=job_id)
    if status == 404:
        problem = f"the org has no such resource ({described})"
        hint = (
            f"Check that the instance URL is the org's URL and that the org supports API version "
            f"{context.api_version}; pass a lower --api-version ({RECOMMENDED_API_VERSION} or later) if not."
        )
        return OrgRequestFailed(context.org, call, problem, hint, job_id=job_id)
    if status == 400:
        problem = f"the org rejected the request as malformed ({described})"
        return OrgRequestFailed(context.org, call, problem, BUG_HINT, job_id=job_id)
    if status is not None and status >= 500:
        problem = f"the org returned HTTP {status} ({described})"
        return OrgRequestFailed(context.org, call, problem, job_id=job_id, retryable=True)
    problem = f"the org returned an unexpected reply ({described})"
    return OrgRequestFailed(context.org, call, problem, job_id=job_id)


def _login_failed(detail: _Detail, context: ErrorContext, call: str) -> OrgError:
    code = detail.code or ""
    message = detail.message.lower()
    if "approved" in message:
        hint = (
            "Pre-authorize the user: set the app's permitted users to admin-approved and give the "
            "user's profile or a permission set access to the app."
        )
    elif "client credentials user" in message or "run-as" in message or "execution user" in message:
        hint = "Set a Run As user for the client credentials flow in the app's OAuth policies."
    elif code == "invalid_client_credentials" or "invalid client credentials" in message or "secret" in message:
        hint = "Check the consumer secret in SF_CLIENT_SECRET."
    elif code in {"invalid_client_id", "invalid_client"} or "app not installed" in message:
        hint = (
            "Check the client id (consumer key). A newly created or changed app can take up to "
            "30 minutes to be usable."
        )
    elif code == "invalid_grant":
        hint = (
            "Check the username, that the certificate uploaded to the app matches the private key, "
            "and the login URL (https://test.salesforce.com for sandboxes)."
        )
    elif code.startswith("INVALID_LOGIN") or code.startswith("LOGIN_"):
        hint = "Check the username, password and security token, and the login URL."
    else:
        hint = LoginFailed.default_hint
    problem = f"the login was rejected ({_describe(detail, context)})"
    return LoginFailed(context.org, call, problem, hint)


def _detail_from_content(status: int | None, content: Any) -> _Detail:
    """Extract the error code and message from a REST, OAuth or SOAP error body."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if isinstance(content, str):
        stripped = content.strip()
        if stripped.startswith(("[", "{")):
            try:
                content = json.loads(stripped)
            except ValueError:
                pass
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return _Detail(status, _text_or_none(first.get("errorCode")), str(first.get("message") or ""))
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        return _Detail(status, _text_or_none(code), str(message))
    if isinstance(content, str):
        return _detail_from_text(status, content)
    return _Detail(status, None, "")


def _detail_from_text(status: int | None, text: str) -> _Detail:
    fault_code = re.search(r"<faultcode>\s*([^<\s]+)\s*</faultcode>", text)
    fault_string = re.search(r"<faultstring>(.*?)</faultstring>", text, re.DOTALL)
    if fault_code:
        message = _unescape(fault_string.group(1).strip()) if fault_string else ""
        return _Detail(status, _strip_prefix(fault_code.group(1)), message)
    exception_code = re.search(r"<sf:exceptionCode>\s*([^<\s]+)\s*</sf:exceptionCode>", text)
    if exception_code:
        exception_message = re.search(r"<sf:exceptionMessage>(.*?)</sf:exceptionMessage>", text, re.DOTALL)
        message = _unescape(exception_message.group(1).strip()) if exception_message else ""
        return _Detail(status, exception_code.group(1), message)
    if "<html" in text[:500].lower():
        return _Detail(status, None, "an HTML page")
    return _Detail(status, None, " ".join(text.split()))


def _describe(detail: _Detail, context: ErrorContext) -> str:
    """Render a detail as 'CODE: message', scrubbed of secrets and cut to a readable length."""
    message = context.scrub(detail.message or "")
    if detail.code and message and not message.startswith(detail.code):
        text = f"{detail.code}: {message}"
    else:
        text = message or detail.code or "no details in the reply"
    if detail.status is not None and not detail.code and detail.status >= 300:
        text = f"HTTP {detail.status}: {text}"
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 3] + "..."
    return text


def _code_from_text(text: str) -> str | None:
    match = re.match(r"\s*([A-Z][A-Z_]+):", text)
    return match.group(1) if match else None


def _strip_prefix(code: str) -> str:
    return code.rsplit(":", 1)[-1]


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)
