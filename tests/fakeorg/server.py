"""HTTPS server of the fake org: TLS setup, routing, fault injection and the call log."""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trustme
from lxml import etree
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server as werkzeug_make_server
from werkzeug.wrappers import Request, Response

from . import auth, mdapi, rest
from .org import SOAP_CALLS, Call, Fault

if TYPE_CHECKING:
    from .org import FakeOrg

log = logging.getLogger(__name__)

_SOAP_METADATA_PATH = re.compile(r"^/services/Soap/m/(?P<version>\d+\.\d)(?:/.*)?$")
_SOAP_LOGIN_PATH = re.compile(r"^/services/Soap/[uc]/(?P<version>\d+\.\d)/?$")
_PARTNER_NS = "urn:partner.soap.sforce.com"
_PARTNER_FAULT_NS = "urn:fault.partner.soap.sforce.com"
# SOAP login() is unavailable from API 65.0 on.
_FIRST_VERSION_WITHOUT_SOAP_LOGIN = 65.0
_GENERIC_FAULTS = ("expired_session", "server_error", "request_limit", "dropped_connection")
_MAX_BODY_BYTES = 64 * 1024 * 1024


class _DropConnection(ConnectionError):
    """Raised to close the client socket without sending a response."""


class _QuietHandler(WSGIRequestHandler):
    """Request handler that sends werkzeug's access log to nowhere and its errors to our logger."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            log.warning("fake org server: " + message, *args)


def make_server(org: "FakeOrg", port: int, workdir: Path) -> tuple[BaseWSGIServer, str]:
    """Create a throwaway CA, a certificate for 127.0.0.1, and a threaded HTTPS server bound to 127.0.0.1."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(context)
    ca_path = workdir / "fake-org-ca.pem"
    authority.cert_pem.write_to_path(str(ca_path))
    server = werkzeug_make_server(
        "127.0.0.1",
        port,
        FakeOrgApp(org),
        threaded=True,
        request_handler=_QuietHandler,
        ssl_context=context,
    )
    return server, str(ca_path)


