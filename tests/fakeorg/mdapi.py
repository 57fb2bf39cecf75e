"""SOAP Metadata API: envelope parsing, operations and response shapes.

Requests are dispatched on the first child of soapenv:Body, never on the URL
or SOAPAction, because simple-salesforce posts deploy and retrieve calls to
`.../deployRequest[/<id>]` and zeep posts everything to `.../Soap/m/<ver>/`.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Callable

from lxml import etree

from . import components, deploy, registry
from .components import md
from .org import now_iso
from .registry import MD_NS

if TYPE_CHECKING:
    from .org import FakeOrg

SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Documented per-call limits of the Metadata API.
MAX_LIST_QUERIES = 3
MAX_READ_NAMES = 10

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class SoapFault(Exception):
    """A call-level fault, sent as HTTP 500 with faultcode `sf:<code>`."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def parse_envelope(body: bytes) -> tuple[etree._Element, str | None]:
    """Return (first child of soapenv:Body, SessionHeader sessionId)."""
    try:
        envelope = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("INVALID_XML", f"The request is not valid XML: {exc.msg}") from exc
    soap_body = envelope.find(f"{{{SOAPENV_NS}}}Body")
    operation = None
    if soap_body is not None:
        operation = next((child for child in soap_body if isinstance(child.tag, str)), None)
    if operation is None:
        raise SoapFault("INVALID_XML", "The request has no soapenv:Body element with an operation in it")
    session_id = envelope.findtext(f"{{{SOAPENV_NS}}}Header/{md('SessionHeader')}/{md('sessionId')}")
    return operation, (session_id or "").strip() or None


def operation_name(operation: etree._Element) -> str:
    return etree.QName(operation).localname


def _text(element: etree._Element, name: str) -> str | None:
    """Find a child by local name, because simple-salesforce sends some children unqualified."""
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return None


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str) and etree.QName(c).localname == name]


def request_types(operation: etree._Element) -> tuple[str, ...]:
    """Metadata types a request names, for the call log."""
    name = operation_name(operation)
    if name == "readMetadata":
        return (_text(operation, "type") or "",)
    if name == "listMetadata":
        return tuple(_text(q, "type") or "" for q in _children(operation, "queries"))
    if name == "retrieve":
        return tuple(t for t, _ in _retrieve_request(operation)[0])
    return ()


def envelope(payload: etree._Element) -> bytes:
    """Wrap a response element in an envelope whose default namespace is the metadata namespace."""
    root = etree.Element(f"{{{SOAPENV_NS}}}Envelope", nsmap={"soapenv": SOAPENV_NS, None: MD_NS, "xsi": XSI_NS})
    body = etree.SubElement(root, f"{{{SOAPENV_NS}}}Body")
    body.append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fault_envelope(code: str, message: str) -> bytes:
    """The Metadata API fault shape: faultcode `sf:CODE`, faultstring `CODE: message`."""
    root = etree.Element(f"{{{SOAPENV_NS}}}Envelope", nsmap={"soapenv": SOAPENV_NS, "sf": MD_NS})
    body = etree.SubElement(root, f"{{{SOAPENV_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAPENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"sf:{code}"
    etree.SubElement(fault, "faultstring").text = f"{code}: {message}"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _add(parent: etree._Element, name: str, value: object) -> etree._Element:
    child = etree.SubElement(parent, md(name))
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)
    return child


def _response(operation: str) -> tuple[etree._Element, etree._Element]:
    wrapper = etree.Element(md(f"{operation}Response"))
    return wrapper, etree.SubElement(wrapper, md("result"))


