"""Reading connected apps from files, folders and zips, and rejecting bad input cleanly."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from helpers import requires_corpus, BROKEN, CONNECTED_APPS, ECA_SETS, EXAMPLE
from migrate.errors import InputError
from migrate.reader import read_connected_apps, read_eca_components

MINIMAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">
    <contactEmail>owner@example.com</contactEmail>
    <label>Minimal</label>
</ConnectedApp>
"""


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_source_file_name_gives_full_name():
    (source,) = read_connected_apps(EXAMPLE)
    assert source.app.fullName == "Vonage_AI_Studio"
    assert source.app.label == "Vonage AI Studio"


def test_source_file_typed_fields():
    (source,) = read_connected_apps(EXAMPLE)
    oauth = source.app.oauthConfig
    assert oauth.isAdminApproved is True
    assert oauth.scopes == ("Api", "Web", "RefreshToken")
    assert source.app.profileName == ("System Administrator", "Vonage Integration")


@requires_corpus
def test_mdapi_file_parses():
    (source,) = read_connected_apps(CONNECTED_APPS / "046-web2lead.connectedApp")
    assert source.app.fullName == "046-web2lead"
    assert source.app.contactEmail


def test_folder_finds_every_app(tmp_path):
    write(tmp_path, "force-app/main/default/connectedApps/One.connectedApp-meta.xml", MINIMAL)
    write(tmp_path, "mdapi/connectedApps/Two.connectedApp", MINIMAL)
    write(tmp_path, "force-app/main/default/classes/Other.cls-meta.xml", b"<ApexClass/>")
    names = [source.app.fullName for source in read_connected_apps(tmp_path)]
    assert names == ["One", "Two"]


def test_folder_skips_node_modules(tmp_path):
    write(tmp_path, "connectedApps/One.connectedApp", MINIMAL)
    write(tmp_path, "node_modules/pkg/connectedApps/Two.connectedApp", MINIMAL)
    assert [source.app.fullName for source in read_connected_apps(tmp_path)] == ["One"]


def test_zip_of_mdapi_folder(tmp_path):
    archive = tmp_path / "retrieved.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("unpackaged/connectedApps/Zipped.connectedApp", MINIMAL)
        bundle.writestr("unpackaged/package.xml", b"<Package/>")
    (source,) = read_connected_apps(archive)
    assert source.app.fullName == "Zipped"
    assert source.path.endswith("retrieved.zip!unpackaged/connectedApps/Zipped.connectedApp")


def test_zip_not_a_zip(tmp_path):
    archive = write(tmp_path, "bad.zip", b"not a zip")
    with pytest.raises(InputError, match="not a readable zip file"):
        read_connected_apps(archive)


@requires_corpus
def test_broken_corpus_file_names_line():
    with pytest.raises(InputError) as caught:
        read_connected_apps(BROKEN)
    assert caught.value.line == 29
    assert str(BROKEN) in str(caught.value)
    assert "not well-formed XML" in str(caught.value)


def test_wrong_root_element(tmp_path):
    path = write(tmp_path, "X.connectedApp-meta.xml", MINIMAL.replace(b"ConnectedApp", b"ExternalClientApplication"))
    with pytest.raises(InputError, match=r"root element is <ExternalClientApplication>, expected <ConnectedApp>"):
        read_connected_apps(path)


def test_wrong_namespace(tmp_path):
    path = write(tmp_path, "X.connectedApp-meta.xml", MINIMAL.replace(b"2006/04/metadata", b"2005/09/outbound"))
    with pytest.raises(InputError, match="expected 'http://soap.sforce.com/2006/04/metadata'"):
        read_connected_apps(path)


def test_missing_namespace(tmp_path):
    path = write(tmp_path, "X.connectedApp-meta.xml", MINIMAL.replace(b' xmlns="http://soap.sforce.com/2006/04/metadata"', b""))
    with pytest.raises(InputError, match="has no namespace"):
        read_connected_apps(path)


@pytest.mark.parametrize("field", ["label", "contactEmail"])
def test_missing_required_field(tmp_path, field):
    data = b"\n".join(line for line in MINIMAL.splitlines() if f"<{field}>".encode() not in line)
    path = write(tmp_path, "X.connectedApp-meta.xml", data)
    with pytest.raises(InputError, match=f"missing required field <{field}>"):
        read_connected_apps(path)


def test_invalid_boolean_names_field(tmp_path):
    data = MINIMAL.replace(b"<label>", b"<oauthConfig><isAdminApproved>yes</isAdminApproved></oauthConfig><label>")
    path = write(tmp_path, "X.connectedApp-meta.xml", data)
    with pytest.raises(InputError, match="oauthConfig.isAdminApproved must be true or false"):
        read_connected_apps(path)


def test_path_does_not_exist(tmp_path):
    with pytest.raises(InputError, match="path does not exist"):
        read_connected_apps(tmp_path / "missing.connectedApp")


def test_folder_without_connected_app(tmp_path):
    write(tmp_path, "classes/A.cls", b"public class A {}")
    with pytest.raises(InputError, match="no connected app found"):
        read_connected_apps(tmp_path)


def test_unrelated_file_name(tmp_path):
    path = write(tmp_path, "notes.xml", MINIMAL)
    with pytest.raises(InputError, match="not a connected-app file"):
        read_connected_apps(path)


