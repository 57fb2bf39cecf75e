"""Credential-bearing metadata fields, and the placeholder shown in their place."""

from __future__ import annotations

from typing import Any

# Field names (last path step) whose values never appear in output. Certificates are
# public, but a plan has no use for the body and users treat them as sensitive.
SECRET_FIELDS = frozenset(
    {
        "certificate",
        "consumerKey",
        "consumerSecret",
        "encryptionCertificate",
        "clientAssertionCertificate",
    }
)


def is_secret(field_path: str) -> bool:
    return field_path.rsplit(".", 1)[-1] in SECRET_FIELDS


class HiddenValue(str):
    """The text shown in place of a credential: its length, never its content."""

    __slots__ = ()


def masked(field_path: str, value: Any) -> Any:
    """Return value, or a HiddenValue naming its length when the field contains a credential."""
    if value is None or isinstance(value, HiddenValue) or not is_secret(field_path):
        return value
    return HiddenValue(f"(hidden, {len(str(value))} characters)")
