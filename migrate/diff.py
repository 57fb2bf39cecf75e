"""Compare two states of an ECA component with deepdiff and return our own change records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrate.specfiles import ScopeSpec, split_scopes

SCOPE_FIELDS = frozenset({"commaSeparatedOauthScopes"})
# Fields compared as sets of comma-separated names.
NAME_LIST_FIELDS = frozenset({"commaSeparatedProfile", "commaSeparatedPermissionSet", "commaSeparatedCustomScopes"})


def comparable(field_path: str, value: Any, scopes: ScopeSpec) -> Any:
    """Return the form of a value that two equivalent settings share.

    Scopes compare as sets with aliases folded (OfflineAccess is RefreshToken);
    name lists compare as sets; line breaks in URL lists compare alike.
    """
    if value is None:
        return None
    name = field_path.rsplit(".", 1)[-1]
    if name in SCOPE_FIELDS and isinstance(value, str):
        return frozenset(scopes.canonical(token) for token in split_scopes(value))
    if name in NAME_LIST_FIELDS and isinstance(value, str):
        return frozenset(split_scopes(value))
    if name == "callbackUrl" and isinstance(value, str):
        return tuple(line.strip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip())
    return value


def changed_fields(
    current: Mapping[str, Any],
    desired: Mapping[str, Any],
    scopes: ScopeSpec,
) -> dict[str, str]:
    """Return {field path: "add" | "change" | "remove"} for fields whose values differ."""
    from deepdiff import DeepDiff

    before = {key: comparable(key, value, scopes) for key, value in current.items() if value is not None}
    after = {key: comparable(key, value, scopes) for key, value in desired.items() if value is not None}
    changes: dict[str, str] = {}
    if not before or not after:
        # deepdiff reports an empty side as one change at the root; every key differs.
        changes.update({key: "add" for key in after})
        changes.update({key: "remove" for key in before})
        return changes
    # threshold_to_diff_deeper=0 keeps deepdiff from reporting a mostly-new dict as one root change.
    result = DeepDiff(before, after, view="tree", ignore_order=False, threshold_to_diff_deeper=0)
    for report, levels in result.items():
        for level in levels:
            key = level.path(output_format="list")[0]
            if report == "dictionary_item_added":
                changes[key] = "add"
            elif report == "dictionary_item_removed":
                changes[key] = "remove"
            else:
                changes.setdefault(key, "change")
    return changes
