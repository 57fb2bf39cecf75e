"""Writing ECA files exactly as Salesforce does, atomically, in both layouts."""

from __future__ import annotations

import os

import pytest

from helpers import EXAMPLE
from migrate.errors import OutputError
from migrate.model import ExtlClntAppGlobalOauthSettings, ExternalClientApplication
from migrate.plan import plan_app
from migrate.reader import read_connected_apps
from migrate.specfiles import builtin_profiles, load_profile
from migrate.writer import layout_files, render_component, render_package_xml, write_tree_atomically

VONAGE = load_profile(builtin_profiles()["vonage-ai-studio"])


def example_components():
    (source,) = read_connected_apps(EXAMPLE)
    return plan_app(source, VONAGE, "64.0").desired.components


def test_header_layout_exact():
    header = ExternalClientApplication(fullName="App", label="App", contactEmail="a@example.com", distributionState="Local", isProtected=False)
    assert render_component(header) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ExternalClientApplication xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        b"    <contactEmail>a@example.com</contactEmail>\n"
        b"    <distributionState>Local</distributionState>\n"
        b"    <isProtected>false</isProtected>\n"
        b"    <label>App</label>\n"
        b"</ExternalClientApplication>\n"
    )


def test_text_escaped_like_salesforce():
    header = ExternalClientApplication(fullName="App", description="R&D <team> \"quoted\" it's")
    assert b"<description>R&amp;D &lt;team&gt; &quot;quoted&quot; it&apos;s</description>" in render_component(header)


def test_elements_in_schema_order():
    xml = render_component(example_components()[1]).decode()
    tags = [line.strip().split(">")[0].lstrip("<") for line in xml.splitlines()[2:-1]]
    assert tags == sorted(tags)


def test_consumer_secret_never_written():
    settings = ExtlClntAppGlobalOauthSettings(fullName="App_glbloauth", consumerSecret="EXAMPLESECRET0000", label="x")
    assert b"EXAMPLESECRET" not in render_component(settings)


def test_source_layout_paths():
    files = layout_files(example_components(), "source", "64.0")
    assert sorted(files) == [
        "force-app/main/default/externalClientApps/Vonage_AI_Studio.eca-meta.xml",
        "force-app/main/default/extlClntAppGlobalOauthSets/Vonage_AI_Studio_glbloauth.ecaGlblOauth-meta.xml",
        "force-app/main/default/extlClntAppOauthPolicies/Vonage_AI_Studio_oauthPlcy.ecaOauthPlcy-meta.xml",
        "force-app/main/default/extlClntAppOauthSettings/Vonage_AI_Studio_oauth.ecaOauth-meta.xml",
        "force-app/main/default/extlClntAppPolicies/Vonage_AI_Studio_plcy.ecaPlcy-meta.xml",
        "manifest/package.xml",
        "sfdx-project.json",
    ]


def test_mdapi_layout_paths():
    files = layout_files(example_components(), "mdapi", "64.0")
    assert sorted(files) == [
        "externalClientApps/Vonage_AI_Studio.eca",
        "extlClntAppGlobalOauthSets/Vonage_AI_Studio_glbloauth.ecaGlblOauth",
        "extlClntAppOauthPolicies/Vonage_AI_Studio_oauthPlcy.ecaOauthPlcy",
        "extlClntAppOauthSettings/Vonage_AI_Studio_oauth.ecaOauth",
        "extlClntAppPolicies/Vonage_AI_Studio_plcy.ecaPlcy",
        "package.xml",
    ]


def test_package_xml_lists_five_types():
    package = layout_files(example_components(), "mdapi", "64.0")["package.xml"].decode()
    for type_name in (
        "ExternalClientApplication",
        "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthSettings",
        "ExtlClntAppConfigurablePolicies",
        "ExtlClntAppOauthConfigurablePolicies",
    ):
        assert f"<name>{type_name}</name>" in package
    assert "<version>64.0</version>" in package


def test_package_xml_sorted():
    xml = render_package_xml({"B": ["y", "x"], "A": ["z"]}, "64.0").decode()
    assert xml.index("<name>A</name>") < xml.index("<name>B</name>")
    assert xml.index("<members>x</members>") < xml.index("<members>y</members>")


def test_write_creates_folder(tmp_path):
    target = write_tree_atomically({"a/b.txt": b"1"}, tmp_path / "out", force=False)
    assert (target / "a" / "b.txt").read_bytes() == b"1"


def test_write_refuses_non_empty(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="folder is not empty"):
        write_tree_atomically({"a.txt": b"1"}, out, force=False)
    assert (out / "keep.txt").read_text() == "mine"


def test_write_force_replaces(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    write_tree_atomically({"new.txt": b"1"}, out, force=True)
    assert sorted(os.listdir(out)) == ["new.txt"]
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_write_into_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    write_tree_atomically({"a.txt": b"1"}, out, force=False)
    assert (out / "a.txt").exists()


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import migrate.writer as writer

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.os, "replace", fail)
    with pytest.raises(OutputError, match="nothing was changed"):
        write_tree_atomically({"a.txt": b"1"}, tmp_path / "out", force=False)
    assert os.listdir(tmp_path) == []


def test_target_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        write_tree_atomically({"a.txt": b"1"}, path, force=True)
