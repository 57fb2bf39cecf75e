"""The fake org, driven by the real simple-salesforce over HTTPS on 127.0.0.1.

Each test checks one rule or one fault of the fake, so that a change in the
fake (or in simple-salesforce) shows up as a named failure here before it
confuses the tool's own tests.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path

import pytest
import requests
import zeep.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from fakeorg import FakeOrg

MD = "http://soap.sforce.com/2006/04/metadata"
ECA = "ExternalClientApplication"
GLOBAL = "ExtlClntAppGlobalOauthSettings"
OAUTH = "ExtlClntAppOauthSettings"
POLICY = "ExtlClntAppOauthConfigurablePolicies"
PLUGIN = "ExtlClntAppConfigurablePolicies"
CONNECTED_APP = "ConnectedApp"

FOLDERS = {
    ECA: ("externalClientApps", "eca"),
    GLOBAL: ("extlClntAppGlobalOauthSets", "ecaGlblOauth"),
    OAUTH: ("extlClntAppOauthSettings", "ecaOauth"),
    POLICY: ("extlClntAppOauthPolicies", "ecaOauthPlcy"),
    PLUGIN: ("extlClntAppPolicies", "ecaPlcy"),
    CONNECTED_APP: ("connectedApps", "connectedApp"),
}


# ----- helpers -------------------------------------------------------------------------


def component(root: str, **fields: str) -> bytes:
    """Build a component file with `fields` written in alphabetical order."""
    body = "".join(f"<{name}>{value}</{name}>" for name, value in sorted(fields.items()))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{MD}">{body}</{root}>'.encode()


def header(app: str = "App", **fields: str) -> bytes:
    return component(ECA, **{"contactEmail": "admin@example.com", "label": app, **fields})


def global_settings(app: str = "App", **fields: str) -> bytes:
    return component(
        GLOBAL,
        **{"callbackUrl": "https://partner.example/callback", "externalClientApplication": app, "label": app, **fields},
    )


def oauth_settings(app: str = "App", **fields: str) -> bytes:
    return component(OAUTH, **{"commaSeparatedOauthScopes": "Api,RefreshToken", "externalClientApplication": app, "label": app, **fields})


def oauth_policy(app: str = "App", **fields: str) -> bytes:
    return component(POLICY, **{"externalClientApplication": app, "label": app, **fields})


def plugin_policy(app: str = "App", **fields: str) -> bytes:
    return component(PLUGIN, **{"externalClientApplication": app, "isEnabled": "true", "label": app, **fields})


def eca_family(app: str = "App") -> dict[tuple[str, str], bytes]:
    return {
        (ECA, app): header(app),
        (GLOBAL, f"{app}_glbloauth"): global_settings(app),
        (OAUTH, f"{app}_oauth"): oauth_settings(app),
    }


def manifest(members: dict[str, list[str]], version: str = "64.0") -> bytes:
    types = "".join(
        "<types>" + "".join(f"<members>{m}</members>" for m in names) + f"<name>{type_name}</name></types>"
        for type_name, names in members.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Package xmlns="{MD}">{types}<version>{version}</version></Package>'.encode()


def make_zip(
    parts: dict[tuple[str, str], bytes],
    version: str = "64.0",
    package: bytes | None = None,
    extra: dict[str, bytes] | None = None,
    prefix: str = "",
) -> io.BytesIO:
    """Zip components in metadata API layout with a package.xml that lists exactly them."""
    members: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    for (type_name, name), data in parts.items():
        folder, suffix = FOLDERS[type_name]
        files[f"{folder}/{name}.{suffix}"] = data
        members.setdefault(type_name, []).append(name)
    files["package.xml"] = package if package is not None else manifest(members, version)
    files.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    buffer.seek(0)
    return buffer


def deploy(sf: Salesforce, archive: io.BytesIO, sandbox: bool = False, **options: object) -> dict:
    """Deploy and poll once. The fake finishes every job inside the deploy call, so one poll is enough without a slow fault."""
    started = sf.deploy(archive, sandbox=sandbox, **options)
    return sf.checkDeployStatus(started["asyncId"])


def errors(result: dict) -> list[str]:
    return [e["message"] for e in result["deployment_detail"]["errors"]]


def field(xml: bytes | None, name: str) -> str | None:
    assert xml is not None, "component not found in the fake org"
    return etree.fromstring(xml).findtext(f"{{{MD}}}{name}")


def retrieve_files(sf: Salesforce, members: dict[str, list[str]], **options: object) -> dict[str, bytes]:
    job_id, _ = sf.mdapi.retrieve("unused", unpackaged=members, **options)
    state, _, _, zip_bytes = sf.mdapi.retrieve_zip(job_id)
    assert state == "Succeeded"
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    return {name: archive.read(name) for name in archive.namelist()}


def rsa_key_and_cert() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-org-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def keypair() -> tuple[bytes, bytes]:
    return rsa_key_and_cert()


@pytest.fixture(scope="module")
def shared_sf(fake_org_server: FakeOrg) -> Salesforce:
    # One client for the module, because building sf.mdapi parses the bundled
    # WSDL (about 0.2 s). The default access token survives reset().
    return Salesforce(instance_url=fake_org_server.instance_url, session_id=fake_org_server.access_token, version="64.0")


@pytest.fixture
def sf(fake_org: FakeOrg, shared_sf: Salesforce) -> Salesforce:
    return shared_sf


def seed_family(org: FakeOrg, tmp_path: Path, app: str = "App") -> None:
    for (type_name, name), data in eca_family(app).items():
        folder, suffix = FOLDERS[type_name]
        path = tmp_path / "seed" / folder / f"{name}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    org.seed(tmp_path / "seed")


# ----- transport -------------------------------------------------------------------------


def test_server_listens_on_loopback_https(fake_org):
    assert fake_org.instance_url.startswith("https://127.0.0.1:")


def test_server_certificate_needs_fake_ca(fake_org):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{fake_org.instance_url}/services/data/", verify=requests.certs.where())


# ----- login -------------------------------------------------------------------------------


def test_jwt_login_issues_token(fake_org, keypair):
    key_pem, cert_pem = keypair
    fake_org.register_jwt_client("jwt-client", cert_pem, "integration@fake-org.example")
    sf = Salesforce(
        username="integration@fake-org.example",
        consumer_key="jwt-client",
        privatekey=key_pem.decode(),
        session=fake_org.login_session(),
        version="64.0",
    )
    records = sf.query("SELECT Username FROM User WHERE Username = 'integration@fake-org.example'")["records"]
    assert [r["Username"] for r in records] == ["integration@fake-org.example"]
    assert sf.sf_instance == fake_org.instance_url.removeprefix("https://")


def test_jwt_wrong_key_rejected(fake_org, keypair):
    _, cert_pem = keypair
    other_key, _ = rsa_key_and_cert()
    fake_org.register_jwt_client("jwt-client", cert_pem)
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_grant"):
        Salesforce(username=fake_org.username, consumer_key="jwt-client", privatekey=other_key.decode(),
                   session=fake_org.login_session())


def test_jwt_unknown_client_rejected(fake_org, keypair):
    key_pem, _ = keypair
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_client_id"):
        Salesforce(username=fake_org.username, consumer_key="nobody", privatekey=key_pem.decode(),
                   session=fake_org.login_session())


def test_jwt_other_user_rejected(fake_org, keypair):
    key_pem, cert_pem = keypair
    fake_org.register_jwt_client("jwt-client", cert_pem, "integration@fake-org.example")
    with pytest.warns(UserWarning, match="authorize"), pytest.raises(SalesforceAuthenticationFailed, match="approved"):
        Salesforce(username="someone.else@fake-org.example", consumer_key="jwt-client", privatekey=key_pem.decode(),
                   session=fake_org.login_session())


def test_client_credentials_login(fake_org):
    fake_org.register_client_credentials("cc-client", "cc-secret", "runas@fake-org.example")
    sf = Salesforce(consumer_key="cc-client", consumer_secret="cc-secret", domain="fake-org.my",
                    session=fake_org.login_session(), version="64.0")
    assert sf.oauth2("userinfo")["preferred_username"] == "runas@fake-org.example"


def test_client_credentials_wrong_secret(fake_org):
    fake_org.register_client_credentials("cc-client", "cc-secret")
    with pytest.raises(SalesforceAuthenticationFailed, match="invalid_client"):
        Salesforce(consumer_key="cc-client", consumer_secret="wrong", domain="fake-org.my",
                   session=fake_org.login_session())


def test_token_response_fields(fake_org):
    fake_org.register_client_credentials("cc-client", "cc-secret")
    reply = requests.post(f"{fake_org.instance_url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=("cc-client", "cc-secret"))
    body = reply.json()
    assert reply.status_code == 200
    assert body["instance_url"] == fake_org.instance_url
    assert body["token_type"] == "Bearer"
    assert body["id"].endswith(f"/id/{fake_org.org_id}/{body['id'].rsplit('/', 1)[1]}")
    assert body["access_token"].startswith(fake_org.org_id[:15] + "!")


def test_password_grant_unsupported(fake_org):
    reply = requests.post(f"{fake_org.instance_url}/services/oauth2/token",
                          data={"grant_type": "password", "username": "u", "password": "p"})
    assert reply.status_code == 400
    assert reply.json()["error"] == "unsupported_grant_type"


def test_soap_login_with_password(fake_org):
    fake_org.register_password("soap@fake-org.example", "pw", "TOKEN")
    sf = Salesforce(username="soap@fake-org.example", password="pw", security_token="TOKEN",
                    session=fake_org.login_session(), version="64.0")
    assert sf.oauth2("userinfo")["preferred_username"] == "soap@fake-org.example"


def test_soap_login_wrong_password(fake_org):
    fake_org.register_password("soap@fake-org.example", "pw", "TOKEN")
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        Salesforce(username="soap@fake-org.example", password="bad", security_token="TOKEN",
                   session=fake_org.login_session(), version="64.0")


def test_soap_login_unavailable_from_65(fake_org):
    fake_org.register_password("soap@fake-org.example", "pw", "TOKEN")
    with pytest.raises(SalesforceAuthenticationFailed, match="not available"):
        Salesforce(username="soap@fake-org.example", password="pw", security_token="TOKEN",
                   session=fake_org.login_session(), version="65.0")


def test_login_session_blocks_other_hosts(fake_org):
    with pytest.raises(requests.ConnectionError, match="only 127.0.0.1"):
        fake_org.login_session().get("https://example.com/")


# ----- REST ---------------------------------------------------------------------------------


def test_versions_list(fake_org):
    versions = requests.get(f"{fake_org.instance_url}/services/data/").json()
    assert {"label": "Summer '25", "url": "/services/data/v64.0", "version": "64.0"} in versions


def test_query_organization(sf, fake_org):
    record = sf.query("SELECT Id, Name, IsSandbox FROM Organization")["records"][0]
    assert record["Id"] == fake_org.org_id
    assert record["IsSandbox"] is False


def test_is_sandbox_follows_setting(sf, fake_org):
    fake_org.is_sandbox = True
    assert sf.is_sandbox() is True


def test_query_unknown_object_rejected(sf):
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_TYPE"):
        sf.query("SELECT Id FROM ConnectedApplication")


def test_query_unknown_field_rejected(sf):
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        sf.query("SELECT Id, Nickname FROM User")


def test_userinfo_names_org_and_user(sf, fake_org):
    info = sf.oauth2("userinfo")
    assert info["organization_id"] == fake_org.org_id
    assert info["preferred_username"] == fake_org.username


def test_identity_url(fake_org):
    user_id = requests.get(f"{fake_org.instance_url}/services/oauth2/userinfo",
                           headers={"Authorization": f"Bearer {fake_org.access_token}"}).json()["user_id"]
    identity = requests.get(f"{fake_org.instance_url}/id/{fake_org.org_id}/{user_id}",
                            headers={"Authorization": f"Bearer {fake_org.access_token}"}).json()
    assert identity["username"] == fake_org.username


def test_rest_unknown_token_rejected(fake_org):
    sf = Salesforce(instance_url=fake_org.instance_url, session_id="00Dbad!token", version="64.0")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Organization")


# ----- seeding -------------------------------------------------------------------------------


def test_seed_mdapi_layout(fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    assert set(fake_org.components) == set(eca_family())


def test_seed_source_layout(fake_org, tmp_path):
    path = tmp_path / "force-app" / "externalClientApps" / "Src.eca-meta.xml"
    path.parent.mkdir(parents=True)
    path.write_bytes(header("Src"))
    assert fake_org.seed(tmp_path) == [(ECA, "Src")]


def test_seed_connected_app_file(fake_org, tmp_path):
    path = tmp_path / "Old.connectedApp"
    path.write_bytes(component(CONNECTED_APP, contactEmail="a@example.com", label="Old"))
    fake_org.seed(path)
    assert fake_org.component_xml(CONNECTED_APP, "Old") is not None


def test_seed_unknown_type_rejected(fake_org, tmp_path):
    path = tmp_path / "settings" / "ExternalClientApp.settings-meta.xml"
    path.parent.mkdir()
    path.write_bytes(component("ExternalClientAppSettings"))
    with pytest.raises(ValueError, match="does not model"):
        fake_org.seed(tmp_path)
    assert fake_org.seed(tmp_path, skip_unknown=True) == []


def test_seed_rewrites_oauth_link(fake_org, tmp_path):
    path = tmp_path / "App_oauth.ecaOauth-meta.xml"
    path.write_bytes(oauth_settings(oauthLink="00DOTHER0000001:888OTHER0000001"))
    fake_org.seed(path)
    assert field(fake_org.component_xml(OAUTH, "App_oauth"), "oauthLink") == f"{fake_org.org_id[:15]}:888OTHER0000001"


# ----- reads ---------------------------------------------------------------------------------


def test_list_metadata_lists_components(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    listed = sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=ECA)])
    assert [(p.type, p.fullName, p.fileName) for p in listed] == [(ECA, "App", "externalClientApps/App.eca")]


def test_list_metadata_empty_type(sf):
    assert sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=POLICY)]) == []


def test_read_returns_fields(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    record = sf.mdapi.ExternalClientApplication.read(["App"])
    assert record.fullName == "App"
    assert record.contactEmail == "admin@example.com"


def test_read_missing_is_nil_record(sf):
    assert sf.mdapi.ExternalClientApplication.read(["Missing"]).fullName is None


def test_read_keeps_request_order(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path, "A")
    seed_family(fake_org, tmp_path, "B")
    records = sf.mdapi.ExternalClientApplication.read(["B", "Missing", "A"])
    assert [r.fullName for r in records] == ["B", None, "A"]


def test_read_hides_consumer_secret(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    record = sf.mdapi.ExtlClntAppGlobalOauthSettings.read(["App_glbloauth"])
    assert record.consumerKey
    assert record.consumerSecret is None


def test_read_shows_secret_when_exposed(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    fake_org.expose_consumer_secret = True
    record = sf.mdapi.ExtlClntAppGlobalOauthSettings.read(["App_glbloauth"])
    assert record.consumerSecret == field(fake_org.component_xml(GLOBAL, "App_glbloauth"), "consumerSecret")


def test_read_hides_connected_app_secret(sf, fake_org, tmp_path):
    path = tmp_path / "Old.connectedApp"
    path.write_bytes(
        f'<ConnectedApp xmlns="{MD}"><contactEmail>a@example.com</contactEmail><label>Old</label>'
        "<oauthConfig><callbackUrl>https://x.example/cb</callbackUrl><consumerKey>KEY</consumerKey>"
        "<consumerSecret>SECRET</consumerSecret></oauthConfig></ConnectedApp>".encode()
    )
    fake_org.seed(path)
    fake_org.expose_consumer_secret = True
    record = sf.mdapi.ConnectedApp.read(["Old"])
    assert record.oauthConfig.consumerKey == "KEY"
    assert record.oauthConfig.consumerSecret is None


def test_read_drops_newer_fields(fake_org, tmp_path):
    path = tmp_path / "App_oauth_defaultPolicy.ecaOauthPlcy"
    path.write_bytes(oauth_policy(isNamedUserJwtEnabled="false"))
    fake_org.seed(path)
    at_62 = Salesforce(instance_url=fake_org.instance_url, session_id=fake_org.access_token, version="62.0")
    at_64 = Salesforce(instance_url=fake_org.instance_url, session_id=fake_org.access_token, version="64.0")
    assert at_62.mdapi.ExtlClntAppOauthConfigurablePolicies.read(["App_oauth_defaultPolicy"]).isNamedUserJwtEnabled is False
    assert at_64.mdapi.ExtlClntAppOauthConfigurablePolicies.read(["App_oauth_defaultPolicy"]).isNamedUserJwtEnabled is None


def test_describe_metadata_lists_eca_types(sf):
    described = sf.mdapi.describe_metadata()
    folders = {o.xmlName: (o.directoryName, o.suffix) for o in described.metadataObjects}
    assert {name: folders[name] for name in FOLDERS} == FOLDERS


# ----- deploy ---------------------------------------------------------------------------------


def test_deploy_creates_eca_family(sf, fake_org):
    result = deploy(sf, make_zip(eca_family()))
    assert result["state"] == "Succeeded"
    assert result["deployment_detail"]["deployed_count"] == "3"
    assert set(eca_family()) <= set(fake_org.components)


def test_deploy_generates_consumer_credentials(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    stored = fake_org.component_xml(GLOBAL, "App_glbloauth")
    assert field(stored, "consumerKey").startswith("3MVG9")
    assert len(field(stored, "consumerSecret")) >= 32


def test_deploy_keeps_credentials_on_update(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    before = fake_org.component_xml(GLOBAL, "App_glbloauth")
    deploy(sf, make_zip({(GLOBAL, "App_glbloauth"): global_settings(callbackUrl="https://new.example/cb")}))
    after = fake_org.component_xml(GLOBAL, "App_glbloauth")
    assert field(after, "callbackUrl") == "https://new.example/cb"
    assert field(after, "consumerKey") == field(before, "consumerKey")
    assert field(after, "consumerSecret") == field(before, "consumerSecret")


def test_deploy_rotates_key_on_request(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    before = fake_org.component_xml(GLOBAL, "App_glbloauth")
    deploy(sf, make_zip({(GLOBAL, "App_glbloauth"): global_settings(shouldRotateConsumerKey="true")}))
    assert field(fake_org.component_xml(GLOBAL, "App_glbloauth"), "consumerKey") != field(before, "consumerKey")


def test_deploy_creates_default_oauth_policy(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    policy = fake_org.component_xml(POLICY, "App_oauth_defaultPolicy")
    assert field(policy, "externalClientApplication") == "App"
    assert field(policy, "permittedUsersPolicyType") == "AllSelfAuthorized"
    assert field(policy, "ipRelaxationPolicyType") == "Enforce"
    assert field(policy, "refreshTokenPolicyType") == "Infinite"
    for flag in ("isClientCredentialsFlowEnabled", "isGuestCodeCredFlowEnabled", "isTokenExchangeFlowEnabled"):
        assert field(policy, flag) == "false", flag


def test_deploy_resets_omitted_field(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    assert field(fake_org.component_xml(GLOBAL, "App_glbloauth"), "isPkceRequired") == "true"


def test_deploy_forced_field_wins(sf, fake_org):
    fake_org.force_field(GLOBAL, "isPkceRequired", "true")
    parts = {**eca_family(), (GLOBAL, "App_glbloauth"): global_settings(isPkceRequired="false")}
    assert deploy(sf, make_zip(parts))["state"] == "Succeeded"
    assert field(fake_org.component_xml(GLOBAL, "App_glbloauth"), "isPkceRequired") == "true"


def test_deploy_accepts_top_folder(sf, fake_org):
    assert deploy(sf, make_zip(eca_family(), prefix="src/"))["state"] == "Succeeded"


def test_deploy_child_of_existing_header(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    result = deploy(sf, make_zip({(PLUGIN, "App_plcy"): plugin_policy()}))
    assert result["state"] == "Succeeded"


def test_deploy_without_manifest_fails(sf, fake_org):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("externalClientApps/App.eca", header())
    archive.seek(0)
    result = deploy(sf, archive)
    assert result["state"] == "Failed"
    assert errors(result) == ["No package.xml found"]


def test_deploy_unknown_type_fails(sf):
    result = deploy(sf, make_zip({}, package=manifest({"ExtlClntAppPolicies": ["App_plcy"]})))
    assert result["state"] == "Failed"
    assert "Unknown type name 'ExtlClntAppPolicies'" in errors(result)[0]


def test_deploy_type_too_new_fails(sf):
    result = deploy(sf, make_zip({(PLUGIN, "App_plcy"): plugin_policy()}, version="59.0"))
    assert "Unknown type name 'ExtlClntAppConfigurablePolicies'" in errors(result)[0]


def test_deploy_unknown_folder_fails(sf, fake_org):
    result = deploy(sf, make_zip(eca_family(), extra={"externalClientApplications/App.eca": header()}))
    assert result["state"] == "Failed"
    assert "no metadata type uses folder 'externalClientApplications'" in errors(result)[0]
    assert fake_org.components == {}


def test_deploy_wrong_suffix_fails(sf):
    result = deploy(sf, make_zip(eca_family(), extra={"externalClientApps/App.eca-meta.xml": header()}))
    assert "must be named <fullName>.eca" in errors(result)[0]


def test_deploy_member_missing_from_zip_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): header()}, package=manifest({ECA: ["App", "Other"]})))
    assert errors(result) == [
        "An object 'Other' of type ExternalClientApplication was named in package.xml, but was not found in zipped directory"
    ]


def test_deploy_unlisted_file_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): header(), (ECA, "Extra"): header("Extra")}, package=manifest({ECA: ["App"]})))
    assert errors(result) == ["An object 'Extra' of type ExternalClientApplication was found in the zip but is not listed in package.xml"]


def test_deploy_wrong_root_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): component(GLOBAL, contactEmail="a@example.com", label="App")}))
    assert errors(result) == [
        f"Error parsing file: Element {{{MD}}}{GLOBAL} invalid at this location in type {ECA}"
    ]


def test_deploy_wrong_namespace_fails(sf):
    bad = b'<ExternalClientApplication xmlns="urn:other"><contactEmail>a@example.com</contactEmail><label>App</label></ExternalClientApplication>'
    result = deploy(sf, make_zip({(ECA, "App"): bad}))
    assert errors(result) == [f"Error parsing file: Element {{urn:other}}{ECA} invalid at this location in type {ECA}"]


def test_deploy_malformed_xml_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): b"<ExternalClientApplication"}))
    assert errors(result)[0].startswith("Error parsing file:")


def test_deploy_missing_contact_email_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): component(ECA, label="App")}))
    assert errors(result) == ["Required field is missing: contactEmail"]


def test_deploy_missing_label_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): component(ECA, contactEmail="a@example.com")}))
    assert errors(result) == ["Required field is missing: label"]


def test_deploy_missing_parent_name_fails(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    result = deploy(sf, make_zip({(OAUTH, "App_oauth"): component(OAUTH, label="App")}))
    assert errors(result) == ["Required field is missing: externalClientApplication"]


def test_deploy_plugin_policy_needs_is_enabled(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    result = deploy(sf, make_zip({(PLUGIN, "App_plcy"): component(PLUGIN, externalClientApplication="App", label="p")}))
    assert errors(result) == ["Required field is missing: isEnabled"]


def test_deploy_unknown_parent_fails(sf):
    result = deploy(sf, make_zip({(GLOBAL, "Ghost_glbloauth"): global_settings("Ghost")}))
    assert errors(result) == ["In field: externalClientApplication - no ExternalClientApplication named Ghost found"]


def test_deploy_out_of_order_fails(sf):
    unordered = f'<ExternalClientApplication xmlns="{MD}"><label>App</label><contactEmail>a@example.com</contactEmail></ExternalClientApplication>'
    result = deploy(sf, make_zip({(ECA, "App"): unordered.encode()}))
    assert errors(result) == [
        f"Error parsing file: Element {{{MD}}}contactEmail invalid at this location in type {ECA}"
    ]


def test_deploy_unknown_field_fails(sf):
    result = deploy(sf, make_zip({(ECA, "App"): header(isConsumerKeyOptional="true")}))
    assert errors(result) == [
        f"Error parsing file: Element {{{MD}}}isConsumerKeyOptional invalid at this location in type {ECA}"
    ]


def test_deploy_bad_enum_fails(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    result = deploy(sf, make_zip({(POLICY, "App_oauth_defaultPolicy"): oauth_policy(permittedUsersPolicyType="Everyone")}))
    assert errors(result) == ["Error parsing file: 'Everyone' is not a valid value for the enum 'PermittedUsersPolicyType'"]


@pytest.mark.parametrize(("version", "state"), [("60.0", "Failed"), ("62.0", "Succeeded"), ("63.0", "Succeeded"), ("64.0", "Failed")])
def test_deploy_named_user_jwt_by_version(sf, fake_org, tmp_path, version, state):
    seed_family(fake_org, tmp_path)
    parts = {(POLICY, "App_oauth_defaultPolicy"): oauth_policy(isNamedUserJwtEnabled="false")}
    assert deploy(sf, make_zip(parts, version=version))["state"] == state


def test_deploy_rollback_changes_nothing(sf, fake_org):
    parts = {**eca_family(), (GLOBAL, "Ghost_glbloauth"): global_settings("Ghost")}
    result = deploy(sf, make_zip(parts), sandbox=False)
    assert result["state"] == "Failed"
    assert fake_org.components == {}


def test_deploy_without_rollback_keeps_good_parts(sf, fake_org):
    parts = {**eca_family(), (GLOBAL, "Ghost_glbloauth"): global_settings("Ghost")}
    result = deploy(sf, make_zip(parts), sandbox=True)
    assert result["state"] == "SucceededPartial"
    assert fake_org.component_xml(ECA, "App") is not None
    assert fake_org.component_xml(GLOBAL, "Ghost_glbloauth") is None


def test_deploy_check_only_changes_nothing(sf, fake_org):
    result = deploy(sf, make_zip(eca_family()), checkOnly=True)
    assert result["state"] == "Succeeded"
    assert fake_org.components == {}


def test_deploy_check_only_reports_errors(sf, fake_org):
    result = deploy(sf, make_zip({(ECA, "App"): component(ECA, label="App")}), checkOnly=True)
    assert result["state"] == "Failed"


def test_first_deploy_default_policy_name(sf, fake_org):
    parts = {**eca_family(), (POLICY, "App_oauth_defaultPolicy"): oauth_policy(permittedUsersPolicyType="AdminApprovedPreAuthorized")}
    assert deploy(sf, make_zip(parts))["state"] == "Succeeded"
    assert field(fake_org.component_xml(POLICY, "App_oauth_defaultPolicy"), "permittedUsersPolicyType") == "AdminApprovedPreAuthorized"


def test_first_deploy_other_policy_duplicates(sf, fake_org):
    parts = {**eca_family(), (POLICY, "App_oauthPlcy"): oauth_policy()}
    result = deploy(sf, make_zip(parts))
    assert errors(result) == ["DUPLICATE_VALUE: ExtlClntAppOauthSettingsId duplicates value on App_oauth_defaultPolicy"]


def test_deploy_second_policy_duplicates(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    result = deploy(sf, make_zip({(POLICY, "App_oauthPlcy"): oauth_policy()}))
    assert result["state"] == "Failed"
    assert errors(result) == ["DUPLICATE_VALUE: ExtlClntAppOauthSettingsId duplicates value on App_oauth_defaultPolicy"]


def test_deploy_policy_update_keeps_name(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    result = deploy(sf, make_zip({(POLICY, "App_oauth_defaultPolicy"): oauth_policy(refreshTokenPolicyType="Zero")}))
    assert result["state"] == "Succeeded"
    assert field(fake_org.component_xml(POLICY, "App_oauth_defaultPolicy"), "refreshTokenPolicyType") == "Zero"


def test_deploy_foreign_oauth_link_fails(sf, fake_org):
    parts = {**eca_family(), (OAUTH, "App_oauth"): oauth_settings(oauthLink="00DOTHER0000001:888OTHER0000001")}
    result = deploy(sf, make_zip(parts))
    assert "refers to another org" in errors(result)[0]


def test_deploy_generates_oauth_link(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    link = field(fake_org.component_xml(OAUTH, "App_oauth"), "oauthLink")
    assert link.startswith(f"{fake_org.org_id[:15]}:888")


# ----- retrieve --------------------------------------------------------------------------------


def test_retrieve_returns_mdapi_zip(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    files = retrieve_files(sf, {ECA: ["App"], GLOBAL: ["App_glbloauth"]})
    assert sorted(files) == [
        "externalClientApps/App.eca",
        "extlClntAppGlobalOauthSets/App_glbloauth.ecaGlblOauth",
        "package.xml",
    ]
    package = etree.fromstring(files["package.xml"])
    assert package.findtext(f"{{{MD}}}version") == "64.0"
    assert sorted(package.xpath("//md:members/text()", namespaces={"md": MD})) == ["App", "App_glbloauth"]


def test_retrieve_omits_consumer_secret(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    files = retrieve_files(sf, {GLOBAL: ["App_glbloauth"]})
    stored = files["extlClntAppGlobalOauthSets/App_glbloauth.ecaGlblOauth"]
    assert field(stored, "consumerKey")
    assert field(stored, "consumerSecret") is None


def test_retrieve_includes_secret_when_exposed(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    fake_org.expose_consumer_secret = True
    files = retrieve_files(sf, {GLOBAL: ["App_glbloauth"]})
    assert field(files["extlClntAppGlobalOauthSets/App_glbloauth.ecaGlblOauth"], "consumerSecret")


def test_retrieve_oauth_settings_carry_link(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    files = retrieve_files(sf, {OAUTH: ["*"]})
    assert field(files["extlClntAppOauthSettings/App_oauth.ecaOauth"], "oauthLink").startswith(fake_org.org_id[:15] + ":888")


def test_retrieve_wildcard_lists_all(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path, "A")
    seed_family(fake_org, tmp_path, "B")
    files = retrieve_files(sf, {ECA: ["*"]})
    assert sorted(files) == ["externalClientApps/A.eca", "externalClientApps/B.eca", "package.xml"]


def test_retrieve_missing_member_message(sf):
    job_id, _ = sf.mdapi.retrieve("unused", unpackaged={ECA: ["Missing"]})
    result = sf.mdapi.retrieve_retrieve_result(job_id, "false")
    # The message is a direct child of result, as in the WSDL. simple-salesforce's
    # check_retrieve_status looks under details/ and so reports no messages.
    assert result.findtext(f"{{{MD}}}messages/{{{MD}}}problem") == (
        "Entity of type 'ExternalClientApplication' named 'Missing' cannot be found"
    )


def test_retrieve_unpackaged_folder(sf, fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    files = retrieve_files(sf, {ECA: ["App"]}, single_package=False)
    assert sorted(files) == ["unpackaged/externalClientApps/App.eca", "unpackaged/package.xml"]


# ----- faults ------------------------------------------------------------------------------------


def test_fault_expired_session_soap(sf, fake_org):
    fake_org.inject_fault("listMetadata", "expired_session")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=ECA)])
    assert caught.value.code == "sf:INVALID_SESSION_ID"


def test_fault_expired_session_rest(sf, fake_org):
    fake_org.inject_fault("rest", "expired_session")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Organization")


def test_fault_expired_session_relogin(fake_org):
    fake_org.register_client_credentials("cc-client", "cc-secret")
    sf = Salesforce(consumer_key="cc-client", consumer_secret="cc-secret", domain="fake-org.my",
                    session=fake_org.login_session(), version="64.0")
    fake_org.inject_fault("rest", "expired_session")
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    assert [c.name for c in fake_org.calls] == ["token", "rest", "token", "rest"]


def test_fault_server_error_deploy(sf, fake_org):
    fake_org.inject_fault("deploy", "server_error")
    with pytest.raises(SalesforceGeneralError):
        sf.deploy(make_zip(eca_family()), sandbox=False)
    assert fake_org.components == {}


def test_fault_server_error_read(sf, fake_org):
    fake_org.inject_fault("readMetadata", "server_error")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        sf.mdapi.ExternalClientApplication.read(["App"])
    assert caught.value.code == "sf:UNKNOWN_EXCEPTION"


def test_fault_request_limit_rest(sf, fake_org):
    fake_org.inject_fault("rest", "request_limit")
    with pytest.raises(SalesforceRefusedRequest, match="REQUEST_LIMIT_EXCEEDED"):
        sf.query("SELECT Id FROM Organization")


def test_fault_request_limit_soap(sf, fake_org):
    fake_org.inject_fault("readMetadata", "request_limit")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        sf.mdapi.ExternalClientApplication.read(["App"])
    assert caught.value.code == "sf:REQUEST_LIMIT_EXCEEDED"


def test_fault_component_error(sf, fake_org):
    fake_org.inject_fault("deploy", "component_error", component=f"{GLOBAL}:App_glbloauth", problem="Boom")
    result = deploy(sf, make_zip(eca_family()))
    assert result["state"] == "Failed"
    assert result["deployment_detail"]["errors"] == [
        {"type": GLOBAL, "file": "extlClntAppGlobalOauthSets/App_glbloauth.ecaGlblOauth", "status": "Error", "message": "Boom"}
    ]
    assert fake_org.components == {}


def test_fault_slow_deploy(sf, fake_org):
    fake_org.inject_fault("checkDeployStatus", "slow", times=2)
    started = sf.deploy(make_zip(eca_family()), sandbox=False)
    states = [sf.checkDeployStatus(started["asyncId"])["state"] for _ in range(3)]
    assert states == ["InProgress", "InProgress", "Succeeded"]


def test_fault_slow_retrieve(sf, fake_org):
    fake_org.inject_fault("checkRetrieveStatus", "slow")
    job_id, _ = sf.mdapi.retrieve("unused", unpackaged={ECA: ["*"]})
    assert sf.mdapi.check_retrieve_status(job_id)[0] == "InProgress"
    assert sf.mdapi.check_retrieve_status(job_id)[0] == "Succeeded"


def test_fault_dropped_connection(sf, fake_org):
    fake_org.inject_fault("rest", "dropped_connection")
    with pytest.raises(requests.ConnectionError):
        sf.query("SELECT Id FROM Organization")
    assert fake_org.calls[-1].status is None


def test_fault_dropped_connection_zeep(sf, fake_org):
    fake_org.inject_fault("listMetadata", "dropped_connection")
    with pytest.raises(requests.ConnectionError):
        sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=ECA)])


def test_fault_token_server_error(fake_org):
    fake_org.register_client_credentials("cc-client", "cc-secret")
    fake_org.inject_fault("token", "server_error")
    with pytest.raises(SalesforceAuthenticationFailed, match="server_error"):
        Salesforce(consumer_key="cc-client", consumer_secret="cc-secret", domain="fake-org.my",
                   session=fake_org.login_session())


def test_fault_times_counts_calls(sf, fake_org):
    fake_org.inject_fault("rest", "server_error", times=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError):
            sf.query("SELECT Id FROM Organization")
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1


def test_fault_kind_must_fit_call(fake_org):
    with pytest.raises(ValueError, match="does not apply"):
        fake_org.inject_fault("rest", "slow")


def test_invalid_session_soap(fake_org):
    sf = Salesforce(instance_url=fake_org.instance_url, session_id="00Dbad!token", version="64.0")
    with pytest.raises(SalesforceGeneralError, match="INVALID_SESSION_ID"):
        sf.deploy(make_zip(eca_family()), sandbox=False)


# ----- call log and reset ------------------------------------------------------------------------


def test_calls_record_operation_and_types(sf, fake_org):
    deploy(sf, make_zip(eca_family()))
    calls = [(c.name, c.types, c.status) for c in fake_org.calls]
    assert calls == [
        ("deploy", (ECA, GLOBAL, OAUTH), 200),
        ("checkDeployStatus", (ECA, GLOBAL, OAUTH), 200),
    ]
    assert fake_org.calls[0].path.endswith("/deployRequest")


def test_calls_hold_no_secrets(sf, fake_org):
    fake_org.register_client_credentials("cc-client", "cc-secret")
    requests.post(f"{fake_org.instance_url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                  auth=("cc-client", "cc-secret"))
    deploy(sf, make_zip(eca_family()))
    secret = field(fake_org.component_xml(GLOBAL, "App_glbloauth"), "consumerSecret")
    log = repr(fake_org.calls)
    assert secret not in log
    assert "cc-secret" not in log
    assert fake_org.access_token not in log


def test_reset_clears_state(fake_org, tmp_path):
    seed_family(fake_org, tmp_path)
    fake_org.inject_fault("rest", "server_error")
    fake_org.force_field(GLOBAL, "isPkceRequired", "true")
    fake_org.reset()
    assert fake_org.components == {}
    assert fake_org.calls == []
    assert requests.get(f"{fake_org.instance_url}/services/data/").status_code == 200


def test_unknown_soap_operation_faults(sf, fake_org):
    with pytest.raises(Exception, match="does not implement"):
        sf.mdapi.ExternalClientApplication.create([sf.mdapi.ExternalClientApplication(fullName="App", label="App")])