class FakeOrgApp:
    """WSGI application that routes requests to the token, REST and Metadata API handlers."""

    def __init__(self, org: "FakeOrg"):
        self.org = org

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = _MAX_BODY_BYTES
        try:
            response = self._route(request)
        except _DropConnection:
            _close_socket(environ)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must reach the test, not kill the thread
            message = "".join(traceback.format_exception(exc))
            log.error("fake org failed on %s %s:\n%s", request.method, request.path, message)
            self.org.server_errors.append(f"{request.method} {request.path}: {message}")
            response = Response(f"fake org internal error: {exc}", status=500, content_type="text/plain")
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if _SOAP_METADATA_PATH.match(path):
            return self._metadata(request)
        if path.startswith("/services/Soap/"):
            return self._soap_login(request)
        if path.rstrip("/") == "/services/oauth2/token":
            return self._token(request)
        return self._rest(request)

    # ----- Metadata API -------------------------------------------------------------

    def _metadata(self, request: Request) -> Response:
        version = float(_SOAP_METADATA_PATH.match(request.path).group("version"))
        try:
            operation, session_id = mdapi.parse_envelope(request.get_data())
        except mdapi.SoapFault as fault:
            self._log_call("soap", "", (), request.path, 500, detail=fault.code)
            return _soap_fault_response(fault.code, fault.message)
        name = mdapi.operation_name(operation)
        types = _call_types(self.org, operation)

        fault = self.org.take_fault(name, _GENERIC_FAULTS) if name in SOAP_CALLS else None
        if fault is not None:
            return self._injected_soap_fault(fault, name, types, request.path)
        if self.org.user_for_token(session_id) is None:
            self._log_call(name, name, types, request.path, 500, detail="INVALID_SESSION_ID")
            return _soap_fault_response("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        try:
            payload = mdapi.dispatch(self.org, operation, version)
        except mdapi.SoapFault as soap_fault:
            self._log_call(name, name, types, request.path, 500, detail=soap_fault.code)
            return _soap_fault_response(soap_fault.code, soap_fault.message)
        if name in ("deploy", "retrieve"):
            job = self.org.job(payload.findtext(f"{{{mdapi.MD_NS}}}result/{{{mdapi.MD_NS}}}id") or "")
            types = job.types if job is not None else types
        self._log_call(name, name, types, request.path, 200)
        return Response(mdapi.envelope(payload), status=200, content_type="text/xml; charset=utf-8")

    def _injected_soap_fault(self, fault: Fault, name: str, types: tuple[str, ...], path: str) -> Response:
        if fault.kind == "dropped_connection":
            self._log_call(name, name, types, path, None, fault=fault.kind)
            raise _DropConnection("injected dropped connection")
        status = int(fault.options.get("status", 500)) if fault.kind == "server_error" else 500
        self._log_call(name, name, types, path, status, fault=fault.kind)
        code, message = {
            "expired_session": ("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"),
            "request_limit": ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            "server_error": ("UNKNOWN_EXCEPTION", "An unexpected error occurred (injected by the fake org)."),
        }[fault.kind]
        return _soap_fault_response(code, message, status)

    def _soap_login(self, request: Request) -> Response:
        """Handle SOAP partner login() for users registered with register_password()."""
        match = _SOAP_LOGIN_PATH.match(request.path)
        fault = self.org.take_fault("token")
        if fault is not None:
            self._log_call("token", "login", (), request.path, None if fault.kind == "dropped_connection" else 500,
                           fault=fault.kind, detail="soap login")
            if fault.kind == "dropped_connection":
                raise _DropConnection("injected dropped connection")
            return _login_fault("UNKNOWN_EXCEPTION", "An unexpected error occurred (injected by the fake org).")
        if match is None:
            self._log_call("token", "login", (), request.path, 404, detail="soap login")
            return _login_fault("INVALID_OPERATION", f"The fake org serves no SOAP API at {request.path}")
        version = float(match.group("version"))
        if version >= _FIRST_VERSION_WITHOUT_SOAP_LOGIN:
            self._log_call("token", "login", (), request.path, 500, detail="soap login")
            return _login_fault("INVALID_OPERATION", f"SOAP API login() is not available at API version {version:.1f} and later")
        try:
            login = etree.fromstring(request.get_data(), mdapi._PARSER)
        except etree.XMLSyntaxError:
            login = etree.Element("invalid")
        username = _partner_text(login, "username")
        password = _partner_text(login, "password")
        if not self.org.check_password(username, password):
            self._log_call("token", "login", (), request.path, 500, detail="soap login INVALID_LOGIN")
            return _login_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        self._log_call("token", "login", (), request.path, 200, detail="soap login")
        return _login_response(self.org, username, version)

    # ----- OAuth --------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        detail = f"grant_type={form.get('grant_type', '')}"
        fault = self.org.take_fault("token")
        if fault is not None:
            if fault.kind == "dropped_connection":
                self._log_call("token", request.method, (), request.path, None, fault=fault.kind, detail=detail)
                raise _DropConnection("injected dropped connection")
            status = int(fault.options.get("status", 500))
            self._log_call("token", request.method, (), request.path, status, fault=fault.kind, detail=detail)
            return _json_response(status, {"error": "server_error", "error_description": "injected by the fake org"})
        if request.method != "POST":
            self._log_call("token", request.method, (), request.path, 405, detail=detail)
            return _json_response(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        try:
            body, client_id = auth.issue(self.org, form, request.headers.get("Authorization"))
        except auth.OAuthError as exc:
            self._log_call("token", request.method, (), request.path, exc.status, detail=f"{detail} error={exc.error}")
            return _json_response(exc.status, {"error": exc.error, "error_description": exc.description})
        self._log_call("token", request.method, (), request.path, 200, detail=f"{detail} client_id={client_id}")
        return _json_response(200, body)

    # ----- REST ---------------------------------------------------------------------

    def _rest(self, request: Request) -> Response:
        detail = request.args.get("q", "")
        fault = self.org.take_fault("rest")
        if fault is not None:
            return self._injected_rest_fault(fault, request, detail)
        user = self.org.user_for_token(_bearer_token(request.headers.get("Authorization")))
        try:
            status, body = rest.handle(self.org, request.method, request.path, request.args.to_dict(), user)
        except rest.RestError as exc:
            self._log_call("rest", request.method, (), request.path, exc.status, detail=detail)
            return _json_response(exc.status, exc.body())
        self._log_call("rest", request.method, (), request.path, status, detail=detail)
        response = _json_response(status, body)
        used = len([c for c in self.org.calls if c.name == "rest"])
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{rest.API_LIMIT}"
        return response

    def _injected_rest_fault(self, fault: Fault, request: Request, detail: str) -> Response:
        if fault.kind == "dropped_connection":
            self._log_call("rest", request.method, (), request.path, None, fault=fault.kind, detail=detail)
            raise _DropConnection("injected dropped connection")
        error = {
            "expired_session": rest.RestError(401, "INVALID_SESSION_ID", "Session expired or invalid"),
            "request_limit": rest.RestError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            "server_error": rest.RestError(
                int(fault.options.get("status", 500)), "UNKNOWN_EXCEPTION", "An unexpected error occurred (injected by the fake org)."
            ),
        }[fault.kind]
        self._log_call("rest", request.method, (), request.path, error.status, fault=fault.kind, detail=detail)
        return _json_response(error.status, error.body())

    def _log_call(
        self,
        name: str,
        operation: str,
        types: tuple[str, ...],
        path: str,
        status: int | None,
        fault: str | None = None,
        detail: str = "",
    ) -> None:
        self.org.record(Call(name, operation, tuple(types), path, status, fault, detail))
        if status is None or status >= 400:
            outcome = "dropped the connection" if status is None else f"returned HTTP {status}"
            log.info("fake org %s for %s %s (fault=%s, detail=%s)", outcome, name, path, fault, detail)


def _call_types(org: "FakeOrg", operation: etree._Element) -> tuple[str, ...]:
    name = mdapi.operation_name(operation)
    if name in ("checkDeployStatus", "checkRetrieveStatus"):
        job = org.job(mdapi._text(operation, "asyncProcessId") or "")
        return job.types if job is not None else ()
    return mdapi.request_types(operation)


def _partner_text(envelope: etree._Element, name: str) -> str:
    for node in envelope.iter():
        if isinstance(node.tag, str) and etree.QName(node).localname == name:
            return node.text or ""
    return ""


def _login_response(org: "FakeOrg", username: str, version: float) -> Response:
    user = next(u for u in org.users() if u.username == username)
    token = org.issue_token(username)
    root = etree.Element(f"{{{mdapi.SOAPENV_NS}}}Envelope", nsmap={"soapenv": mdapi.SOAPENV_NS, None: _PARTNER_NS})
    response = etree.SubElement(etree.SubElement(root, f"{{{mdapi.SOAPENV_NS}}}Body"), f"{{{_PARTNER_NS}}}loginResponse")
    result = etree.SubElement(response, f"{{{_PARTNER_NS}}}result")
    values = [
        ("metadataServerUrl", f"{org.instance_url}/services/Soap/m/{version:.1f}/{org.org_id}"),
        ("passwordExpired", "false"),
        ("sandbox", "true" if org.is_sandbox else "false"),
        ("serverUrl", f"{org.instance_url}/services/Soap/u/{version:.1f}/{org.org_id}"),
        ("sessionId", token),
        ("userId", user.id),
    ]
    for name, value in values:
        etree.SubElement(result, f"{{{_PARTNER_NS}}}{name}").text = value
    info = etree.SubElement(result, f"{{{_PARTNER_NS}}}userInfo")
    for name, value in (("organizationId", org.org_id), ("userId", user.id), ("userName", user.username)):
        etree.SubElement(info, f"{{{_PARTNER_NS}}}{name}").text = value
    return Response(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), status=200, content_type="text/xml; charset=utf-8")


def _login_fault(code: str, message: str) -> Response:
    """Build the partner API LoginFault. simple-salesforce reads `sf:exceptionCode` by its literal prefix."""
    root = etree.Element(f"{{{mdapi.SOAPENV_NS}}}Envelope", nsmap={"soapenv": mdapi.SOAPENV_NS, "sf": _PARTNER_FAULT_NS})
    fault = etree.SubElement(etree.SubElement(root, f"{{{mdapi.SOAPENV_NS}}}Body"), f"{{{mdapi.SOAPENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"sf:{code}"
    etree.SubElement(fault, "faultstring").text = f"{code}: {message}"
    login_fault = etree.SubElement(etree.SubElement(fault, "detail"), f"{{{_PARTNER_FAULT_NS}}}LoginFault")
    etree.SubElement(login_fault, f"{{{_PARTNER_FAULT_NS}}}exceptionCode").text = code
    etree.SubElement(login_fault, f"{{{_PARTNER_FAULT_NS}}}exceptionMessage").text = message
    return Response(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), status=500, content_type="text/xml")


def _bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else None


def _json_response(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json;charset=UTF-8")


def _soap_fault_response(code: str, message: str, status: int = 500) -> Response:
    return Response(mdapi.fault_envelope(code, message), status=status, content_type="text/xml; charset=utf-8")


def _close_socket(environ: dict[str, Any]) -> None:
    """Close the client connection so the client sees it dropped with no response."""
    connection = environ.get("werkzeug.socket")
    if connection is None:
        return
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()
