"""`plan` against an org: the fake org on 127.0.0.1, driven through the real simple-salesforce."""

from __future__ import annotations

import dataclasses
import os
import json
import shutil
from pathlib import Path

import pytest

from helpers import CONNECTED_APPS, EXAMPLE, requires_corpus, run_cli
from migrate.plan import plan_app
from migrate.reader import read_connected_apps
from migrate.specfiles import builtin_profiles, load_profile
from migrate.writer import layout_files

pytestmark = requires_corpus

CORPUS_APP = CONNECTED_APPS / "037-hamilton-workato-integrations.connectedApp-meta.xml"
APP = "Hamilton_Workato_Integrations"
VONAGE = load_profile(builtin_profiles()["vonage-ai-studio"])


def seed_connected_app(fake_org, tmp_path: Path, source: Path = CORPUS_APP, name: str = APP) -> None:
    folder = tmp_path / "seed-ca"
    (folder / "connectedApps").mkdir(parents=True)
    shutil.copy(source, folder / "connectedApps" / f"{name}.connectedApp")
    fake_org.seed(folder)


def compliant_files(source: Path = CORPUS_APP, name: str = APP, **changes) -> dict[str, bytes]:
    """Return the mdapi files of the ECA the plan would create, with some fields changed."""
    (parsed,) = read_connected_apps(source)
    parsed = dataclasses.replace(parsed, app=dataclasses.replace(parsed.app, fullName=name))
    bundle = plan_app(parsed, VONAGE, "64.0").desired
    components = []
    for component in bundle.components:
        updates = changes.get(type(component).__name__, {})
        components.append(dataclasses.replace(component, **updates))
    return layout_files(components, "mdapi", "64.0")


def seed_eca(fake_org, tmp_path: Path, files: dict[str, bytes]) -> None:
    folder = tmp_path / "seed-eca"
    for path, data in files.items():
        if path == "package.xml":
            continue
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    fake_org.seed(folder)


@pytest.fixture
def org_args(fake_org, monkeypatch):
    monkeypatch.setenv("SF_ACCESS_TOKEN", fake_org.access_token)
    return ["--instance-url", fake_org.instance_url]


