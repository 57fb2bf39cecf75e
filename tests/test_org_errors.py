"""Translation of simple-salesforce, zeep, requests and SOAP fault errors into OrgError."""

from __future__ import annotations

import inspect
import pickle

import pytest
import requests
import simple_salesforce.exceptions as sf_exceptions
import zeep.exceptions as zeep_exceptions
from lxml import etree

from migrate.errors import SfecaError
from migrate.org.errors import (
    AccessDenied,
    ApiVersionTooLow,
    ApiVersionUnsupported,
    DeployInterrupted,
    ErrorContext,
    InvalidConnectOptions,
    LoginFailed,
    OrgError,
    OrgRequestFailed,
    OrgUnreachable,
    RequestLimitExceeded,
    ResponseFormatError,
    SessionExpired,
    UnexpectedResponse,
    UnsupportedMetadataType,
    translate,
    translate_errors,
)

TOKEN = "00DFAKE000000000001!AQEAQsecretTokenValue_0123456789"
CONTEXT = ErrorContext(org="dev", api_version="64.0", target_org="dev", secrets=(TOKEN,))
URL = "https://example.my.salesforce.com/services/Soap/m/64.0/"
PERMISSION_NAMES = (
    "Create, edit, and delete External Client Apps",
    "View all External Client Apps, view their settings, and edit their policies",
    "Modify Metadata Through Metadata API Functions",
)


def soap_fault(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="http://soap.sforce.com/2006/04/metadata"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def sample_simple_salesforce_error(cls: type[BaseException]) -> BaseException:
    """Build an instance of an exception class exported by simple_salesforce.exceptions."""
    if issubclass(cls, sf_exceptions.SalesforceAuthenticationFailed):
        return cls("invalid_grant", "authentication failure")
    if issubclass(cls, sf_exceptions.SalesforceError):
        status = {
            "SalesforceMoreThanOneRecord": 300,
            "SalesforceMalformedRequest": 400,
            "SalesforceExpiredSession": 401,
            "SalesforceRefusedRequest": 403,
            "SalesforceResourceNotFound": 404,
        }.get(cls.__name__, 500)
        content = [{"errorCode": "SOME_ERROR", "message": f"sample with token {TOKEN}"}]
        return cls(URL, status, "resource", content)
    return cls(f"bulk job failed for session {TOKEN}")


def exported_simple_salesforce_exceptions() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(sf_exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == sf_exceptions.__name__
    ]


ZEEP_AND_REQUESTS_SAMPLES = [
    zeep_exceptions.Fault("INVALID_SESSION_ID: Invalid Session ID found in SessionHeader", code="sf:INVALID_SESSION_ID"),
    zeep_exceptions.Fault("Unknown fault occured"),
    zeep_exceptions.TransportError("Server returned HTTP status 500 (no content available)", status_code=500, content=b""),
    zeep_exceptions.XMLSyntaxError("Invalid XML content received (Start tag expected)"),
    zeep_exceptions.LookupError("No type 'ExternalClientApplication' in namespace"),
    zeep_exceptions.ValidationError("Missing element fullName"),
    requests.exceptions.ConnectionError("Connection reset by peer"),
    requests.exceptions.Timeout("Read timed out."),
    requests.exceptions.SSLError("certificate verify failed"),
    requests.exceptions.RequestException("something went wrong"),
    requests.exceptions.JSONDecodeError("Expecting value", "<html>", 0),
    requests.exceptions.MissingSchema("No scheme supplied"),
    etree.XMLSyntaxError("Start tag expected", None, 1, 1),
    ResponseFormatError("the reply has no listMetadataResponse element"),
]


@pytest.mark.parametrize("cls", exported_simple_salesforce_exceptions(), ids=lambda cls: cls.__name__)
def test_every_simple_salesforce_exception_maps(cls):
    error = translate(sample_simple_salesforce_error(cls), CONTEXT, "listMetadata")

    assert isinstance(error, OrgError)
    assert type(error) is not OrgError
    assert error.hint
    assert error.org == "dev"
    assert error.call == "listMetadata"
    assert TOKEN not in str(error)


def sample_zeep_or_requests_error(cls: type[BaseException]) -> BaseException:
    """Build an instance of an exception class from zeep.exceptions or requests.exceptions."""
    if cls is zeep_exceptions.DTDForbidden:
        return cls("name", "sysid", "pubid")
    if cls is zeep_exceptions.EntitiesForbidden:
        return cls("name", "content")
    if cls is zeep_exceptions.ExternalReferenceForbidden:
        return cls("https://example.com/x.dtd")
    if cls is requests.exceptions.JSONDecodeError:
        return cls("Expecting value", "<html>", 0)
    return cls(f"sample with token {TOKEN}")


def exported_classes(module, base: type[BaseException]) -> list[type[BaseException]]:
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass) if issubclass(cls, base)]


