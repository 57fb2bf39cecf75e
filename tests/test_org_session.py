"""OrgSession against the fake org over HTTPS: list, retrieve, OAuth policy lookup, deploy and faults."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from lxml import etree

from migrate.org import (
    AmbiguousComponent,
    ConnectOptions,
    DeployFailed,
    DeployInterrupted,
    OrgRequestFailed,
    OrgUnreachable,
    PollTimedOut,
    RequestLimitExceeded,
    SessionExpired,
    connect,
)

CORPUS = Path("/work/shared/corpus")
MD_NS = "http://soap.sforce.com/2006/04/metadata"
OAUTH_POLICY = "ExtlClntAppOauthConfigurablePolicies"
ECA_TYPES = [
    "ExternalClientApplication",
    "ExtlClntAppGlobalOauthSettings",
    "ExtlClntAppOauthSettings",
    OAUTH_POLICY,
    "ExtlClntAppConfigurablePolicies",
]


def open_session(fake_org, **overrides):
    """Connect with SF_ACCESS_TOKEN and poll settings small enough for tests."""
    settings = {
        "instance_url": fake_org.instance_url,
        "poll_interval": 0.01,
        "max_poll_interval": 0.02,
        "wait_timeout": 10.0,
        "http_timeout": 10.0,
    }
    settings.update(overrides)
    return connect(ConnectOptions(**settings), environ={"SF_ACCESS_TOKEN": fake_org.access_token})


def seed_corpus(fake_org, tmp_path, *sets: str) -> None:
    for name in sets:
        folder = tmp_path / "seed" / name
        shutil.copytree(CORPUS / "eca" / name, folder)
        fake_org.seed(folder)


def package_xml(members: dict[str, list[str]], version: str = "64.0") -> bytes:
    types = "".join(
        "<types>" + "".join(f"<members>{m}</members>" for m in names) + f"<name>{type_name}</name></types>"
        for type_name, names in members.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><Package xmlns="{MD_NS}">{types}<version>{version}</version></Package>'.encode()


def new_eca_files(app: str = "Sfeca_Test") -> dict[str, bytes]:
    header = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ExternalClientApplication xmlns="{MD_NS}">\n'
        "    <contactEmail>owner@example.com</contactEmail>\n    <distributionState>Local</distributionState>\n"
        f"    <isProtected>false</isProtected>\n    <label>{app}</label>\n</ExternalClientApplication>\n"
    )
    oauth = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ExtlClntAppOauthSettings xmlns="{MD_NS}">\n'
        "    <commaSeparatedOauthScopes>Api, RefreshToken</commaSeparatedOauthScopes>\n"
        f"    <externalClientApplication>{app}</externalClientApplication>\n"
        f"    <label>{app}_oauth</label>\n</ExtlClntAppOauthSettings>\n"
    )
    return {
        "package.xml": package_xml({"ExternalClientApplication": [app], "ExtlClntAppOauthSettings": [f"{app}_oauth"]}),
        f"externalClientApps/{app}.eca": header.encode(),
        f"extlClntAppOauthSettings/{app}_oauth.ecaOauth": oauth.encode(),
    }


def call_names(fake_org) -> list[str]:
    return [call.name for call in fake_org.calls]


# -- connecting ---------------------------------------------------------------------


def test_connect_access_token_identifies_user(fake_org):
    session = open_session(fake_org)

    assert session.org_id == fake_org.org_id
    assert session.username == fake_org.username
    assert session.label == "127.0.0.1"
    assert session.instance_url == fake_org.instance_url
    assert fake_org.access_token not in repr(session)


def test_connect_with_bad_token(fake_org):
    with pytest.raises(SessionExpired) as caught:
        connect(
            ConnectOptions(instance_url=fake_org.instance_url),
            environ={"SF_ACCESS_TOKEN": "00DFAKE000000012!AQEAQnotAValidToken"},
        )

    message = str(caught.value)
    assert "AQEAQnotAValidToken" not in message
    assert "SF_ACCESS_TOKEN" in message
    assert caught.value.call == "userinfo"


# -- listMetadata -------------------------------------------------------------------


def test_list_metadata_batches_three_types(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)

    listing = session.list_metadata([*ECA_TYPES, "ConnectedApp"])

    assert list(listing) == [*ECA_TYPES, "ConnectedApp"]
    assert [item.full_name for item in listing["ExternalClientApplication"]] == ["Kraken_DevOps"]
    assert listing[OAUTH_POLICY][0].file_name == "extlClntAppOauthPolicies/Kraken_DevOps_oauthPlcy.ecaOauthPlcy"
    assert listing["ConnectedApp"] == []
    list_calls = [call for call in fake_org.calls if call.name == "listMetadata"]
    assert [len(call.types) for call in list_calls] == [3, 3]


def test_connect_accepts_api_version_60(fake_org):
    session = open_session(fake_org, api_version="60.0")

    assert session.list_metadata(["ExternalClientApplication"]) == {"ExternalClientApplication": []}
    assert [call.path for call in fake_org.calls if call.name == "listMetadata"] == ["/services/Soap/m/60.0/"]


def test_list_metadata_empty_org(fake_org):
    session = open_session(fake_org)

    assert session.list_metadata(["ExternalClientApplication"]) == {"ExternalClientApplication": []}


# -- retrieve -----------------------------------------------------------------------


def test_retrieve_eca_set(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)

    files = session.retrieve(
        {
            "ExternalClientApplication": ["Kraken_DevOps"],
            "ExtlClntAppOauthSettings": ["Kraken_DevOps_oauth"],
            OAUTH_POLICY: ["Kraken_DevOps_oauthPlcy"],
        }
    )

    assert sorted(files) == [
        "externalClientApps/Kraken_DevOps.eca",
        "extlClntAppOauthPolicies/Kraken_DevOps_oauthPlcy.ecaOauthPlcy",
        "extlClntAppOauthSettings/Kraken_DevOps_oauth.ecaOauth",
    ]
    header = etree.fromstring(files["externalClientApps/Kraken_DevOps.eca"])
    assert header.findtext(f"{{{MD_NS}}}label") == "Kraken DevOps"
    assert "package.xml" not in files


def test_retrieve_connected_app(fake_org, tmp_path):
    seed = tmp_path / "seed" / "connectedApps"
    seed.mkdir(parents=True)
    shutil.copy(CORPUS / "connected-apps" / "044-dev-cicd.connectedApp-meta.xml", seed / "Dev_CICD.connectedApp")
    fake_org.seed(seed)
    session = open_session(fake_org)

    files = session.retrieve({"ConnectedApp": ["Dev_CICD"]})

    assert list(files) == ["connectedApps/Dev_CICD.connectedApp"]
    root = etree.fromstring(files["connectedApps/Dev_CICD.connectedApp"])
    assert etree.QName(root).localname == "ConnectedApp"
    assert root.find(f".//{{{MD_NS}}}consumerSecret") is None


def test_retrieve_missing_component_is_absent(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)

    files = session.retrieve({"ExternalClientApplication": ["Kraken_DevOps", "No_Such_App"]})

    assert list(files) == ["externalClientApps/Kraken_DevOps.eca"]


def test_retrieve_only_missing_components(fake_org):
    session = open_session(fake_org)

    assert session.retrieve({"ExternalClientApplication": ["No_Such_App"]}) == {}


def test_retrieve_nothing_requested(fake_org):
    session = open_session(fake_org)

    assert session.retrieve({"ExternalClientApplication": []}) == {}
    assert "retrieve" not in call_names(fake_org)


def test_retrieve_waits_for_slow_job(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)
    fake_org.inject_fault("checkRetrieveStatus", "slow", times=3)

    files = session.retrieve({"ExternalClientApplication": ["Kraken_DevOps"]})

    assert list(files) == ["externalClientApps/Kraken_DevOps.eca"]
    assert call_names(fake_org).count("checkRetrieveStatus") == 5


# -- find_oauth_policy --------------------------------------------------------------


def test_find_oauth_policy_setup_name(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps", "002-ecaViaMetadata-retrieved")
    session = open_session(fake_org)

    assert session.find_oauth_policy("Kraken_DevOps") == "Kraken_DevOps_oauthPlcy"


def test_find_oauth_policy_default_policy_name(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps", "002-ecaViaMetadata-retrieved")
    session = open_session(fake_org)

    assert session.find_oauth_policy("ecaViaMetadata") == "ecaViaMetadataSettings_defaultPolicy"


def test_find_oauth_policy_unknown_app(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)

    assert session.find_oauth_policy("Kraken") is None


def test_find_oauth_policy_without_policies(fake_org):
    session = open_session(fake_org)

    assert session.find_oauth_policy("Kraken_DevOps") is None
    assert "retrieve" not in call_names(fake_org)


def test_find_oauth_policy_two_matches(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    duplicate = fake_org.component_xml(OAUTH_POLICY, "Kraken_DevOps_oauthPlcy").replace(
        b"<label>Kraken_DevOps_oauthPlcy</label>", b"<label>Kraken_DevOps_second</label>"
    )
    fake_org.put_component(OAUTH_POLICY, "Kraken_DevOps_second", duplicate)
    session = open_session(fake_org)

    with pytest.raises(AmbiguousComponent) as caught:
        session.find_oauth_policy("Kraken_DevOps")

    assert "Kraken_DevOps_oauthPlcy" in str(caught.value)
    assert "Kraken_DevOps_second" in str(caught.value)


def test_find_oauth_policy_after_deploy(fake_org):
    session = open_session(fake_org)

    result = session.deploy(new_eca_files(), check_only=False)

    assert result.success
    assert session.find_oauth_policy("Sfeca_Test") == "Sfeca_Test_oauth_defaultPolicy"


# -- deploy -------------------------------------------------------------------------


def test_deploy_commits_components(fake_org):
    session = open_session(fake_org)
    progress = []

    result = session.deploy(new_eca_files(), check_only=False, on_progress=progress.append)

    assert result.success
    assert result.status == "Succeeded"
    assert result.id.startswith("0Af")
    assert result.number_components_total == 2
    assert result.number_components_deployed == 2
    assert result.component_failures == ()
    assert progress[-1] == result
    assert fake_org.component_xml("ExternalClientApplication", "Sfeca_Test") is not None


def test_deploy_check_only_commits_nothing(fake_org):
    session = open_session(fake_org)

    result = session.deploy(new_eca_files(), check_only=True)

    assert result.success
    assert result.check_only
    assert fake_org.component_xml("ExternalClientApplication", "Sfeca_Test") is None


def test_deploy_component_failure(fake_org):
    session = open_session(fake_org)
    fake_org.inject_fault(
        "deploy", "component_error", component="ExtlClntAppOauthSettings:Sfeca_Test_oauth", problem="Bad scope"
    )

    result = session.deploy(new_eca_files(), check_only=False)

    assert not result.success
    assert result.status == "Failed"
    failure = result.component_failures[0]
    assert failure.component_type == "ExtlClntAppOauthSettings"
    assert failure.full_name == "Sfeca_Test_oauth"
    assert failure.problem == "Bad scope"
    assert fake_org.component_xml("ExternalClientApplication", "Sfeca_Test") is None


def test_deploy_failure_raises_when_asked(fake_org):
    session = open_session(fake_org)
    files = new_eca_files()
    del files["extlClntAppOauthSettings/Sfeca_Test_oauth.ecaOauth"]

    with pytest.raises(DeployFailed) as caught:
        session.deploy(files, check_only=True, raise_on_failure=True)

    message = str(caught.value)
    assert message.startswith("validate on org 127.0.0.1 (job 0Af")
    assert "Sfeca_Test_oauth" in message
    assert "not found in zipped directory" in message
    assert caught.value.job_id.startswith("0Af")


def test_deploy_retrieved_files_round_trip(fake_org, tmp_path):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)
    files = session.retrieve({OAUTH_POLICY: ["Kraken_DevOps_oauthPlcy"]})
    path = "extlClntAppOauthPolicies/Kraken_DevOps_oauthPlcy.ecaOauthPlcy"
    files[path] = files[path].replace(b"AllSelfAuthorized", b"AdminApprovedPreAuthorized")
    files["package.xml"] = package_xml({OAUTH_POLICY: ["Kraken_DevOps_oauthPlcy"]})

    result = session.deploy(files, check_only=False)

    assert result.success
    assert b"AdminApprovedPreAuthorized" in fake_org.component_xml(OAUTH_POLICY, "Kraken_DevOps_oauthPlcy")


def test_deploy_reports_progress_while_slow(fake_org):
    session = open_session(fake_org)
    fake_org.inject_fault("checkDeployStatus", "slow", times=3)
    statuses = []

    result = session.deploy(new_eca_files(), check_only=True, on_progress=lambda status: statuses.append(status.status))

    assert result.success
    assert statuses == ["InProgress", "InProgress", "InProgress", "Succeeded"]


def test_deploy_interrupt_carries_deploy_id(fake_org):
    session = open_session(fake_org, target_org=None)
    fake_org.inject_fault("checkDeployStatus", "slow", times=5)

    def interrupt(status):
        raise KeyboardInterrupt

    with pytest.raises(DeployInterrupted) as caught:
        session.deploy(new_eca_files(), check_only=False, on_progress=interrupt)

    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.deploy_id.startswith("0Af")
    assert caught.value.deploy_id in caught.value.check_command


def test_deploy_poll_timeout(fake_org):
    session = open_session(fake_org, wait_timeout=0.05)
    fake_org.inject_fault("checkDeployStatus", "slow", times=1000)

    with pytest.raises(PollTimedOut) as caught:
        session.deploy(new_eca_files(), check_only=True)

    assert caught.value.job_id.startswith("0Af")
    assert "Deployment Status" in str(caught.value)


@pytest.mark.parametrize(
    ("files", "phrase"),
    [
        ({"externalClientApps/A.eca": b"x"}, "package.xml"),
        ({"package.xml": b"x", "../A.eca": b"x"}, "not a normalized relative path"),
    ],
)
def test_deploy_rejects_bad_files_before_sending(fake_org, files, phrase):
    session = open_session(fake_org)

    with pytest.raises(ValueError, match=phrase):
        session.deploy(files, check_only=True)

    assert "deploy" not in call_names(fake_org)


def test_deploy_rejects_tests_without_level(fake_org):
    session = open_session(fake_org)

    with pytest.raises(ValueError, match="RunSpecifiedTests"):
        session.deploy(new_eca_files(), check_only=True, tests=["MyTest"])


def test_deploy_with_specified_tests(fake_org):
    session = open_session(fake_org)

    result = session.deploy(new_eca_files(), check_only=True, test_level="RunSpecifiedTests", tests=["MyTest"])

    assert result.success


# -- faults -------------------------------------------------------------------------


def run_call(session, call: str):
    """Run the session method that sends ``call`` first or while polling."""
    if call in {"listMetadata"}:
        return session.list_metadata(["ExternalClientApplication"])
    if call in {"retrieve", "checkRetrieveStatus"}:
        return session.retrieve({"ExternalClientApplication": ["Kraken_DevOps"]})
    return session.deploy(new_eca_files(), check_only=True)


SOAP_CALLS = ["listMetadata", "retrieve", "checkRetrieveStatus", "deploy", "checkDeployStatus"]


@pytest.mark.parametrize("call", SOAP_CALLS)
@pytest.mark.parametrize(
    ("kind", "expected", "phrase"),
    [
        ("expired_session", SessionExpired, "Put a fresh access token in SF_ACCESS_TOKEN"),
        ("request_limit", RequestLimitExceeded, "24-hour"),
        ("server_error", OrgRequestFailed, "status.salesforce.com"),
        ("dropped_connection", OrgUnreachable, "Check the org URL and the network connection"),
    ],
)
def test_fault_becomes_org_error(fake_org, tmp_path, call, kind, expected, phrase):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)
    # Enough repeats to outlast the retries of read-only calls.
    fake_org.inject_fault(call, kind, times=5)

    with pytest.raises(expected) as caught:
        run_call(session, call)

    error = caught.value
    assert error.call == call
    assert error.org == "127.0.0.1"
    assert phrase in str(error)
    assert fake_org.access_token not in str(error)
    assert fake_org.access_token not in repr(error)
    if call in {"checkRetrieveStatus", "checkDeployStatus"}:
        assert error.job_id is not None


@pytest.mark.parametrize("kind", ["server_error", "dropped_connection"])
@pytest.mark.parametrize("call", ["listMetadata", "retrieve", "checkRetrieveStatus", "checkDeployStatus"])
def test_read_calls_retry_transient_faults(fake_org, tmp_path, call, kind):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    session = open_session(fake_org)
    fake_org.inject_fault(call, kind, times=2)

    run_call(session, call)

    assert [c.fault for c in fake_org.calls if c.name == call].count(kind) == 2


def test_deploy_start_is_never_retried(fake_org):
    session = open_session(fake_org)
    fake_org.inject_fault("deploy", "dropped_connection", times=1)

    with pytest.raises(OrgUnreachable):
        session.deploy(new_eca_files(), check_only=False)

    assert call_names(fake_org).count("deploy") == 1


def test_session_expired_hint_for_cli_alias(fake_org, tmp_path, monkeypatch):
    # A session made for a Salesforce CLI alias suggests `sf org login web --alias`.
    fake_sf = Path(__file__).parent / "fake_sf"
    orgs_file = tmp_path / "orgs.json"
    orgs_file.write_text(
        json.dumps(
            {
                "fake": {
                    "instanceUrl": fake_org.instance_url,
                    "id": fake_org.org_id,
                    "username": fake_org.username,
                    "accessToken": fake_org.access_token,
                }
            }
        )
    )
    monkeypatch.setenv("PATH", f"{fake_sf}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SF_ORGS", str(orgs_file))
    session = connect(ConnectOptions(target_org="fake", poll_interval=0.01), environ=dict(os.environ))
    fake_org.inject_fault("listMetadata", "expired_session")

    with pytest.raises(SessionExpired) as caught:
        session.list_metadata(["ExternalClientApplication"])

    assert "sf org login web --alias fake" in str(caught.value)
    assert str(caught.value).startswith("listMetadata on org fake failed: ")



def test_token_never_printed_or_logged(fake_org, tmp_path, caplog, capsys):
    seed_corpus(fake_org, tmp_path, "009-Kraken_DevOps")
    token = fake_org.access_token

    with caplog.at_level(logging.DEBUG):
        session = open_session(fake_org)
        session.list_metadata(ECA_TYPES)
        session.find_oauth_policy("Kraken_DevOps")
        session.deploy(new_eca_files(), check_only=True)
        fake_org.inject_fault("listMetadata", "dropped_connection", times=1)
        session.list_metadata(["ExternalClientApplication"])
        fake_org.inject_fault("listMetadata", "expired_session")
        with pytest.raises(SessionExpired):
            session.list_metadata(["ExternalClientApplication"])

    output = capsys.readouterr()
    assert "retrying in" in caplog.text
    assert token not in caplog.text
    assert token not in output.out
    assert token not in output.err