def plan_json(org_args, *args) -> dict:
    result = run_cli("plan", *org_args, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def actions(document: dict) -> dict[str, str]:
    return {component["type"]: component["action"] for component in document["apps"][0]["components"]}


def test_org_app_creates_every_component(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    document = plan_json(org_args, "--app", APP)
    assert actions(document) == {
        "ExternalClientApplication": "create",
        "ExtlClntAppGlobalOauthSettings": "create",
        "ExtlClntAppOauthSettings": "create",
        "ExtlClntAppConfigurablePolicies": "create",
        "ExtlClntAppOauthConfigurablePolicies": "create",
    }
    assert document["target"].startswith("org 127.0.0.1")


def test_org_eca_two_broken_rules(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    seed_eca(
        fake_org,
        tmp_path,
        compliant_files(
            ExtlClntAppGlobalOauthSettings={"isPkceRequired": True},
            ExtlClntAppOauthConfigurablePolicies={"ipRelaxationPolicyType": "Enforce"},
        ),
    )
    document = plan_json(org_args, "--app", APP)
    changes = [
        (component["type"], change["field"], change["current"], change["new"])
        for component in document["apps"][0]["components"]
        for change in component["changes"]
    ]
    assert changes == [
        ("ExtlClntAppGlobalOauthSettings", "isPkceRequired", True, False),
        ("ExtlClntAppOauthConfigurablePolicies", "ipRelaxationPolicyType", "Enforce", "Bypass"),
    ]
    assert set(actions(document).values()) == {"update", "unchanged"}


def test_org_compliant_eca_no_changes(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    seed_eca(fake_org, tmp_path, compliant_files())
    result = run_cli("plan", *org_args, "--app", APP, "--detailed-exitcode", "--no-color")
    assert result.exit_code == 0
    assert "No changes" in result.stdout


def test_org_policy_found_by_app_not_name(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    files = compliant_files()
    renamed = {
        path.replace(f"{APP}_oauthPlcy", f"{APP}_oauth_defaultPolicy"): data.replace(
            f"<label>{APP}_oauthPlcy</label>".encode(), f"<label>{APP}_oauth_defaultPolicy</label>".encode()
        )
        for path, data in files.items()
    }
    seed_eca(fake_org, tmp_path, renamed)
    document = plan_json(org_args, "--app", APP)
    policy = next(c for c in document["apps"][0]["components"] if c["type"] == "ExtlClntAppOauthConfigurablePolicies")
    assert policy["fullName"] == f"{APP}_oauth_defaultPolicy"
    assert policy["action"] == "unchanged"


def test_local_file_against_org(fake_org, tmp_path, org_args):
    seed_eca(fake_org, tmp_path, compliant_files(EXAMPLE, "Vonage_AI_Studio"))
    document = plan_json(org_args, EXAMPLE)
    assert set(actions(document).values()) == {"unchanged"}
    assert document["hasChanges"] is False


def test_org_all_apps(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    seed_connected_app(fake_org, tmp_path / "second", EXAMPLE, "Vonage_AI_Studio")
    document = plan_json(org_args, "--all", "--profile", "vonage-ai-studio")
    assert [app["name"] for app in document["apps"]] == [APP, "Vonage_AI_Studio"]


def test_org_all_needs_named_profile(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    seed_connected_app(fake_org, tmp_path / "second", EXAMPLE, "Vonage_AI_Studio")
    result = run_cli("plan", *org_args, "--all")
    assert result.exit_code == 1
    assert "found 2 connected apps" in result.stderr


def test_org_unknown_app(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    result = run_cli("plan", *org_args, "--app", "Nope")
    assert result.exit_code == 1
    assert "connected app 'Nope' not found" in result.stderr
    assert APP in result.stderr


def test_org_needs_app_or_all(org_args):
    result = run_cli("plan", *org_args)
    assert result.exit_code == 1
    assert "--app NAME" in result.stderr


def test_app_without_org_is_usage_error():
    result = run_cli("plan", "--app", APP)
    assert result.exit_code == 1
    assert "add --target-org or --instance-url" in result.stderr


def test_missing_token_clear_error(fake_org, monkeypatch):
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)
    result = run_cli("plan", "--instance-url", fake_org.instance_url, "--app", APP)
    assert result.exit_code == 1
    assert "SF_ACCESS_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        ("listMetadata", "expired_session"),
        ("listMetadata", "server_error"),
        ("listMetadata", "request_limit"),
        ("retrieve", "expired_session"),
        ("retrieve", "request_limit"),
        ("checkRetrieveStatus", "dropped_connection"),
        ("rest", "expired_session"),
    ],
)
def test_org_fault_one_line_error(fake_org, tmp_path, org_args, call, kind):
    seed_connected_app(fake_org, tmp_path)
    # Enough repeats that the client's retries of read-only calls also fail.
    fake_org.inject_fault(call, kind, times=10)
    result = run_cli("plan", *org_args, "--app", APP)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert fake_org.access_token not in result.stderr


def test_org_plan_output_has_no_token(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    for output_format in ("text", "json", "markdown"):
        result = run_cli("plan", *org_args, "--app", APP, "--format", output_format)
        assert fake_org.access_token not in result.stdout + result.stderr


def test_target_org_alias_end_to_end(fake_org, tmp_path, monkeypatch):
    """--target-org reads the login from the Salesforce CLI (a stand-in `sf` on PATH)."""
    seed_connected_app(fake_org, tmp_path)
    orgs = tmp_path / "orgs.json"
    orgs.write_text(
        json.dumps(
            {
                "rehearsal": {
                    "instanceUrl": fake_org.instance_url,
                    "id": fake_org.org_id,
                    "username": fake_org.username,
                    "accessToken": fake_org.access_token,
                }
            }
        )
    )
    fake_sf = Path(__file__).parent / "fake_sf"
    monkeypatch.setenv("PATH", f"{fake_sf}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SF_ORGS", str(orgs))
    monkeypatch.delenv("SF_ACCESS_TOKEN", raising=False)
    result = run_cli("plan", "--target-org", "rehearsal", "--app", APP, "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["orgId"] == fake_org.org_id
    assert document["target"] == f"org rehearsal ({fake_org.org_id})"
    assert fake_org.access_token not in result.stdout


def test_target_org_unknown_alias(tmp_path, monkeypatch):
    orgs = tmp_path / "orgs.json"
    orgs.write_text("{}")
    fake_sf = Path(__file__).parent / "fake_sf"
    monkeypatch.setenv("PATH", f"{fake_sf}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_SF_ORGS", str(orgs))
    result = run_cli("plan", "--target-org", "nosuch", "--app", APP)
    assert result.exit_code == 1
    assert "nosuch" in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_ca_bundle_one_line(fake_org, tmp_path, org_args, monkeypatch):
    seed_connected_app(fake_org, tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing-ca.pem"))
    result = run_cli("plan", *org_args, "--app", APP)
    assert result.exit_code == 1
    assert "REQUESTS_CA_BUNDLE" in result.stderr
    assert result.stderr.count("\n") == 1


def test_app_and_all_together_rejected(org_args):
    result = run_cli("plan", *org_args, "--app", APP, "--all")
    assert result.exit_code == 1
    assert "not both" in result.stderr


def test_org_create_leaves_policy_unnamed(fake_org, tmp_path, org_args):
    seed_connected_app(fake_org, tmp_path)
    document = plan_json(org_args, "--app", APP)
    policy = next(c for c in document["apps"][0]["components"] if c["type"] == "ExtlClntAppOauthConfigurablePolicies")
    assert policy["fullName"] is None
    text = run_cli("plan", *org_args, "--app", APP, "--no-color").stdout
    assert "named by Salesforce when it creates the ECA" in text
