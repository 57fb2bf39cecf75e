"""The org boundary: the only package that talks to a Salesforce org.

``connect(ConnectOptions(...))`` logs in and returns an ``OrgSession`` with
``list_metadata``, ``retrieve``, ``find_oauth_policy`` and ``deploy``. Every failure
is an ``OrgError`` subclass from ``migrate.org.errors``. Importing this package does
not import simple-salesforce, zeep or requests; ``connect`` does.
"""

from migrate.org.connect import AuthMethod, ConnectOptions, connect, select_auth_method
from migrate.org.errors import (
    AccessDenied,
    AmbiguousComponent,
    ApiVersionTooLow,
    ApiVersionUnsupported,
    DeployFailed,
    DeployInterrupted,
    InvalidConnectOptions,
    LoginFailed,
    OrgError,
    OrgRequestFailed,
    OrgUnreachable,
    PollTimedOut,
    RequestLimitExceeded,
    RetrieveFailed,
    SalesforceCliError,
    SessionExpired,
    UnexpectedResponse,
    UnsupportedMetadataType,
)
from migrate.org.metadata_api import ComponentFailure, DeployResult, FileProperties, TestFailure
from migrate.org.session import OrgSession, PollSettings

__all__ = [
    "AccessDenied",
    "AmbiguousComponent",
    "ApiVersionTooLow",
    "ApiVersionUnsupported",
    "AuthMethod",
    "ComponentFailure",
    "ConnectOptions",
    "DeployFailed",
    "DeployInterrupted",
    "DeployResult",
    "FileProperties",
    "InvalidConnectOptions",
    "LoginFailed",
    "OrgError",
    "OrgRequestFailed",
    "OrgSession",
    "OrgUnreachable",
    "PollSettings",
    "PollTimedOut",
    "RequestLimitExceeded",
    "RetrieveFailed",
    "SalesforceCliError",
    "SessionExpired",
    "TestFailure",
    "UnexpectedResponse",
    "UnsupportedMetadataType",
    "connect",
    "select_auth_method",
]
