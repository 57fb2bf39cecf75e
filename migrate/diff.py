"""Compare two states of an ECA component with deepdiff and return our own change records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrate.specfiles import ScopeSpec, split_scopes

_ABSENT = object()

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


def _for_deepdiff(value: Any) -> Any:
    # Containers are already known to differ, and a plan reports whole fields, so
    # deepdiff gets them as text instead of walking their items.
    if isinstance(value, frozenset):
        return repr(sorted(value))
    if isinstance(value, tuple):
        return repr(value)
    return value


def changed_fields(
    states: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
    scopes: ScopeSpec,
) -> dict[tuple[str, str], str]:
    """Return {(component, field path): "add" | "change" | "remove"} for fields that differ.

    `states` maps each component to its (current, desired) fields. All components go
    to deepdiff in one call, because its cost is mostly per call rather than per field.
    """
    from deepdiff import DeepDiff

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for component, (current, desired) in states.items():
        old = {key: comparable(key, value, scopes) for key, value in current.items() if value is not None}
        new = {key: comparable(key, value, scopes) for key, value in desired.items() if value is not None}
        # Most fields match; only the keys that differ go to deepdiff, which classifies them.
        for key in old.keys() | new.keys():
            if old.get(key, _ABSENT) != new.get(key, _ABSENT):
                if key in old:
                    before[f"{component}\0{key}"] = _for_deepdiff(old[key])
                if key in new:
                    after[f"{component}\0{key}"] = _for_deepdiff(new[key])
    changes: dict[tuple[str, str], str] = {}
    if not before or not after:
        # deepdiff reports an empty side as one change at the root; every key differs.
        changes.update({_split(key): "add" for key in after})
        changes.update({_split(key): "remove" for key in before})
        return changes
    # threshold_to_diff_deeper=0 keeps deepdiff from reporting a mostly-new dict as one root change.
    result = DeepDiff(before, after, view="tree", ignore_order=False, threshold_to_diff_deeper=0)
    for report, levels in result.items():
        for level in levels:
            key = _split(level.path(output_format="list")[0])
            if report == "dictionary_item_added":
                changes[key] = "add"
            elif report == "dictionary_item_removed":
                changes[key] = "remove"
            else:
                changes.setdefault(key, "change")
    return changes


def _split(key: str) -> tuple[str, str]:
    component, _, field_path = key.partition("\0")
    return component, field_path
