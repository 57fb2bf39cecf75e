"""Metadata API SOAP messages: request envelopes and the parsed results.

The envelopes are built here instead of through simple-salesforce's helpers because
those helpers (1.12.10) do not escape member names, send the ``types`` inside
``unpackaged`` without a namespace, and drop ``fullName``, ``success`` and the
job-level ``errorMessage`` from deploy results. Requests go out on simple-salesforce's
HTTP session, so its TLS and proxy settings apply.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from migrate.org.errors import ResponseFormatError

MD_NS = "http://soap.sforce.com/2006/04/metadata"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

CLIENT_NAME = "sfeca-migrate"

# huge_tree lifts lxml's 10 MB limit on one text node, which a base64 zipFile can exceed.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

# The TestLevel values in the Metadata API WSDL (API 63.0).
TEST_LEVELS = frozenset({"NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg"})


@dataclass(frozen=True)
class FileProperties:
    """One component as listMetadata reports it."""

    type: str
    full_name: str
    file_name: str
    id: str | None = None
    namespace_prefix: str | None = None
    manageable_state: str | None = None
    created_by_name: str | None = None
    created_date: str | None = None
    last_modified_by_name: str | None = None
    last_modified_date: str | None = None


@dataclass(frozen=True)
class AsyncResult:
    """The job id and state returned when a deploy or retrieve starts."""

    id: str
    state: str | None
    done: bool


@dataclass(frozen=True)
class RetrieveMessage:
    """A per-file problem in a retrieve result, such as a component that was not found."""

    file_name: str
    problem: str


@dataclass(frozen=True)
class RetrieveStatus:
    """A checkRetrieveStatus result. ``zip_file`` is set only when the zip was requested and the job is done."""

    id: str
    status: str
    done: bool
    success: bool
    error_message: str | None
    error_status_code: str | None
    messages: tuple[RetrieveMessage, ...]
    zip_file: bytes | None


@dataclass(frozen=True)
class ComponentFailure:
    """A component that failed to deploy or validate."""

    component_type: str
    full_name: str
    file_name: str
    problem: str
    problem_type: str = "Error"
    line_number: int | None = None
    column_number: int | None = None

    def describe(self) -> str:
        where = self.file_name
        if self.line_number is not None:
            where += f":{self.line_number}"
            if self.column_number is not None:
                where += f":{self.column_number}"
        kind = self.component_type or "file"
        return f"{kind} {self.full_name} ({where}): {self.problem}"


@dataclass(frozen=True)
class TestFailure:
    """An Apex test method that failed during a deploy."""

    __test__ = False  # keeps pytest from collecting this class as a test

    class_name: str
    method_name: str
    message: str


@dataclass(frozen=True)
class DeployResult:
    """A checkDeployStatus result (or the last one when the deploy finished).

    ``success`` is the API's own verdict. ``status`` is one of Pending, InProgress,
    Succeeded, SucceededPartial, Failed, Canceling and Canceled.
    """

    id: str
    status: str
    done: bool
    success: bool
    check_only: bool
    state_detail: str | None
    number_components_total: int
    number_components_deployed: int
    number_component_errors: int
    number_tests_total: int
    number_tests_completed: int
    number_test_errors: int
    component_failures: tuple[ComponentFailure, ...]
    test_failures: tuple[TestFailure, ...]
    error_message: str | None
    error_status_code: str | None

    def failure_summary(self) -> str:
        """Describe why the deploy failed, in one line per cause, or return "" when it succeeded."""
        if self.success:
            return ""
        lines = [failure.describe() for failure in self.component_failures]
        lines += [f"test {f.class_name}.{f.method_name}: {f.message}" for f in self.test_failures]
        if self.error_message:
            code = f"{self.error_status_code}: " if self.error_status_code else ""
            lines.append(f"{code}{self.error_message}")
        if not lines:
            lines.append(f"status {self.status} with no details")
        return "\n".join(lines)


@dataclass(frozen=True)
class DeployOptions:
    """The DeployOptions sent with a deploy. The tool always rolls back on error."""

    check_only: bool
    test_level: str | None = None
    run_tests: tuple[str, ...] = ()
    rollback_on_error: bool = True

    def __post_init__(self) -> None:
        if self.test_level is not None and self.test_level not in TEST_LEVELS:
            allowed = ", ".join(sorted(TEST_LEVELS))
            raise ValueError(f"test level {self.test_level!r} is not one of {allowed}")
        if self.run_tests and self.test_level != "RunSpecifiedTests":
            raise ValueError("tests can only be named with the test level RunSpecifiedTests")
        if self.test_level == "RunSpecifiedTests" and not self.run_tests:
            raise ValueError("the test level RunSpecifiedTests needs at least one test class")


FINISHED_DEPLOY_STATES = frozenset({"Succeeded", "SucceededPartial", "Failed", "Canceled"})


# ---------------------------------------------------------------------------
# Requests


def _md(tag: str) -> str:
    return f"{{{MD_NS}}}{tag}"


def _envelope(session_id: str, operation: str) -> tuple[etree._Element, etree._Element]:
    """Build an envelope with the session header and return it with its empty operation element."""
    nsmap = {"soapenv": SOAP_NS, "met": MD_NS}
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(envelope, f"{{{SOAP_NS}}}Header")
    call_options = etree.SubElement(header, _md("CallOptions"))
    etree.SubElement(call_options, _md("client")).text = CLIENT_NAME
    session_header = etree.SubElement(header, _md("SessionHeader"))
    etree.SubElement(session_header, _md("sessionId")).text = session_id
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    return envelope, etree.SubElement(body, _md(operation))


def _add(parent: etree._Element, tag: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, _md(tag))
    child.text = text
    return child


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def list_metadata_request(session_id: str, types: Sequence[str], api_version: str) -> bytes:
    """Build a listMetadata request for up to three types (the API's limit per call)."""
    if not 1 <= len(types) <= 3:
        raise ValueError(f"listMetadata takes 1 to 3 types per call, got {len(types)}")
    envelope, operation = _envelope(session_id, "listMetadata")
    for type_name in types:
        query = etree.SubElement(operation, _md("queries"))
        _add(query, "type", type_name)
    _add(operation, "asOfVersion", api_version)
    return _serialize(envelope)


def retrieve_request(session_id: str, members: Mapping[str, Iterable[str]], api_version: str) -> bytes:
    """Build an unpackaged, single-package retrieve request for the given type → members."""
    envelope, operation = _envelope(session_id, "retrieve")
    request = etree.SubElement(operation, _md("retrieveRequest"))
    _add(request, "apiVersion", api_version)
    _add(request, "singlePackage", "true")
    unpackaged = etree.SubElement(request, _md("unpackaged"))
    for type_name in sorted(members):
        types = etree.SubElement(unpackaged, _md("types"))
        for member in sorted(set(members[type_name])):
            _add(types, "members", member)
        _add(types, "name", type_name)
    _add(unpackaged, "version", api_version)
    return _serialize(envelope)


def check_retrieve_status_request(session_id: str, job_id: str, *, include_zip: bool) -> bytes:
    envelope, operation = _envelope(session_id, "checkRetrieveStatus")
    _add(operation, "asyncProcessId", job_id)
    _add(operation, "includeZip", _bool(include_zip))
    return _serialize(envelope)


def deploy_request(session_id: str, zip_bytes: bytes, options: DeployOptions) -> bytes:
    """Build a deploy request. Elements follow the WSDL's DeployOptions sequence."""
    envelope, operation = _envelope(session_id, "deploy")
    _add(operation, "ZipFile", base64.b64encode(zip_bytes).decode("ascii"))
    deploy_options = etree.SubElement(operation, _md("DeployOptions"))
    _add(deploy_options, "allowMissingFiles", "false")
    _add(deploy_options, "autoUpdatePackage", "false")
    _add(deploy_options, "checkOnly", _bool(options.check_only))
    _add(deploy_options, "ignoreWarnings", "false")
    _add(deploy_options, "performRetrieve", "false")
    _add(deploy_options, "purgeOnDelete", "false")
    _add(deploy_options, "rollbackOnError", _bool(options.rollback_on_error))
    for test in options.run_tests:
        _add(deploy_options, "runTests", test)
    _add(deploy_options, "singlePackage", "true")
    if options.test_level is not None:
        _add(deploy_options, "testLevel", options.test_level)
    return _serialize(envelope)


def check_deploy_status_request(session_id: str, job_id: str) -> bytes:
    envelope, operation = _envelope(session_id, "checkDeployStatus")
    _add(operation, "asyncProcessId", job_id)
    _add(operation, "includeDetails", "true")
    return _serialize(envelope)


# ---------------------------------------------------------------------------
# Responses


def response_results(content: bytes, operation: str) -> list[etree._Element]:
    """Return the ``result`` elements of ``<operation>Response`` in a SOAP reply.

    Results marked ``xsi:nil="true"`` are left out. Raises ResponseFormatError when the
    reply is not a SOAP envelope with that response element.
    """
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ResponseFormatError(f"the {operation} reply is not valid XML ({exc.msg})") from None
    body = root.find(f"{{{SOAP_NS}}}Body")
    response = body.find(_md(f"{operation}Response")) if body is not None else None
    if response is None:
        raise ResponseFormatError(f"the reply has no {operation}Response element in the Metadata API namespace")
    return [result for result in response.findall(_md("result")) if not _is_nil(result)]


def parse_file_properties(result: etree._Element) -> FileProperties:
    return FileProperties(
        type=_required_text(result, "type"),
        full_name=_required_text(result, "fullName"),
        file_name=_text(result, "fileName") or "",
        id=_text(result, "id"),
        namespace_prefix=_text(result, "namespacePrefix"),
        manageable_state=_text(result, "manageableState"),
        created_by_name=_text(result, "createdByName"),
        created_date=_text(result, "createdDate"),
        last_modified_by_name=_text(result, "lastModifiedByName"),
        last_modified_date=_text(result, "lastModifiedDate"),
    )


def parse_async_result(result: etree._Element) -> AsyncResult:
    return AsyncResult(
        id=_required_text(result, "id"),
        state=_text(result, "state"),
        done=_flag(result, "done"),
    )


def parse_retrieve_status(result: etree._Element) -> RetrieveStatus:
    messages = tuple(
        RetrieveMessage(file_name=_text(message, "fileName") or "", problem=_text(message, "problem") or "")
        for message in result.findall(_md("messages"))
    )
    encoded = _text(result, "zipFile")
    try:
        zip_file = base64.b64decode(encoded, validate=False) if encoded else None
    except ValueError as exc:
        raise ResponseFormatError(f"the retrieve zipFile is not valid base64 ({exc})") from None
    status = _text(result, "status") or "Pending"
    return RetrieveStatus(
        id=_required_text(result, "id"),
        status=status,
        done=_flag(result, "done") or status in {"Succeeded", "Failed"},
        success=_flag(result, "success", default=status == "Succeeded"),
        error_message=_text(result, "errorMessage"),
        error_status_code=_text(result, "errorStatusCode"),
        messages=messages,
        zip_file=zip_file,
    )


def parse_deploy_result(result: etree._Element) -> DeployResult:
    details = result.find(_md("details"))
    failures: tuple[ComponentFailure, ...] = ()
    test_failures: tuple[TestFailure, ...] = ()
    if details is not None:
        failures = tuple(_component_failure(item) for item in details.findall(_md("componentFailures")))
        run_test_result = details.find(_md("runTestResult"))
        if run_test_result is not None:
            test_failures = tuple(_test_failure(item) for item in run_test_result.findall(_md("failures")))
    status = _text(result, "status") or "Pending"
    return DeployResult(
        id=_required_text(result, "id"),
        status=status,
        # A final status is final even in a reply that omits done or sends false.
        done=_flag(result, "done") or status in FINISHED_DEPLOY_STATES,
        success=_flag(result, "success", default=status == "Succeeded"),
        check_only=_flag(result, "checkOnly"),
        state_detail=_text(result, "stateDetail"),
        number_components_total=_count(result, "numberComponentsTotal"),
        number_components_deployed=_count(result, "numberComponentsDeployed"),
        number_component_errors=_count(result, "numberComponentErrors"),
        number_tests_total=_count(result, "numberTestsTotal"),
        number_tests_completed=_count(result, "numberTestsCompleted"),
        number_test_errors=_count(result, "numberTestErrors"),
        component_failures=failures,
        test_failures=test_failures,
        error_message=_text(result, "errorMessage"),
        error_status_code=_text(result, "errorStatusCode"),
    )


def _component_failure(element: etree._Element) -> ComponentFailure:
    return ComponentFailure(
        component_type=_text(element, "componentType") or "",
        full_name=_text(element, "fullName") or "",
        file_name=_text(element, "fileName") or "",
        problem=_text(element, "problem") or "",
        problem_type=_text(element, "problemType") or "Error",
        line_number=_optional_int(element, "lineNumber"),
        column_number=_optional_int(element, "columnNumber"),
    )


def _test_failure(element: etree._Element) -> TestFailure:
    return TestFailure(
        class_name=_text(element, "name") or "",
        method_name=_text(element, "methodName") or "",
        message=_text(element, "message") or "",
    )


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI_NS}}}nil") in {"true", "1"}


def _text(element: etree._Element, tag: str) -> str | None:
    child = element.find(_md(tag))
    if child is None or _is_nil(child) or child.text is None:
        return None
    text = child.text.strip()
    return text or None


def _required_text(element: etree._Element, tag: str) -> str:
    text = _text(element, tag)
    if text is None:
        parent = etree.QName(element).localname
        raise ResponseFormatError(f"a {parent} element in the reply has no {tag}")
    return text


def _flag(element: etree._Element, tag: str, *, default: bool = False) -> bool:
    text = _text(element, tag)
    if text is None:
        return default
    return text.lower() in {"true", "1"}


def _count(element: etree._Element, tag: str) -> int:
    return _optional_int(element, tag) or 0


def _optional_int(element: etree._Element, tag: str) -> int | None:
    text = _text(element, tag)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ResponseFormatError(f"{tag} in the reply is not a number: {text[:40]!r}") from None