@pytest.mark.parametrize(
    "cls",
    exported_classes(zeep_exceptions, zeep_exceptions.Error)
    + exported_classes(requests.exceptions, requests.exceptions.RequestException),
    ids=lambda cls: f"{cls.__module__}.{cls.__name__}",
)
def test_every_zeep_and_requests_class_maps(cls):
    error = translate(sample_zeep_or_requests_error(cls), CONTEXT, "listMetadata")

    assert isinstance(error, OrgError)
    assert type(error) is not OrgError
    assert error.hint
    assert TOKEN not in str(error)


@pytest.mark.parametrize("exc", ZEEP_AND_REQUESTS_SAMPLES, ids=lambda exc: type(exc).__name__)
def test_every_zeep_and_requests_exception_maps(exc):
    error = translate(exc, CONTEXT, "listMetadata")

    assert isinstance(error, OrgError)
    assert type(error) is not OrgError
    assert error.hint
    assert TOKEN not in str(error)


def test_exported_exception_list_is_not_empty():
    names = {cls.__name__ for cls in exported_simple_salesforce_exceptions()}

    assert {"SalesforceError", "SalesforceExpiredSession", "SalesforceGeneralError"} <= names


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (sf_exceptions.SalesforceExpiredSession(URL, 401, "query", [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]), SessionExpired),
        (sf_exceptions.SalesforceRefusedRequest(URL, 403, "query", [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]), RequestLimitExceeded),
        (sf_exceptions.SalesforceRefusedRequest(URL, 403, "query", [{"errorCode": "INSUFFICIENT_ACCESS", "message": "no"}]), AccessDenied),
        (sf_exceptions.SalesforceRefusedRequest(URL, 403, "query", [{"errorCode": "API_DISABLED_FOR_ORG", "message": "API is not enabled"}]), AccessDenied),
        (sf_exceptions.SalesforceMalformedRequest(URL, 400, "query", [{"errorCode": "INVALID_TYPE", "message": "sObject type is not supported"}]), ApiVersionTooLow),
        (sf_exceptions.SalesforceResourceNotFound(URL, 404, "query", [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]), OrgRequestFailed),
        (sf_exceptions.SalesforceMoreThanOneRecord(URL, 300, "query", [{"errorCode": "MULTIPLE", "message": "two"}]), OrgRequestFailed),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")), SessionExpired),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")), RequestLimitExceeded),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("INSUFFICIENT_ACCESS", "insufficient access rights")), AccessDenied),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")), ApiVersionUnsupported),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("INVALID_TYPE", "Unknown type name")), ApiVersionTooLow),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("UNKNOWN_EXCEPTION", "An unexpected error occurred")), OrgRequestFailed),
        (sf_exceptions.SalesforceGeneralError(URL, 503, "deploy", "<html><body>Down for maintenance</body></html>"), OrgRequestFailed),
        (sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", ""), OrgRequestFailed),
        (sf_exceptions.SalesforceAuthenticationFailed("INVALID_LOGIN", "Invalid username, password, security token"), LoginFailed),
        (zeep_exceptions.Fault("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", code="sf:REQUEST_LIMIT_EXCEEDED"), RequestLimitExceeded),
        (zeep_exceptions.Fault("INSUFFICIENT_ACCESS: no", code="sf:INSUFFICIENT_ACCESS"), AccessDenied),
        (zeep_exceptions.Fault("INVALID_TYPE: Unknown type"), ApiVersionTooLow),
        (zeep_exceptions.TransportError("unauthorized", status_code=401, content=b""), SessionExpired),
        (zeep_exceptions.TransportError("bad gateway", status_code=502, content=b"<html></html>"), OrgRequestFailed),
        (zeep_exceptions.XMLSyntaxError("bad"), UnexpectedResponse),
        (zeep_exceptions.LookupError("No type"), UnsupportedMetadataType),
        (requests.exceptions.SSLError("certificate verify failed"), OrgUnreachable),
        (requests.exceptions.ConnectTimeout("timed out"), OrgUnreachable),
        (requests.exceptions.InvalidURL("bad url"), InvalidConnectOptions),
        (requests.exceptions.ProxyError("proxy refused"), OrgUnreachable),
        (zeep_exceptions.EntitiesForbidden("name", "content"), UnexpectedResponse),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.__name__,
)
def test_translation_picks_class(exc, expected):
    error = translate(exc, CONTEXT, "deploy")

    assert type(error) is expected