def dispatch(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    """Run one Metadata API operation and return its `<opResponse>` element."""
    handler = _HANDLERS.get(operation_name(operation))
    if handler is None:
        raise SoapFault(
            "UNKNOWN_EXCEPTION",
            f"The fake org does not implement the Metadata API operation {operation_name(operation)}",
        )
    return handler(org, operation, version)


# ----- CRUD-style calls (zeep) ---------------------------------------------------


def _list_metadata(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    queries = _children(operation, "queries")
    if len(queries) > MAX_LIST_QUERIES:
        # NOTE: the limit is documented, but the fault code a real org sends for it is not.
        raise SoapFault("UNKNOWN_EXCEPTION", f"listMetadata accepts at most {MAX_LIST_QUERIES} queries, got {len(queries)}")
    wrapper = etree.Element(md("listMetadataResponse"))
    for query in queries:
        type_name = _text(query, "type") or ""
        metadata_type = registry.TYPES.get(type_name)
        if metadata_type is None:
            continue
        for stored in org.stored_of_type(type_name):
            result = etree.SubElement(wrapper, md("result"))
            file_name = f"{metadata_type.folder}/{stored.full_name}.{metadata_type.suffix}"
            for key, value in deploy.file_properties(org, stored, file_name).items():
                _add(result, key, value)
    return wrapper


def _read_metadata(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    type_name = _text(operation, "type") or ""
    names = [(c.text or "").strip() for c in _children(operation, "fullNames")]
    if len(names) > MAX_READ_NAMES:
        # NOTE: the limit is documented, but the fault code a real org sends for it is not.
        raise SoapFault("UNKNOWN_EXCEPTION", f"readMetadata accepts at most {MAX_READ_NAMES} names, got {len(names)}")
    wrapper, result = _response("readMetadata")
    metadata_type = registry.TYPES.get(type_name)
    for name in names:
        stored = org.stored(type_name, name) if metadata_type else None
        if stored is None:
            # A real org returns a nil placeholder for a missing name, in request order.
            record = etree.SubElement(result, md("records"))
            record.set(f"{{{XSI_NS}}}nil", "true")
            continue
        view = components.read_view(metadata_type, stored.xml, version, org.expose_consumer_secret)
        record = etree.SubElement(result, md("records"))
        record.set(f"{{{XSI_NS}}}type", type_name)
        _add(record, "fullName", name)
        for child in view:
            if isinstance(child.tag, str):
                record.append(child)
    return wrapper


def _describe_metadata(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    as_of = float(_text(operation, "asOfVersion") or version)
    wrapper, result = _response("describeMetadata")
    for metadata_type in registry.TYPES.values():
        if metadata_type.since > as_of:
            continue
        item = _add(result, "metadataObjects", None)
        _add(item, "directoryName", metadata_type.folder)
        _add(item, "inFolder", False)
        _add(item, "metaFile", False)
        _add(item, "suffix", metadata_type.suffix)
        _add(item, "xmlName", metadata_type.name)
    _add(result, "organizationNamespace", "")
    _add(result, "partialSaveAllowed", True)
    _add(result, "testRequired", False)
    return wrapper


# ----- deploy and retrieve (simple-salesforce's hand-built requests) -----------------


def _deploy(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    zip_base64 = _text(operation, "ZipFile") or ""
    options_node = next(iter(_children(operation, "DeployOptions")), None)
    options = {}
    if options_node is not None:
        options = {etree.QName(c).localname: (c.text or "").strip() for c in options_node if isinstance(c.tag, str)}
    job = deploy.run_deploy(org, zip_base64, options, version)
    wrapper, result = _response("deploy")
    _add(result, "done", False)
    _add(result, "id", job.id)
    _add(result, "state", "Queued")
    return wrapper


def _check_deploy_status(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    job_id = _text(operation, "asyncProcessId") or ""
    job = org.job(job_id)
    if not isinstance(job, deploy.DeployJob):
        raise SoapFault("INVALID_ID_FIELD", f"No deploy job with id {job_id!r}")
    slow = org.take_fault("checkDeployStatus", ("slow",)) is not None
    include_details = deploy.parse_bool(_text(operation, "includeDetails"))
    wrapper, result = _response("checkDeployStatus")
    user = org.users()[0]

    _add(result, "checkOnly", job.check_only)
    if not slow:
        _add(result, "completedDate", now_iso())
    _add(result, "createdBy", user.id)
    _add(result, "createdByName", user.name)
    _add(result, "createdDate", job.created_date)

    details = _add(result, "details", None)
    if include_details and not slow:
        for message in job.failures:
            _deploy_message(details, "componentFailures", message)
        for message in job.successes:
            _deploy_message(details, "componentSuccesses", message)
        run_tests = _add(details, "runTestResult", None)
        _add(run_tests, "numFailures", 0)
        _add(run_tests, "numTestsRun", 0)
        _add(run_tests, "totalTime", 0.0)

    _add(result, "done", not slow)
    _add(result, "id", job.id)
    _add(result, "ignoreWarnings", job.ignore_warnings)
    _add(result, "lastModifiedDate", now_iso())

    # A failure of the zip or package.xml as a whole leaves every counter at 0.
    failed = 0 if slow else len([f for f in job.failures if f.component_type])
    deployed = 0 if slow else job.components_total - failed
    _add(result, "numberComponentErrors", failed)
    _add(result, "numberComponentsDeployed", max(deployed, 0))
    _add(result, "numberComponentsTotal", job.components_total)

    _add(result, "numberTestErrors", 0)
    _add(result, "numberTestsCompleted", 0)
    _add(result, "numberTestsTotal", 0)
    _add(result, "rollbackOnError", job.rollback_on_error)
    _add(result, "runTestsEnabled", False)
    _add(result, "startDate", job.created_date)
    if slow:
        _add(result, "stateDetail", "Processing Type: " + (job.types[0] if job.types else "package.xml"))
    _add(result, "status", "InProgress" if slow else job.status)
    _add(result, "success", not slow and job.status != "Failed")
    return wrapper


def _deploy_message(parent: etree._Element, tag: str, message: deploy.DeployMessage) -> None:
    node = _add(parent, tag, None)
    _add(node, "changed", message.changed)
    if message.line is not None:
        _add(node, "columnNumber", 1)
    _add(node, "componentType", message.component_type)
    _add(node, "created", message.created)
    _add(node, "createdDate", now_iso())
    _add(node, "deleted", False)
    _add(node, "fileName", message.file_name)
    _add(node, "fullName", message.full_name)
    if message.line is not None:
        _add(node, "lineNumber", message.line)
    if message.problem is not None:
        _add(node, "problem", message.problem)
        _add(node, "problemType", "Error")
    _add(node, "success", message.success)


def _retrieve_request(operation: etree._Element) -> tuple[list[tuple[str, list[str]]], float | None, bool]:
    request = next(iter(_children(operation, "retrieveRequest")), operation)
    requested: list[tuple[str, list[str]]] = []
    for unpackaged in _children(request, "unpackaged"):
        for types_node in _children(unpackaged, "types"):
            members = [(m.text or "").strip() for m in _children(types_node, "members")]
            requested.append((_text(types_node, "name") or "", members))
    api_version = _text(request, "apiVersion")
    single_package = deploy.parse_bool(_text(request, "singlePackage") or "true")
    return requested, float(api_version) if api_version else None, single_package


def _retrieve(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    requested, api_version, single_package = _retrieve_request(operation)
    job = deploy.run_retrieve(org, requested, api_version or version, single_package)
    wrapper, result = _response("retrieve")
    _add(result, "done", False)
    _add(result, "id", job.id)
    _add(result, "state", "Queued")
    return wrapper


def _check_retrieve_status(org: "FakeOrg", operation: etree._Element, version: float) -> etree._Element:
    job_id = _text(operation, "asyncProcessId") or ""
    job = org.job(job_id)
    if not isinstance(job, deploy.RetrieveJob):
        raise SoapFault("INVALID_ID_FIELD", f"No retrieve job with id {job_id!r}")
    slow = org.take_fault("checkRetrieveStatus", ("slow",)) is not None
    wrapper, result = _response("checkRetrieveStatus")
    _add(result, "done", not slow)
    if not slow:
        for properties in job.file_properties:
            node = _add(result, "fileProperties", None)
            for key, value in properties.items():
                _add(node, key, value)
    _add(result, "id", job.id)
    if not slow:
        for file_name, problem in job.messages:
            node = _add(result, "messages", None)
            _add(node, "fileName", file_name)
            _add(node, "problem", problem)
    _add(result, "status", "InProgress" if slow else "Succeeded")
    _add(result, "success", not slow)
    if not slow and deploy.parse_bool(_text(operation, "includeZip")):
        _add(result, "zipFile", base64.b64encode(job.zip_bytes).decode("ascii"))
    return wrapper


_HANDLERS: dict[str, Callable[["FakeOrg", etree._Element, float], etree._Element]] = {
    "listMetadata": _list_metadata,
    "readMetadata": _read_metadata,
    "describeMetadata": _describe_metadata,
    "deploy": _deploy,
    "checkDeployStatus": _check_deploy_status,
    "retrieve": _retrieve,
    "checkRetrieveStatus": _check_retrieve_status,
}