def test_duplicate_app_in_two_layouts(tmp_path):
    write(tmp_path, "a/connectedApps/Same.connectedApp", MINIMAL)
    write(tmp_path, "b/connectedApps/Same.connectedApp-meta.xml", MINIMAL)
    with pytest.raises(InputError, match="is also defined in"):
        read_connected_apps(tmp_path)


def test_entity_expansion_rejected(tmp_path):
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE ConnectedApp [<!ENTITY x "expanded">]>\n'
        b'<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">'
        b"<contactEmail>a@example.com</contactEmail><label>&x;</label></ConnectedApp>"
    )
    path = write(tmp_path, "X.connectedApp-meta.xml", data)
    with pytest.raises(InputError, match="DOCTYPE declarations are not allowed"):
        read_connected_apps(path)


def test_external_entity_not_fetched(tmp_path):
    secret = write(tmp_path, "secret.txt", b"TOP-SECRET")
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE ConnectedApp [<!ENTITY x SYSTEM "file://' + str(secret).encode() + b'">]>\n'
        b'<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">'
        b"<contactEmail>a@example.com</contactEmail><label>&x;</label></ConnectedApp>"
    )
    path = write(tmp_path, "X.connectedApp-meta.xml", data)
    with pytest.raises(InputError) as caught:
        read_connected_apps(path)
    assert "TOP-SECRET" not in str(caught.value)


def test_oversized_file_rejected(tmp_path):
    padding = b"<description>" + b"x" * (6 * 1024 * 1024) + b"</description>"
    path = write(tmp_path, "X.connectedApp-meta.xml", MINIMAL.replace(b"<label>", padding + b"<label>"))
    with pytest.raises(InputError, match="larger than the"):
        read_connected_apps(path)


@requires_corpus
def test_unknown_element_kept():
    (source,) = read_connected_apps(CONNECTED_APPS / "001-thespis.connectedApp-meta.xml")
    paths = [element.path for element in source.app.unknown]
    assert paths == ["oauthConfig.isConsumerKeyOptional"]


@requires_corpus
def test_crlf_file_parses():
    (source,) = read_connected_apps(CONNECTED_APPS / "004-azure-data-factory.connectedApp-meta.xml")
    assert source.app.oauthConfig.oauthClientCredentialUser


@requires_corpus
def test_eca_folder_reads_components():
    components = read_eca_components(ECA_SETS / "002-ecaViaMetadata-retrieved")
    types = sorted(type(component).__name__ for component in components)
    assert types == [
        "ExternalClientApplication",
        "ExtlClntAppGlobalOauthSettings",
        "ExtlClntAppOauthConfigurablePolicies",
        "ExtlClntAppOauthSettings",
    ]


def test_read_leaves_input_untouched(tmp_path):
    copy = tmp_path / EXAMPLE.name
    shutil.copy(EXAMPLE, copy)
    before = copy.read_bytes()
    read_connected_apps(copy)
    assert copy.read_bytes() == before


def test_zip_root_entry_named_from_file(tmp_path):
    archive = tmp_path / "root.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("Rooted.connectedApp-meta.xml", MINIMAL)
    (source,) = read_connected_apps(archive)
    assert source.app.fullName == "Rooted"


def test_zip_duplicate_entries_rejected(tmp_path):
    archive = tmp_path / "twice.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("connectedApps/Same.connectedApp", MINIMAL)
        with pytest.warns(UserWarning):
            bundle.writestr("connectedApps/Same.connectedApp", MINIMAL)
    with pytest.raises(InputError, match="two entries with this name"):
        read_connected_apps(archive)


def test_zip_encrypted_entry_clean_error(tmp_path):
    archive = tmp_path / "locked.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("connectedApps/Locked.connectedApp", MINIMAL)
    # Set the "encrypted" flag bit in the local header and in the central directory.
    data = bytearray(archive.read_bytes())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match="cannot read zip entry"):
        read_connected_apps(archive)


def test_zip_entry_over_limit_not_read(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("connectedApps/Big.connectedApp", b" " * (6 * 1024 * 1024))
    with pytest.raises(InputError, match="larger than the"):
        read_connected_apps(archive)


def test_fifo_rejected(tmp_path):
    fifo = tmp_path / "Pipe.connectedApp-meta.xml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_connected_apps(fifo)


def test_dangling_symlink_in_folder(tmp_path):
    write(tmp_path, "connectedApps/Good.connectedApp", MINIMAL)
    (tmp_path / "connectedApps" / "Gone.connectedApp").symlink_to(tmp_path / "missing")
    with pytest.raises(InputError, match="Gone.connectedApp: not a regular file"):
        read_connected_apps(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_folder_reported(tmp_path):
    write(tmp_path, "a/connectedApps/One.connectedApp", MINIMAL)
    hidden = tmp_path / "b"
    write(hidden, "connectedApps/Two.connectedApp", MINIMAL)
    hidden.chmod(0)
    try:
        with pytest.raises(InputError, match="cannot read folder"):
            read_connected_apps(tmp_path)
    finally:
        hidden.chmod(0o755)


def test_control_characters_escaped_in_error(tmp_path):
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("connectedApps/Bad\nname\x1b[31m.connectedApp", b"<broken")
    with pytest.raises(InputError) as caught:
        read_connected_apps(archive)
    assert "\n" not in str(caught.value)
    assert "\x1b" not in str(caught.value)
