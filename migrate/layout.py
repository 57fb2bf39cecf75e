"""Folders and file suffixes of the metadata types, in source (SFDX) and metadata API layouts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TypeLayout:
    type_name: str
    folder: str
    suffix: str

    def mdapi_path(self, full_name: str) -> str:
        return f"{self.folder}/{full_name}.{self.suffix}"

    def source_path(self, full_name: str) -> str:
        return f"{self.folder}/{full_name}.{self.suffix}-meta.xml"


CONNECTED_APP = TypeLayout("ConnectedApp", "connectedApps", "connectedApp")

ECA_LAYOUTS: dict[str, TypeLayout] = {
    layout.type_name: layout
    for layout in (
        TypeLayout("ExternalClientApplication", "externalClientApps", "eca"),
        TypeLayout("ExtlClntAppGlobalOauthSettings", "extlClntAppGlobalOauthSets", "ecaGlblOauth"),
        TypeLayout("ExtlClntAppOauthSettings", "extlClntAppOauthSettings", "ecaOauth"),
        TypeLayout("ExtlClntAppConfigurablePolicies", "extlClntAppPolicies", "ecaPlcy"),
        TypeLayout("ExtlClntAppOauthConfigurablePolicies", "extlClntAppOauthPolicies", "ecaOauthPlcy"),
    )
}

ALL_LAYOUTS: dict[str, TypeLayout] = {CONNECTED_APP.type_name: CONNECTED_APP, **ECA_LAYOUTS}
# Keyed in lower case: older Metadata API releases wrote `.connectedapp` in a `connectedapps` folder.
LAYOUTS_BY_SUFFIX: dict[str, TypeLayout] = {layout.suffix.lower(): layout for layout in ALL_LAYOUTS.values()}


def classify(file_name: str) -> tuple[TypeLayout, str] | None:
    """Return the type layout and fullName for a metadata file name in either layout, or None."""
    # A zip member is written "archive.zip!folder/name"; only the last step is the file name.
    name = file_name.replace("!", "/").rsplit("/", 1)[-1]
    if name.endswith("-meta.xml"):
        name = name[: -len("-meta.xml")]
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return None
    layout = LAYOUTS_BY_SUFFIX.get(suffix.lower())
    if layout is None:
        return None
    return layout, stem
