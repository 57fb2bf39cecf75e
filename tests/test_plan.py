"""Planning: the profile layered over the mapping, change records, conflicts and manual steps."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from helpers import requires_corpus, CONNECTED_APPS, EXAMPLE, ECA_SETS
from migrate.errors import ConfigError
from migrate.model import EcaBundle
from migrate.plan import plan_app
from migrate.reader import read_connected_apps, read_eca_components
from migrate.specfiles import builtin_profiles, load_profile
from migrate.workflow import check_api_version, plan_files, resolve_profile

VONAGE = load_profile(builtin_profiles()["vonage-ai-studio"])


def example_plan(api_version: str = "64.0", profile=VONAGE):
    (source,) = read_connected_apps(EXAMPLE)
    return plan_app(source, profile, api_version)


def change(app_plan, component: str, field: str):
    for item in app_plan.components:
        if item.type_name == component:
            for record in item.changes:
                if record.field == field:
                    return record
    return None


def test_every_component_created_from_file():
    actions = {component.type_name: component.action for component in example_plan().components}
    assert actions == {
        "ExternalClientApplication": "create",
        "ExtlClntAppGlobalOauthSettings": "create",
        "ExtlClntAppOauthSettings": "create",
        "ExtlClntAppConfigurablePolicies": "create",
        "ExtlClntAppOauthConfigurablePolicies": "create",
    }


def test_callback_fixed_by_profile():
    record = change(example_plan(), "ExtlClntAppGlobalOauthSettings", "callbackUrl")
    assert record.action == "change"
    assert record.new == "https://api-eu.vonage.com/oauth/redirect"
    assert record.reason == "required by Vonage AI Studio"


def test_scopes_fixed_by_profile():
    record = change(example_plan(), "ExtlClntAppOauthSettings", "commaSeparatedOauthScopes")
    assert record.current == "Api,Web,RefreshToken"
    assert record.new == "Api,Full,RefreshToken"


def test_scope_alias_counts_as_same(tmp_path):
    data = EXAMPLE.read_bytes().replace(b"<scopes>Web</scopes>", b"<scopes>Full</scopes>").replace(b"<scopes>RefreshToken</scopes>", b"<scopes>OfflineAccess</scopes>")
    path = tmp_path / "App.connectedApp-meta.xml"
    path.write_bytes(data)
    (source,) = read_connected_apps(path)
    record = change(plan_app(source, VONAGE, "64.0"), "ExtlClntAppOauthSettings", "commaSeparatedOauthScopes")
    assert record.action == "add"
    assert record.required is True
    assert record.reason == "required by Vonage AI Studio; the connected app already has it"


def test_profile_lists_removed():
    record = change(example_plan(), "ExtlClntAppOauthConfigurablePolicies", "commaSeparatedProfile")
    assert record.action == "remove"
    assert record.new is None


def test_refresh_token_period_removed():
    plan = example_plan()
    assert change(plan, "ExtlClntAppOauthConfigurablePolicies", "refreshTokenPolicyType").new == "Infinite"
    assert change(plan, "ExtlClntAppOauthConfigurablePolicies", "refreshTokenValidityPeriod").action == "remove"


def test_default_made_explicit_reason():
    record = change(example_plan(), "ExtlClntAppGlobalOauthSettings", "isRefreshTokenRotationEnabled")
    assert record.new is False
    assert record.reason == "default made explicit"


def test_required_default_says_required():
    record = change(example_plan(), "ExtlClntAppGlobalOauthSettings", "isPkceRequired")
    assert record.required is True
    assert record.reason == "required by Vonage AI Studio; also the connected-app default"


def test_desired_bundle_meets_profile():
    bundle = example_plan().desired
    glb = bundle.get("ExtlClntAppGlobalOauthSettings")
    policies = bundle.get("ExtlClntAppOauthConfigurablePolicies")
    assert glb.isPkceRequired is False
    assert glb.isConsumerSecretOptional is False
    assert glb.certificate is None
    assert policies.ipRelaxationPolicyType == "Bypass"
    assert policies.permittedUsersPolicyType == "AllSelfAuthorized"
    assert policies.externalClientApplication == "Vonage_AI_Studio"


def test_desired_bundle_has_no_credentials():
    glb = example_plan().desired.get("ExtlClntAppGlobalOauthSettings")
    assert glb.consumerKey is None
    assert glb.consumerSecret is None


def test_no_profile_keeps_connected_app_values():
    plan = example_plan(profile=None)
    glb = plan.desired.get("ExtlClntAppGlobalOauthSettings")
    assert glb.callbackUrl.startswith("https://api-us.vonage.com")
    assert all(record.action == "add" for component in plan.components for record in component.changes)


def test_old_api_version_is_conflict():
    plan = example_plan(api_version="60.0")
    fields = [(item.component, item.field) for item in plan.conflicts]
    assert ("ExtlClntAppGlobalOauthSettings", "isCodeCredFlowEnabled") in fields
    assert ("ExtlClntAppOauthConfigurablePolicies", "isGuestCodeCredFlowEnabled") in fields


def test_old_api_version_drops_carried_field():
    plan = example_plan(api_version="60.0")
    assert plan.desired.get("ExtlClntAppGlobalOauthSettings").isCodeCredPostOnly is None
    assert any("API 61.0 and later" in item.reason for item in plan.not_carried)


@requires_corpus
def test_invalid_api_name_is_conflict():
    (source,) = read_connected_apps(CONNECTED_APPS / "040-postman-hamilton.connectedApp-meta.xml")
    plan = plan_app(source, VONAGE, "64.0")
    assert [item.field for item in plan.conflicts] == ["fullName"]


def test_manual_steps_name_credentials_and_flows():
    steps = " ".join(example_plan().manual_steps)
    assert "new consumer key and consumer secret" in steps
    assert "username-password flow" in steps
    assert "idle refresh-token limit" in steps
    assert "Vonage API Dashboard" in steps


@requires_corpus
def test_devhub_app_kept():
    (source,) = read_connected_apps(CONNECTED_APPS / "028-devhub-gck8.connectedApp-meta.xml")
    steps = plan_app(dataclasses.replace(source, app=dataclasses.replace(source.app, fullName="DEVHUB_abc")), VONAGE, "64.0").manual_steps
    assert any("Dev Hub" in step for step in steps)


def compliant_bundle() -> EcaBundle:
    return example_plan().desired


def test_existing_compliant_ecas_unchanged():
    (source,) = read_connected_apps(EXAMPLE)
    plan = plan_app(source, VONAGE, "64.0", existing=compliant_bundle())
    assert not plan.has_changes
    assert {component.action for component in plan.components} == {"unchanged"}


def test_existing_eca_two_drifts():
    bundle = compliant_bundle()
    glb = dataclasses.replace(bundle.get("ExtlClntAppGlobalOauthSettings"), isPkceRequired=True)
    policies = dataclasses.replace(bundle.get("ExtlClntAppOauthConfigurablePolicies"), ipRelaxationPolicyType="Enforce")
    replacements = {glb.fullName: glb, policies.fullName: policies}
    drifted = EcaBundle(bundle.app, tuple(replacements.get(c.fullName, c) for c in bundle.components))
    (source,) = read_connected_apps(EXAMPLE)
    plan = plan_app(source, VONAGE, "64.0", existing=drifted)
    changed = [(c.type_name, r.field, r.current, r.new) for c in plan.components for r in c.changes]
    assert changed == [
        ("ExtlClntAppGlobalOauthSettings", "isPkceRequired", True, False),
        ("ExtlClntAppOauthConfigurablePolicies", "ipRelaxationPolicyType", "Enforce", "Bypass"),
    ]


def test_existing_names_kept():
    (source,) = read_connected_apps(EXAMPLE)
    bundle = compliant_bundle()
    policies = dataclasses.replace(bundle.get("ExtlClntAppOauthConfigurablePolicies"), fullName="Vonage_AI_Studio_oauth_defaultPolicy")
    renamed = EcaBundle(bundle.app, tuple(policies if type(c).__name__ == "ExtlClntAppOauthConfigurablePolicies" else c for c in bundle.components))
    plan = plan_app(source, VONAGE, "64.0", existing=renamed)
    assert plan.desired.get("ExtlClntAppOauthConfigurablePolicies").fullName == "Vonage_AI_Studio_oauth_defaultPolicy"


def test_server_managed_fields_ignored():
    (source,) = read_connected_apps(EXAMPLE)
    bundle = compliant_bundle()
    glb = dataclasses.replace(bundle.get("ExtlClntAppGlobalOauthSettings"), consumerKey="3MVG9EXAMPLE")
    with_key = EcaBundle(bundle.app, tuple(glb if type(c).__name__ == "ExtlClntAppGlobalOauthSettings" else c for c in bundle.components))
    assert not plan_app(source, VONAGE, "64.0", existing=with_key).has_changes


def test_plan_is_deterministic():
    first = plan_files(str(EXAMPLE), resolve_profile("vonage-ai-studio"), "64.0")
    second = plan_files(str(EXAMPLE), resolve_profile("vonage-ai-studio"), "64.0")
    assert first == second


def test_profile_unknown_name():
    with pytest.raises(ConfigError, match="profile 'acme' not found"):
        resolve_profile("acme")


def test_profile_file_with_unknown_scope(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('version = 1\nname = "p"\ntitle = "P"\n[require.ExtlClntAppOauthSettings]\ncommaSeparatedOauthScopes = "Api,Everything"\n')
    with pytest.raises(ConfigError, match="unknown scope token\\(s\\) Everything"):
        resolve_profile(str(path))


def test_profile_file_wrong_type(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('version = 1\nname = "p"\ntitle = "P"\n[require.ExtlClntAppGlobalOauthSettings]\nisPkceRequired = "no"\n')
    with pytest.raises(ConfigError, match="isPkceRequired is true or false"):
        resolve_profile(str(path))


def test_profile_file_unknown_field(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('version = 1\nname = "p"\ntitle = "P"\n[require.ExtlClntAppGlobalOauthSettings]\nisPkceOff = true\n')
    with pytest.raises(ConfigError, match="has no field 'isPkceOff'"):
        resolve_profile(str(path))


def test_custom_profile_applies(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('version = 1\nname = "acme"\ntitle = "Acme"\n[require.ExtlClntAppGlobalOauthSettings]\ncallbackUrl = "https://acme.example.com/cb"\n')
    (source,) = read_connected_apps(EXAMPLE)
    plan = plan_app(source, resolve_profile(str(path)).spec, "64.0")
    record = change(plan, "ExtlClntAppGlobalOauthSettings", "callbackUrl")
    assert record.reason == "required by Acme"


@pytest.mark.parametrize(("value", "expected"), [("64", "64.0"), ("66.0", "66.0")])
def test_api_version_normalised(value, expected):
    assert check_api_version(value) == expected


def test_api_version_too_low():
    with pytest.raises(ConfigError, match="need API 59.0 or later"):
        check_api_version("58.0")


def test_vonage_profile_covers_guide():
    required = {(component, field) for component, fields in VONAGE.require.items() for field in fields}
    assert ("ExternalClientApplication", "distributionState") in required
    assert ("ExtlClntAppGlobalOauthSettings", "isPkceRequired") in required
    assert ("ExtlClntAppGlobalOauthSettings", "isDeviceFlowEnabled") in required
    assert ("ExtlClntAppOauthConfigurablePolicies", "refreshTokenPolicyType") in required
    assert "certificate" in VONAGE.absent["ExtlClntAppGlobalOauthSettings"]


@requires_corpus
def test_corpus_eca_as_existing_state():
    components = read_eca_components(ECA_SETS / "002-ecaViaMetadata-retrieved")
    bundle = EcaBundle("ecaViaMetadata", components)
    (source,) = read_connected_apps(EXAMPLE)
    source = dataclasses.replace(source, app=dataclasses.replace(source.app, fullName="ecaViaMetadata"))
    plan = plan_app(source, VONAGE, "64.0", existing=bundle)
    actions = {component.type_name: component.action for component in plan.components}
    assert actions["ExtlClntAppOauthSettings"] == "update"
    assert actions["ExtlClntAppConfigurablePolicies"] == "create"


@pytest.mark.parametrize("value", ["nan", "inf", "1e3", "64.5", "", "sixty"])
def test_api_version_invalid(value):
    with pytest.raises(ConfigError, match="is not a version such as 64.0"):
        check_api_version(value)


def write_profile(tmp_path: Path, body: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text('version = 1\nname = "p"\ntitle = "P"\n' + body)
    return str(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[require.ExtlClntAppGlobalOauthSettings]\nidTokenConfig = 5\n", "is a nested structure"),
        ("[require.ExtlClntAppGlobalOauthSettings]\nconsumerKey = \"3MVG9X\"\n", "set by Salesforce or by the tool"),
        ("[require.ExtlClntAppOauthSettings]\noauthLink = \"00D:888\"\n", "set by Salesforce or by the tool"),
        ("[require.ExtlClntAppOauthConfigurablePolicies]\nipRelaxationPolicyType = \"Whatever\"\n", "must be one of Bypass"),
        (
            "[require.ExtlClntAppGlobalOauthSettings]\ncertificate = \"x\"\n[absent]\nExtlClntAppGlobalOauthSettings = [\"certificate\"]\n",
            "both required and listed as absent",
        ),
    ],
)
def test_profile_rejected(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        resolve_profile(write_profile(tmp_path, body))


def test_profile_not_utf8(tmp_path):
    path = tmp_path / "p.toml"
    path.write_bytes(b'version = 1\nname = "p"\ntitle = "\xff"\n')
    with pytest.raises(ConfigError, match="invalid TOML"):
        resolve_profile(str(path))


def test_profile_nested_field_allowed(tmp_path):
    profile = resolve_profile(write_profile(tmp_path, "[require.ExtlClntAppGlobalOauthSettings]\n\"idTokenConfig.idTokenValidityInMinutes\" = 5\n"))
    assert profile.spec.require["ExtlClntAppGlobalOauthSettings"]["idTokenConfig.idTokenValidityInMinutes"] == 5