def test_session_expired_hint_names_alias():
    exc = zeep_exceptions.Fault("INVALID_SESSION_ID: Invalid Session ID", code="sf:INVALID_SESSION_ID")

    error = translate(exc, CONTEXT, "listMetadata")

    assert "sf org login web --alias dev" in str(error)
    assert "INVALID_SESSION_ID" in str(error)


def test_session_expired_hint_without_alias():
    context = ErrorContext(org="example.my.salesforce.com")
    exc = sf_exceptions.SalesforceExpiredSession(URL, 401, "query", [{"errorCode": "INVALID_SESSION_ID", "message": "x"}])

    error = translate(exc, context, "query")

    assert "sf org login web --alias ALIAS" in error.hint


def test_session_expired_uses_relogin_hint():
    context = ErrorContext(org="host", relogin_hint="Put a fresh access token in SF_ACCESS_TOKEN and rerun.")
    exc = sf_exceptions.SalesforceExpiredSession(URL, 401, "query", [{"errorCode": "INVALID_SESSION_ID", "message": "x"}])

    error = translate(exc, context, "query")

    assert error.hint == "Put a fresh access token in SF_ACCESS_TOKEN and rerun."


def test_access_denied_hint_lists_permissions():
    exc = sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("INSUFFICIENT_ACCESS", "no"))

    error = translate(exc, CONTEXT, "deploy")

    for permission in PERMISSION_NAMES:
        assert permission in str(error)


def test_request_limit_hint_names_window():
    exc = sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))

    error = translate(exc, CONTEXT, "deploy")

    assert "24-hour" in error.hint
    assert "Setup > Company Information" in error.hint


def test_concurrent_limit_has_own_hint():
    exc = sf_exceptions.SalesforceRefusedRequest(
        URL, 403, "query", [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "ConcurrentPerOrgLongTxn Limit exceeded."}]
    )

    error = translate(exc, CONTEXT, "query")

    assert isinstance(error, RequestLimitExceeded)
    assert "Wait a few minutes" in error.hint


def test_api_version_too_low_hint():
    context = ErrorContext(org="dev", api_version="59.0")
    exc = sf_exceptions.SalesforceGeneralError(URL, 500, "listMetadata", soap_fault("INVALID_TYPE", "Unknown type"))

    error = translate(exc, context, "listMetadata")

    assert isinstance(error, ApiVersionTooLow)
    assert "--api-version 64.0 or later" in str(error)
    assert "59.0" in str(error)


def test_unsupported_version_below_minimum_is_too_low():
    context = ErrorContext(org="dev", api_version="58.0")
    exc = sf_exceptions.SalesforceGeneralError(URL, 500, "listMetadata", soap_fault("UNSUPPORTED_API_VERSION", "no"))

    error = translate(exc, context, "listMetadata")

    assert isinstance(error, ApiVersionTooLow)


