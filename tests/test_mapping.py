"""The declarative mapping: translations, validation of mapping files, and completeness."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from helpers import requires_corpus, CONNECTED_APPS, CORPUS, EXAMPLE, corpus_connected_apps
from migrate.errors import ConfigError
from migrate.mapping import map_connected_app
from migrate.model import ConnectedApp, leaf_paths
from migrate.reader import read_connected_apps
from migrate.specfiles import load_mapping, mappings_dir

REFERENCE = CORPUS.parent / "reference" / "salesforce-metadata.md"


def settings_of(path: Path) -> dict:
    (source,) = read_connected_apps(path)
    return {key: setting.value for key, setting in map_connected_app(source.app).settings.items()}


def test_scopes_join_in_source_order():
    settings = settings_of(EXAMPLE)
    assert settings[("ExtlClntAppOauthSettings", "commaSeparatedOauthScopes")] == "Api,Web,RefreshToken"


@requires_corpus
def test_unknown_scope_reported_not_carried():
    (source,) = read_connected_apps(CONNECTED_APPS / "001-thespis.connectedApp-meta.xml")
    dropped = [item.value for item in map_connected_app(source.app).not_carried if item.field == "oauthConfig.scopes"]
    assert dropped == ["ID", "ChatbotApi", "SfapApi"]


def test_admin_approved_becomes_policy_type():
    settings = settings_of(EXAMPLE)
    assert settings[("ExtlClntAppOauthConfigurablePolicies", "permittedUsersPolicyType")] == "AdminApprovedPreAuthorized"


@requires_corpus
def test_refresh_token_lifetime_split():
    settings = settings_of(CONNECTED_APPS / "037-hamilton-workato-integrations.connectedApp-meta.xml")
    policies = "ExtlClntAppOauthConfigurablePolicies"
    assert settings[(policies, "refreshTokenPolicyType")] == "SpecificLifetime"
    assert settings[(policies, "refreshTokenValidityPeriod")] == 90
    assert settings[(policies, "refreshTokenValidityUnit")] == "Days"


@pytest.mark.parametrize(
    ("source_value", "expected"),
    [("ENFORCE", "Enforce"), ("BYPASS", "Bypass"), ("BYPASS_2FACTOR", "Bypass_2factor"), ("ENFORCE_RELAXREFRESH", "Enforce_RelaxRefresh")],
)
def test_ip_relaxation_enum(tmp_path, source_value, expected):
    data = EXAMPLE.read_bytes().replace(b"<ipRelaxation>ENFORCE</ipRelaxation>", f"<ipRelaxation>{source_value}</ipRelaxation>".encode())
    path = tmp_path / "App.connectedApp-meta.xml"
    path.write_bytes(data)
    assert settings_of(path)[("ExtlClntAppOauthConfigurablePolicies", "ipRelaxationPolicyType")] == expected


def test_unknown_ip_relaxation_not_carried(tmp_path):
    data = EXAMPLE.read_bytes().replace(b"<ipRelaxation>ENFORCE</ipRelaxation>", b"<ipRelaxation>SOMETIMES</ipRelaxation>")
    path = tmp_path / "App.connectedApp-meta.xml"
    path.write_bytes(data)
    (source,) = read_connected_apps(path)
    mapped = map_connected_app(source.app)
    assert ("ExtlClntAppOauthConfigurablePolicies", "ipRelaxationPolicyType") not in mapped.settings
    assert [item.field for item in mapped.not_carried if item.value == "SOMETIMES"] == ["oauthPolicy.ipRelaxation"]


@requires_corpus
def test_profiles_and_permission_sets_joined():
    settings = settings_of(CONNECTED_APPS / "030-fsm-azuredatalake.connectedApp-meta.xml")
    assert settings[("ExtlClntAppOauthConfigurablePolicies", "commaSeparatedProfile")]
    assert settings[("ExtlClntAppOauthConfigurablePolicies", "commaSeparatedPermissionSet")]


@requires_corpus
def test_id_token_validity_renamed():
    settings = settings_of(CONNECTED_APPS / "006-oraclecpq.connectedApp-meta.xml")
    assert settings[("ExtlClntAppGlobalOauthSettings", "idTokenConfig.idTokenValidityInMinutes")] == 2


def test_client_credentials_written_to_both():
    settings = settings_of(EXAMPLE)
    assert settings[("ExtlClntAppGlobalOauthSettings", "isClientCredentialsFlowEnabled")] is True
    assert settings[("ExtlClntAppOauthConfigurablePolicies", "isClientCredentialsFlowEnabled")] is True


def test_token_exchange_written_to_both(tmp_path):
    data = EXAMPLE.read_bytes().replace(b"<scopes>Api</scopes>", b"<isTokenExchangeEnabled>true</isTokenExchangeEnabled><scopes>Api</scopes>")
    path = tmp_path / "App.connectedApp-meta.xml"
    path.write_bytes(data)
    settings = settings_of(path)
    assert settings[("ExtlClntAppGlobalOauthSettings", "isTokenExchangeEnabled")] is True
    assert settings[("ExtlClntAppOauthConfigurablePolicies", "isTokenExchangeFlowEnabled")] is True


def test_pkce_default_written_explicitly():
    mapped = map_connected_app(read_connected_apps(EXAMPLE)[0].app)
    setting = mapped.settings[("ExtlClntAppGlobalOauthSettings", "isPkceRequired")]
    assert setting.value is False
    assert setting.origin == "default"


@requires_corpus
def test_ip_ranges_renamed():
    settings = settings_of(CONNECTED_APPS / "012-bsi-integration.connectedApp-meta.xml")
    (ip_range,) = settings[("ExtlClntAppOauthSettings", "trustedIpRanges")]
    assert ip_range.startIpAddress
    assert ip_range.endIpAddress


def test_consumer_secret_not_carried():
    mapped = map_connected_app(read_connected_apps(EXAMPLE)[0].app)
    fields = [item.field for item in mapped.not_carried]
    assert "oauthConfig.consumerSecret" in fields
    assert "oauthConfig.consumerKey" in fields
    assert not any(path in ("consumerKey", "consumerSecret") for _, path in mapped.settings)


@requires_corpus
def test_app_without_oauth_keeps_plugin_off():
    settings = settings_of(CONNECTED_APPS / "016-slack-saml.connectedApp-meta.xml")
    assert settings[("ExtlClntAppConfigurablePolicies", "isOauthPluginEnabled")] is False
    assert not any(component == "ExtlClntAppGlobalOauthSettings" for component, _ in settings)


# --- Mapping file validation ------------------------------------------------------------


def broken_mapping(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "connected-app-to-eca.toml"
    text = (mappings_dir() / "connected-app-to-eca.toml").read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_mapping_unknown_key_named(tmp_path):
    path = broken_mapping(tmp_path, 'source = "label"', 'source = "label"\ncolour = "blue"')
    with pytest.raises(ConfigError, match=r"connected-app-to-eca.toml: map\.0\.colour: unknown key"):
        load_mapping(path)


def test_mapping_unknown_component_named(tmp_path):
    path = broken_mapping(tmp_path, '"ExternalClientApplication.label"', '"ExternalClientApp.label"')
    with pytest.raises(ConfigError, match=r"map\.0\.targets: unknown component 'ExternalClientApp'"):
        load_mapping(path)


def test_mapping_unknown_target_field_named(tmp_path):
    path = broken_mapping(tmp_path, '"ExternalClientApplication.label"', '"ExternalClientApplication.title"')
    with pytest.raises(ConfigError, match=r"ExternalClientApplication has no field 'title'"):
        load_mapping(path)


def test_mapping_unknown_source_field_named(tmp_path):
    path = broken_mapping(tmp_path, 'source = "label"', 'source = "labels"')
    with pytest.raises(ConfigError, match=r"map\.0\.source: ConnectedApp has no field 'labels'"):
        load_mapping(path)


def test_mapping_enum_without_values(tmp_path):
    path = broken_mapping(tmp_path, '[map.values]\n"false"', '[map.other]\n"false"')
    with pytest.raises(ConfigError, match="unknown key|needs a \\[map.values\\] table"):
        load_mapping(path)


def test_mapping_source_listed_twice(tmp_path):
    path = broken_mapping(tmp_path, 'source = "contactPhone"', 'source = "label"')
    with pytest.raises(ConfigError, match="'label' is listed more than once"):
        load_mapping(path)


def test_mapping_invalid_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("version = [")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_mapping(path)


# --- Completeness -----------------------------------------------------------------------------


def covered(path: str, listed: set[str]) -> bool:
    """Return whether a field path or one of its enclosing blocks is listed."""
    parts = path.split(".")
    return any(".".join(parts[:depth]) in listed for depth in range(1, len(parts) + 1))


def listed_sources() -> set[str]:
    spec = load_mapping()
    return {rule.source for rule in (*spec.map, *spec.not_carried, *spec.foreign)}


def test_every_model_field_mapped_or_not_carried():
    listed = listed_sources()
    missing = [path for path in leaf_paths(ConnectedApp) if not covered(path, listed)]
    assert missing == []


@requires_corpus
def test_every_reference_field_in_model():
    """Every ConnectedApp field the reference tables name is a field of the model."""
    text = REFERENCE.read_text()
    section = text[text.index("## 1. ConnectedApp") : text.index("## 2. The External Client App family")]
    table_fields = set(re.findall(r"^\| `([a-zA-Z]+)` \|", section, re.M))
    model_names = {step for path in leaf_paths(ConnectedApp) for step in path.split(".")}
    model_names |= {"canvas", "mobileAppConfig", "attributes", "ipRanges", "assetTokenConfig", "idTokenConfig", "oauthConfig", "oauthPolicy", "samlConfig", "sessionPolicy", "canvasConfig"}
    assert sorted(table_fields - model_names) == []


@requires_corpus
def test_every_corpus_element_mapped_or_not_carried():
    listed = listed_sources()
    unmapped: set[str] = set()
    for path in corpus_connected_apps():
        (source,) = read_connected_apps(path)
        app = source.app
        for field_path in leaf_paths(ConnectedApp):
            steps = field_path.split(".")
            value = app
            for step in steps:
                value = getattr(value, step, None) if value is not None else None
            if value not in (None, ()) and not covered(field_path, listed):
                unmapped.add(field_path)
        for element in app.unknown:
            if not covered(element.path, listed):
                unmapped.add(element.path)
    assert sorted(unmapped) == []


def test_mappings_ship_in_wheel_config():
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '"mappings" = "migrate/mappings"' in pyproject


def test_mapping_dir_found_from_copy(tmp_path, monkeypatch):
    """An installed package finds mappings/ inside itself."""
    import migrate.specfiles as specfiles

    package = tmp_path / "migrate"
    shutil.copytree(mappings_dir(), package / "mappings")
    monkeypatch.setattr(specfiles, "__file__", str(package / "specfiles.py"))
    assert specfiles.mappings_dir() == package / "mappings"


def test_mapping_doc_matches_files():
    from migrate.mapping_table import BEGIN, END, render_table

    doc = (Path(__file__).resolve().parent.parent / "docs" / "mapping.md").read_text()
    assert doc[doc.index(BEGIN) : doc.index(END) + len(END)] == render_table()


def test_unknown_credential_element_hidden(tmp_path):
    data = EXAMPLE.read_bytes().replace(
        b"<scopes>Api</scopes>", b"<accessToken>00D000!LEAKEDTOKEN</accessToken><ConsumerSecret>LEAKED1</ConsumerSecret><scopes>Api</scopes>"
    )
    path = tmp_path / "App.connectedApp-meta.xml"
    path.write_bytes(data)
    mapped = map_connected_app(read_connected_apps(path)[0].app)
    shown = {item.field: str(item.value) for item in mapped.not_carried}
    assert shown["oauthConfig.accessToken"] == "(hidden, 18 characters)"
    assert shown["oauthConfig.ConsumerSecret"] == "(hidden, 7 characters)"


def test_enum_case_insensitive(tmp_path):
    data = EXAMPLE.read_bytes().replace(b"<ipRelaxation>ENFORCE</ipRelaxation>", b"<ipRelaxation>bypass</ipRelaxation>")
    path = tmp_path / "App.connectedApp-meta.xml"
    path.write_bytes(data)
    assert settings_of(path)[("ExtlClntAppOauthConfigurablePolicies", "ipRelaxationPolicyType")] == "Bypass"


@requires_corpus
def test_saml_app_gets_no_oauth_components():
    (source,) = read_connected_apps(CONNECTED_APPS / "101-flexdeploy-saml-attributes.connectedApp-meta.xml")
    mapped = map_connected_app(source.app)
    components = {component for component, _ in mapped.settings}
    assert components == {"ExternalClientApplication", "ExtlClntAppConfigurablePolicies"}
    assert any(item.field == "attributes" for item in mapped.not_carried)
