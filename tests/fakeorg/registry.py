"""Metadata types the fake org models, and the schema used to check deploy files.

Field names, element order, value types and enum values come from the
Metadata API WSDL (API 63.0) bundled with simple-salesforce. Fields added
after 63.0, the API versions at which fields appear or disappear, and the
defaults a deploy applies to omitted fields come from the tables below,
which restate the Salesforce Metadata API Developer Guide page of each type.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

MIN_API_VERSION = 31.0
MAX_API_VERSION = 66.0


@dataclass(frozen=True)
class MetadataType:
    """One metadata type: its package.xml name, folder, file suffix and rules."""

    name: str
    folder: str
    suffix: str
    since: float
    # Root element of the component file, when it differs from `name`.
    root: str | None = None
    # True for the ECA child types that name their header in externalClientApplication.
    child_of_eca: bool = False
    # Fields a deploy must contain, beyond those the WSDL marks as required.
    required: tuple[str, ...] = ()

    @property
    def root_element(self) -> str:
        return self.root or self.name


CONNECTED_APP = "ConnectedApp"
ECA = "ExternalClientApplication"
GLOBAL_OAUTH = "ExtlClntAppGlobalOauthSettings"
OAUTH_SETTINGS = "ExtlClntAppOauthSettings"
OAUTH_POLICY = "ExtlClntAppOauthConfigurablePolicies"
PLUGIN_POLICY = "ExtlClntAppConfigurablePolicies"
SAML_POLICY = "ExtlClntAppSamlConfigurablePolicies"

TYPES: dict[str, MetadataType] = {
    t.name: t
    for t in (
        MetadataType(CONNECTED_APP, "connectedApps", "connectedApp", 29.0),
        MetadataType(ECA, "externalClientApps", "eca", 59.0, required=("contactEmail", "label")),
        MetadataType(GLOBAL_OAUTH, "extlClntAppGlobalOauthSets", "ecaGlblOauth", 59.0, child_of_eca=True),
        MetadataType(OAUTH_SETTINGS, "extlClntAppOauthSettings", "ecaOauth", 59.0, child_of_eca=True),
        MetadataType(OAUTH_POLICY, "extlClntAppOauthPolicies", "ecaOauthPlcy", 59.0, child_of_eca=True),
        MetadataType(PLUGIN_POLICY, "extlClntAppPolicies", "ecaPlcy", 60.0, child_of_eca=True, required=("isEnabled",)),
        MetadataType(SAML_POLICY, "extlClntAppSamlConfigurablePolicies", "ecaSamlPlcy", 63.0, child_of_eca=True),
    )
}

TYPES_BY_FOLDER = {t.folder: t for t in TYPES.values()}
TYPES_BY_SUFFIX = {t.suffix: t for t in TYPES.values()}

# Fields whose availability depends on the API version: (type, field) -> (first, last).
# `last` is None when the field is still valid at MAX_API_VERSION. The versions
# are those the Salesforce Metadata API Developer Guide gives for each field. isNamedUserJwtEnabled on
# OAuth policies deploys only at 61.0-63.0 and is rejected from 64.0 on.
FIELD_VERSIONS: dict[tuple[str, str], tuple[float, float | None]] = {
    (GLOBAL_OAUTH, "certificate"): (60.0, None),
    (GLOBAL_OAUTH, "isClientCredentialsFlowEnabled"): (60.0, None),
    (GLOBAL_OAUTH, "isCodeCredFlowEnabled"): (61.0, None),
    (GLOBAL_OAUTH, "isCodeCredPostOnly"): (61.0, None),
    (GLOBAL_OAUTH, "isDeviceFlowEnabled"): (60.0, None),
    (GLOBAL_OAUTH, "isNamedUserJwtEnabled"): (61.0, None),
    (GLOBAL_OAUTH, "isRefreshTokenRotationEnabled"): (60.0, None),
    (GLOBAL_OAUTH, "isSecretRequiredForTokenExchange"): (60.0, None),
    (GLOBAL_OAUTH, "isTokenExchangeEnabled"): (60.0, None),
    (OAUTH_SETTINGS, "areAttributesIncludedInAssetToken"): (61.0, None),
    (OAUTH_SETTINGS, "areCustomPermsIncludedInAssetToken"): (61.0, None),
    (OAUTH_SETTINGS, "assetTokenAudiences"): (61.0, None),
    (OAUTH_SETTINGS, "assetTokenSigningCertificate"): (61.0, None),
    (OAUTH_SETTINGS, "assetTokenValidity"): (61.0, None),
    (OAUTH_POLICY, "apexHandler"): (61.0, None),
    (OAUTH_POLICY, "clientCredentialsFlowUser"): (60.0, None),
    (OAUTH_POLICY, "commaSeparatedCustomScopes"): (61.0, None),
    (OAUTH_POLICY, "executeHandlerAs"): (61.0, None),
    (OAUTH_POLICY, "guestJwtTimeout"): (61.0, None),
    (OAUTH_POLICY, "namedUserJwtTimeout"): (61.0, None),
    (OAUTH_POLICY, "guestJwtSessionTimeoutType"): (65.0, None),
    (OAUTH_POLICY, "namedUserJwtSessionTimeoutType"): (65.0, None),
    (OAUTH_POLICY, "isClientCredentialsFlowEnabled"): (60.0, None),
    (OAUTH_POLICY, "isGuestCodeCredFlowEnabled"): (61.0, None),
    (OAUTH_POLICY, "isNamedUserJwtEnabled"): (61.0, 63.0),
    (OAUTH_POLICY, "isTokenExchangeFlowEnabled"): (60.0, None),
    (PLUGIN_POLICY, "isSamlPluginEnabled"): (63.0, None),
    (PLUGIN_POLICY, "isMobilePluginEnabled"): (63.0, None),
    (PLUGIN_POLICY, "isNotificationPluginEnabled"): (63.0, None),
    (PLUGIN_POLICY, "isPushPluginEnabled"): (63.0, None),
    (PLUGIN_POLICY, "isCanvasPluginEnabled"): (66.0, None),
    (PLUGIN_POLICY, "startPage"): (63.0, None),
    (PLUGIN_POLICY, "startUrl"): (63.0, None),
    # NOTE: seen in a real retrieve of an org newer than API 63.0. The first
    # version that accepts it is not documented, so 64.0 is a guess.
    (GLOBAL_OAUTH, "isEnforceRefreshTokenTTL"): (64.0, None),
}

# Fields newer than the bundled 63.0 WSDL: (type, field) -> XSD type name.
# Enum types listed here get their values from EXTRA_ENUMS.
EXTRA_FIELDS: dict[tuple[str, str], str] = {
    (OAUTH_POLICY, "guestJwtSessionTimeoutType"): "JWTSessionTimeoutType",
    (OAUTH_POLICY, "namedUserJwtSessionTimeoutType"): "JWTSessionTimeoutType",
    (PLUGIN_POLICY, "isCanvasPluginEnabled"): "boolean",
    (GLOBAL_OAUTH, "isEnforceRefreshTokenTTL"): "boolean",
}
EXTRA_ENUMS: dict[str, tuple[str, ...]] = {
    "JWTSessionTimeoutType": ("UserSession", "Custom"),
}

# Values a deploy stores for a field the file leaves out, because a Metadata API
# deploy is declarative: an omitted field is reset to its default, not kept.
# Only defaults that the Developer Guide states are listed, and a field is
# defaulted only when it is valid at the deploy's API version.
DEPLOY_DEFAULTS: dict[str, dict[str, str]] = {
    ECA: {"distributionState": "Local", "isProtected": "false"},
    GLOBAL_OAUTH: {
        "isCodeCredFlowEnabled": "false",
        "isCodeCredPostOnly": "false",
        "isConsumerSecretOptional": "false",
        "isIntrospectAllTokens": "false",
        "isNamedUserJwtEnabled": "false",
        "isPkceRequired": "true",
        "isSecretRequiredForRefreshToken": "true",
        "shouldRotateConsumerKey": "false",
        "shouldRotateConsumerSecret": "false",
    },
    OAUTH_SETTINGS: {
        "areAttributesIncludedInAssetToken": "false",
        "areCustomPermsIncludedInAssetToken": "false",
    },
    OAUTH_POLICY: {
        "ipRelaxationPolicyType": "Enforce",
        "isClientCredentialsFlowEnabled": "false",
        "isGuestCodeCredFlowEnabled": "false",
        "isTokenExchangeFlowEnabled": "false",
        "permittedUsersPolicyType": "AllSelfAuthorized",
        "refreshTokenPolicyType": "Infinite",
    },
    PLUGIN_POLICY: {
        "isCanvasPluginEnabled": "true",
        "isMobilePluginEnabled": "true",
        "isNotificationPluginEnabled": "true",
        "isOauthPluginEnabled": "true",
        "isPushPluginEnabled": "true",
        "isSamlPluginEnabled": "true",
    },
}

# Fields a read or retrieve never returns, whatever the org settings are.
ALWAYS_HIDDEN: dict[str, tuple[tuple[str, ...], ...]] = {
    CONNECTED_APP: (("oauthConfig", "consumerSecret"),),
}


def field_valid_at(type_name: str, field_name: str, version: float) -> bool:
    """Return whether `field_name` of `type_name` exists at API `version`."""
    first, last = FIELD_VERSIONS.get((type_name, field_name), (0.0, None))
    return version >= first and (last is None or version <= last)


@dataclass
class ElementDecl:
    """One element of an XSD sequence."""

    name: str
    xsd_type: str  # local name, e.g. "boolean", "string" or a complex/enum type name
    min_occurs: int = 1
    repeated: bool = False


@dataclass
class ComplexDecl:
    """An XSD complex type flattened to its element sequence (base type first)."""

    name: str
    elements: list[ElementDecl] = field(default_factory=list)

    def index(self) -> dict[str, int]:
        return {e.name: i for i, e in enumerate(self.elements)}


class Schema:
    """Complex and enum types of the Metadata API WSDL bundled with simple-salesforce."""

    def __init__(self, wsdl_path: Path):
        tree = etree.parse(str(wsdl_path))
        schema_nodes = tree.getroot().iter(f"{{{XSD_NS}}}schema")
        self._complex_nodes: dict[str, etree._Element] = {}
        self.enums: dict[str, tuple[str, ...]] = dict(EXTRA_ENUMS)
        for schema in schema_nodes:
            if schema.get("targetNamespace") != MD_NS:
                continue
            for node in schema.findall(f"{{{XSD_NS}}}complexType"):
                self._complex_nodes[node.get("name")] = node
            for node in schema.findall(f"{{{XSD_NS}}}simpleType"):
                values = tuple(e.get("value") for e in node.iter(f"{{{XSD_NS}}}enumeration"))
                if values:
                    self.enums[node.get("name")] = values
        self._cache: dict[str, ComplexDecl | None] = {}

    def complex_type(self, name: str) -> ComplexDecl | None:
        """Return the flattened sequence of complex type `name`, with post-63.0 fields added."""
        if name not in self._cache:
            self._cache[name] = self._build(name)
        return self._cache[name]

    def _build(self, name: str) -> ComplexDecl | None:
        node = self._complex_nodes.get(name)
        if node is None:
            return None
        decl = ComplexDecl(name)
        extension = node.find(f".//{{{XSD_NS}}}extension")
        if extension is not None:
            base = self.complex_type(_local(extension.get("base")))
            if base is not None:
                decl.elements.extend(base.elements)
        sequence = node.find(f".//{{{XSD_NS}}}sequence")
        own: list[ElementDecl] = []
        if sequence is not None:
            for element in sequence.findall(f"{{{XSD_NS}}}element"):
                own.append(
                    ElementDecl(
                        name=element.get("name"),
                        xsd_type=_local(element.get("type", "string")),
                        min_occurs=int(element.get("minOccurs", "1")),
                        repeated=element.get("maxOccurs", "1") != "1",
                    )
                )
        # The ECA family lists its fields alphabetically, so newer fields slot
        # into their alphabetical place.
        for (type_name, field_name), xsd_type in EXTRA_FIELDS.items():
            if type_name == name:
                own.append(ElementDecl(field_name, xsd_type, min_occurs=0))
                own.sort(key=lambda e: e.name.casefold())
        decl.elements.extend(own)
        return decl


def _local(qname: str) -> str:
    return qname.split(":", 1)[-1]


@functools.lru_cache(maxsize=1)
def schema() -> Schema:
    """Load the WSDL schema once per process."""
    import simple_salesforce

    return Schema(Path(simple_salesforce.__file__).parent / "metadata.wsdl")


def type_for_path(path: str) -> tuple[MetadataType | None, str | None]:
    """Map a file path in metadata API or source layout to (type, fullName).

    Source-format names end in `-meta.xml` (`X.eca-meta.xml`). The type is
    chosen by the suffix, so the folder name does not matter. Return
    (None, None) for files of types the fake org does not model.
    """
    name = Path(path).name
    if name.endswith("-meta.xml"):
        name = name[: -len("-meta.xml")]
    if "." not in name:
        return None, None
    full_name, suffix = name.rsplit(".", 1)
    metadata_type = TYPES_BY_SUFFIX.get(suffix)
    if metadata_type is None:
        return None, None
    return metadata_type, full_name