def test_connection_error_hint():
    error = translate(requests.exceptions.ConnectionError("reset"), CONTEXT, "deploy")

    assert "Check the org URL and the network connection" in str(error)
    assert error.retryable


def test_message_names_org_call_and_job():
    exc = sf_exceptions.SalesforceGeneralError(URL, 500, "checkDeployStatus", soap_fault("UNKNOWN_EXCEPTION", "boom"))

    error = translate(exc, CONTEXT, "checkDeployStatus", job_id="0Af000000000001")

    assert str(error).startswith("checkDeployStatus on org dev (job 0Af000000000001) failed: ")
    assert error.job_id == "0Af000000000001"


@pytest.mark.parametrize(
    "exc",
    [
        sf_exceptions.SalesforceGeneralError(URL, 500, "deploy", soap_fault("UNKNOWN_EXCEPTION", f"echo {TOKEN}")),
        sf_exceptions.SalesforceRefusedRequest(URL, 403, "q", [{"errorCode": "X", "message": f"token {TOKEN}"}]),
        sf_exceptions.SalesforceAuthenticationFailed("invalid_grant", f"bad {TOKEN}"),
        zeep_exceptions.Fault(f"UNKNOWN: {TOKEN}", code="sf:UNKNOWN"),
        zeep_exceptions.Fault("UNKNOWN: 00DAB0000000001!AQEAQotherSessionId", code="sf:UNKNOWN"),
    ],
    ids=["soap-fault", "rest-error", "oauth-error", "zeep-fault", "unknown-session-id"],
)
def test_messages_mask_tokens(exc):
    error = translate(exc, CONTEXT, "deploy")

    assert TOKEN not in str(error)
    assert "AQEAQotherSessionId" not in str(error)
    assert "***" in str(error)


@pytest.mark.parametrize(
    ("code", "description", "phrase"),
    [
        ("invalid_grant", "user hasn't approved this consumer", "Pre-authorize the user"),
        ("invalid_client_id", "client identifier invalid", "up to 30 minutes"),
        ("invalid_client", "invalid client credentials", "consumer secret"),
        ("invalid_grant", "no client credentials user enabled", "Run As user"),
        ("invalid_grant", "invalid assertion", "certificate uploaded to the app"),
        ("INVALID_LOGIN", "Invalid username, password, security token", "security token"),
    ],
)
def test_login_failure_hints(code, description, phrase):
    error = translate(sf_exceptions.SalesforceAuthenticationFailed(code, description), CONTEXT, "login")

    assert isinstance(error, LoginFailed)
    assert phrase in error.hint


def test_unrelated_exception_passes_through():
    assert translate(TypeError("bug"), CONTEXT, "deploy") is None

    with pytest.raises(TypeError):
        with translate_errors(CONTEXT, "deploy"):
            raise TypeError("bug")


def test_translate_errors_chains_cause():
    original = requests.exceptions.ConnectionError("reset")

    with pytest.raises(OrgUnreachable) as caught:
        with translate_errors(CONTEXT, "listMetadata"):
            raise original

    assert caught.value.__cause__ is original


def test_org_error_is_sfeca_error():
    error = SessionExpired("dev", "listMetadata", "the session is expired")

    assert isinstance(error, SfecaError)
    assert error.hint == SessionExpired.default_hint


def test_org_error_survives_pickle():
    error = AccessDenied("dev", "deploy", "no access", job_id="0Af1", retryable=False)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is AccessDenied
    assert str(copy) == str(error)
    assert copy.job_id == "0Af1"


def test_error_context_repr_hides_secrets():
    assert TOKEN not in repr(CONTEXT)


def test_deploy_interrupted_is_keyboard_interrupt():
    interrupt = DeployInterrupted("0Af000000000001", "dev", "dev")

    assert isinstance(interrupt, KeyboardInterrupt)
    assert interrupt.deploy_id == "0Af000000000001"
    assert interrupt.check_command == "sf project deploy report --job-id 0Af000000000001 --target-org dev"
    assert "0Af000000000001" in str(interrupt)
