"""Metadata API envelopes, result parsing and in-memory zips, with no server."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from lxml import etree

from migrate.org import archive
from migrate.org import metadata_api as api
from migrate.org.errors import ResponseFormatError

MD = api.MD_NS
SOAP = api.SOAP_NS
SESSION_ID = "00DFAKE000000000001!AQEAQsessionValue"
NS = {"m": MD, "s": SOAP}


def response(operation: str, inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}" xmlns="{MD}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f"<{operation}Response>{inner}</{operation}Response></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_list_metadata_request_shape():
    root = etree.fromstring(api.list_metadata_request(SESSION_ID, ["ExternalClientApplication", "ConnectedApp"], "64.0"))

    assert root.findtext("s:Header/m:SessionHeader/m:sessionId", namespaces=NS) == SESSION_ID
    operation = root.find("s:Body/m:listMetadata", NS)
    assert [q.findtext("m:type", namespaces=NS) for q in operation.findall("m:queries", NS)] == [
        "ExternalClientApplication",
        "ConnectedApp",
    ]
    assert operation.findtext("m:asOfVersion", namespaces=NS) == "64.0"


@pytest.mark.parametrize("count", [0, 4])
def test_list_metadata_request_rejects_batch_size(count):
    with pytest.raises(ValueError):
        api.list_metadata_request(SESSION_ID, ["T"] * count, "64.0")


def test_retrieve_request_escapes_and_qualifies_members():
    envelope = api.retrieve_request(SESSION_ID, {"ConnectedApp": ["A&B<C>", "Plain", "Plain"]}, "64.0")

    root = etree.fromstring(envelope)
    request = root.find("s:Body/m:retrieve/m:retrieveRequest", NS)
    assert request.findtext("m:apiVersion", namespaces=NS) == "64.0"
    assert request.findtext("m:singlePackage", namespaces=NS) == "true"
    types = request.find("m:unpackaged/m:types", NS)
    assert [m.text for m in types.findall("m:members", NS)] == ["A&B<C>", "Plain"]
    assert types.findtext("m:name", namespaces=NS) == "ConnectedApp"
    assert b"A&amp;B&lt;C&gt;" in envelope


def test_deploy_request_follows_wsdl_order():
    options = api.DeployOptions(check_only=True, test_level="RunSpecifiedTests", run_tests=("MyTest",))

    root = etree.fromstring(api.deploy_request(SESSION_ID, b"PK-zip", options))

    operation = root.find("s:Body/m:deploy", NS)
    assert base64.b64decode(operation.findtext("m:ZipFile", namespaces=NS)) == b"PK-zip"
    deploy_options = operation.find("m:DeployOptions", NS)
    assert [etree.QName(child).localname for child in deploy_options] == [
        "allowMissingFiles",
        "autoUpdatePackage",
        "checkOnly",
        "ignoreWarnings",
        "performRetrieve",
        "purgeOnDelete",
        "rollbackOnError",
        "runTests",
        "singlePackage",
        "testLevel",
    ]
    assert deploy_options.findtext("m:checkOnly", namespaces=NS) == "true"
    assert deploy_options.findtext("m:rollbackOnError", namespaces=NS) == "true"
    assert deploy_options.findtext("m:testLevel", namespaces=NS) == "RunSpecifiedTests"


def test_deploy_request_omits_unset_test_level():
    root = etree.fromstring(api.deploy_request(SESSION_ID, b"zip", api.DeployOptions(check_only=False)))

    deploy_options = root.find("s:Body/m:deploy/m:DeployOptions", NS)
    assert deploy_options.find("m:testLevel", NS) is None
    assert deploy_options.find("m:runTests", NS) is None
    assert deploy_options.findtext("m:checkOnly", namespaces=NS) == "false"


@pytest.mark.parametrize(
    ("test_level", "tests"),
    [("RunSomeTests", ()), ("RunLocalTests", ("MyTest",)), ("RunSpecifiedTests", ()), (None, ("MyTest",))],
)
def test_deploy_options_reject_bad_combinations(test_level, tests):
    with pytest.raises(ValueError):
        api.DeployOptions(check_only=False, test_level=test_level, run_tests=tests)


def test_check_status_requests():
    retrieve = etree.fromstring(api.check_retrieve_status_request(SESSION_ID, "09S1", include_zip=True))
    deploy = etree.fromstring(api.check_deploy_status_request(SESSION_ID, "0Af1"))

    assert retrieve.findtext("s:Body/m:checkRetrieveStatus/m:includeZip", namespaces=NS) == "true"
    assert retrieve.findtext("s:Body/m:checkRetrieveStatus/m:asyncProcessId", namespaces=NS) == "09S1"
    assert deploy.findtext("s:Body/m:checkDeployStatus/m:includeDetails", namespaces=NS) == "true"


def test_response_results_skip_nil():
    content = response(
        "listMetadata",
        "<result><fullName>App</fullName><type>ExternalClientApplication</type>"
        "<fileName>externalClientApps/App.eca</fileName><id>0xR1</id></result>"
        '<result xsi:nil="true"/>',
    )

    results = api.response_results(content, "listMetadata")

    assert len(results) == 1
    item = api.parse_file_properties(results[0])
    assert item.full_name == "App"
    assert item.type == "ExternalClientApplication"
    assert item.file_name == "externalClientApps/App.eca"
    assert item.id == "0xR1"
    assert item.namespace_prefix is None


def test_response_results_empty_listing():
    assert api.response_results(response("listMetadata", ""), "listMetadata") == []


@pytest.mark.parametrize(
    "content",
    [b"not xml", b"<html><body>Login</body></html>", response("deploy", "<result/>")],
    ids=["not-xml", "html", "wrong-operation"],
)
def test_response_results_reject_other_replies(content):
    with pytest.raises(ResponseFormatError):
        api.response_results(content, "listMetadata")


def test_parse_file_properties_requires_full_name():
    result = api.response_results(response("listMetadata", "<result><type>T</type></result>"), "listMetadata")[0]

    with pytest.raises(ResponseFormatError):
        api.parse_file_properties(result)


def test_parse_deploy_result_with_failures():
    inner = (
        "<result><checkOnly>true</checkOnly><done>true</done><id>0Af1</id>"
        "<numberComponentErrors>1</numberComponentErrors><numberComponentsDeployed>1</numberComponentsDeployed>"
        "<numberComponentsTotal>2</numberComponentsTotal><numberTestErrors>0</numberTestErrors>"
        "<numberTestsCompleted>0</numberTestsCompleted><numberTestsTotal>0</numberTestsTotal>"
        "<status>Failed</status><success>false</success>"
        "<details><componentFailures><componentType>ExtlClntAppOauthSettings</componentType>"
        "<fileName>extlClntAppOauthSettings/App_oauth.ecaOauth</fileName><fullName>App_oauth</fullName>"
        "<lineNumber>4</lineNumber><columnNumber>9</columnNumber>"
        "<problem>In field: externalClientApplication - no ExternalClientApplication named App found</problem>"
        "<problemType>Error</problemType></componentFailures>"
        "<runTestResult><failures><name>MyTest</name><methodName>testIt</methodName><message>boom</message></failures></runTestResult>"
        "</details></result>"
    )

    result = api.parse_deploy_result(api.response_results(response("checkDeployStatus", inner), "checkDeployStatus")[0])

    assert result.id == "0Af1"
    assert result.status == "Failed"
    assert result.done
    assert not result.success
    assert result.check_only
    assert result.number_components_total == 2
    assert result.number_component_errors == 1
    failure = result.component_failures[0]
    assert failure.component_type == "ExtlClntAppOauthSettings"
    assert failure.full_name == "App_oauth"
    assert failure.line_number == 4
    assert "no ExternalClientApplication named App" in failure.problem
    assert result.test_failures[0].class_name == "MyTest"
    summary = result.failure_summary()
    assert "ExtlClntAppOauthSettings App_oauth (extlClntAppOauthSettings/App_oauth.ecaOauth:4:9)" in summary
    assert "test MyTest.testIt: boom" in summary


def test_parse_deploy_result_in_progress():
    inner = "<result><done>false</done><id>0Af1</id><status>InProgress</status><stateDetail>Processing Type: ExternalClientApplication</stateDetail></result>"

    result = api.parse_deploy_result(api.response_results(response("checkDeployStatus", inner), "checkDeployStatus")[0])

    assert not result.done
    assert not result.success
    assert result.state_detail == "Processing Type: ExternalClientApplication"
    assert result.number_components_total == 0


def test_parse_deploy_result_job_level_error():
    inner = (
        "<result><done>true</done><id>0Af1</id><status>Failed</status><success>false</success>"
        "<errorStatusCode>UNKNOWN_EXCEPTION</errorStatusCode><errorMessage>An unexpected error occurred</errorMessage></result>"
    )

    result = api.parse_deploy_result(api.response_results(response("checkDeployStatus", inner), "checkDeployStatus")[0])

    assert result.failure_summary() == "UNKNOWN_EXCEPTION: An unexpected error occurred"


def test_parse_deploy_result_final_status_without_done():
    inner = "<result><id>0Af1</id><status>Succeeded</status></result>"

    result = api.parse_deploy_result(api.response_results(response("checkDeployStatus", inner), "checkDeployStatus")[0])

    assert result.done
    assert result.success


def test_parse_deploy_result_rejects_bad_counter():
    inner = "<result><id>0Af1</id><status>Failed</status><numberComponentsTotal>many</numberComponentsTotal></result>"
    result = api.response_results(response("checkDeployStatus", inner), "checkDeployStatus")[0]

    with pytest.raises(ResponseFormatError):
        api.parse_deploy_result(result)


def test_parse_retrieve_status_with_zip_and_messages():
    zip_b64 = base64.b64encode(b"PK\x03\x04fake").decode()
    inner = (
        f"<result><done>true</done><id>09S1</id><status>Succeeded</status><success>true</success>"
        f"<messages><fileName>package.xml</fileName><problem>Entity of type 'ConnectedApp' named 'X' cannot be found</problem></messages>"
        f"<zipFile>{zip_b64}</zipFile></result>"
    )

    status = api.parse_retrieve_status(api.response_results(response("checkRetrieveStatus", inner), "checkRetrieveStatus")[0])

    assert status.done
    assert status.success
    assert status.zip_file == b"PK\x03\x04fake"
    assert status.messages[0].problem.startswith("Entity of type 'ConnectedApp'")


def test_build_zip_is_deterministic_and_readable():
    files = {"package.xml": b"<Package/>", "externalClientApps/App.eca": b"<ExternalClientApplication/>"}

    first = archive.build_zip(files)
    second = archive.build_zip(dict(reversed(list(files.items()))))

    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as opened:
        assert opened.namelist() == ["externalClientApps/App.eca", "package.xml"]
    assert archive.read_zip(first) == files


def test_build_zip_requires_package_xml():
    with pytest.raises(ValueError, match="package.xml"):
        archive.build_zip({"externalClientApps/App.eca": b"x"})


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "a\\b", "", "a//b", "./a"])
def test_build_zip_rejects_bad_paths(path):
    with pytest.raises(ValueError):
        archive.build_zip({"package.xml": b"x", path: b"y"})


def test_read_zip_rejects_non_zip():
    with pytest.raises(ResponseFormatError):
        archive.read_zip(b"not a zip")


def test_read_zip_skips_folder_entries():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as writer:
        writer.writestr("externalClientApps/", b"")
        writer.writestr("externalClientApps/App.eca", b"<x/>")

    assert archive.read_zip(buffer.getvalue()) == {"externalClientApps/App.eca": b"<x/>"}


def test_component_files_drop_manifest_and_empty():
    files = {
        "package.xml": b"<Package/>",
        "externalClientApps/App.eca": b"<ExternalClientApplication><label>A</label></ExternalClientApplication>",
        "externalClientApps/Empty.eca": b"  \n",
        "externalClientApps/Bare.eca": b'<?xml version="1.0"?><ExternalClientApplication xmlns="x"/>',
    }

    assert archive.component_files(files) == {"externalClientApps/App.eca": b"<ExternalClientApplication><label>A</label></ExternalClientApplication>"}


def test_component_files_strip_unpackaged_folder():
    files = {"unpackaged/package.xml": b"<Package/>", "unpackaged/connectedApps/A.connectedApp": b"<ConnectedApp><label>A</label></ConnectedApp>"}

    assert archive.component_files(files) == {"connectedApps/A.connectedApp": b"<ConnectedApp><label>A</label></ConnectedApp>"}
