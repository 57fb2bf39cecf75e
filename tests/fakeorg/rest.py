"""REST API: version list, identity, limits and a small SOQL subset.

The SOQL subset is `SELECT f1, f2 FROM Object [WHERE f = 'v' [AND ...]]
[ORDER BY f [ASC|DESC]] [LIMIT n]` over the Organization and User objects.
Anything else gets 400 MALFORMED_QUERY, INVALID_TYPE or INVALID_FIELD, so
a test notices a query the fake cannot handle.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from . import registry

if TYPE_CHECKING:
    from .org import FakeOrg, User

API_LIMIT = 15000

_VERSION_PATH = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<direction>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*(?P<field>\w+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|true|false|null|[\w.\-]+)\s*$", re.IGNORECASE)


class RestError(Exception):
    """An error sent as the REST list shape: [{"message", "errorCode"}]."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code}]


def release_label(version: float) -> str:
    """Release name of an API version, e.g. 64.0 -> "Summer '25" (three releases a year since 60.0 = Spring '24)."""
    steps = int(version) - 60
    season = ("Spring", "Summer", "Winter")[steps % 3]
    year = 24 + steps // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


def versions() -> list[dict[str, str]]:
    result = []
    version = registry.MIN_API_VERSION
    while version <= registry.MAX_API_VERSION:
        result.append({"label": release_label(version), "url": f"/services/data/v{version:.1f}", "version": f"{version:.1f}"})
        version += 1.0
    return result


def handle(org: "FakeOrg", method: str, path: str, args: dict[str, str], user: "User | None") -> tuple[int, Any]:
    """Handle one REST request and return (status, JSON body), or raise RestError."""
    if path.rstrip("/") == "/services/data":
        return 200, versions()
    if user is None:
        raise RestError(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if path.rstrip("/") == "/services/oauth2/userinfo":
        return 200, _userinfo(org, user)
    if path.startswith("/id/"):
        return 200, _identity(org, path, user)
    match = _VERSION_PATH.match(path)
    if match is None:
        raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
    version = float(match.group("version"))
    if not registry.MIN_API_VERSION <= version <= registry.MAX_API_VERSION:
        raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
    resource = (match.group("rest") or "/").strip("/")
    base = f"/services/data/v{version:.1f}"
    if method != "GET":
        raise RestError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET")
    if resource == "":
        return 200, {name: f"{base}/{name}" for name in ("limits", "query", "queryAll", "sobjects", "tooling")}
    if resource in ("query", "queryAll"):
        return 200, _query(org, args.get("q", ""), base, user)
    if resource == "limits":
        used = len([c for c in org.calls if c.name == "rest"])
        return 200, {"DailyApiRequests": {"Max": API_LIMIT, "Remaining": API_LIMIT - used}}
    raise RestError(404, "NOT_FOUND", "The requested resource does not exist")


def _userinfo(org: "FakeOrg", user: "User") -> dict[str, Any]:
    return {
        "sub": f"{org.instance_url}/id/{org.org_id}/{user.id}",
        "user_id": user.id,
        "organization_id": org.org_id,
        "preferred_username": user.username,
        "name": user.name,
        "email": user.email,
        "email_verified": True,
        "active": True,
        "user_type": "STANDARD",
        "urls": {"rest": f"{org.instance_url}/services/data/v{{version}}/"},
    }


def _identity(org: "FakeOrg", path: str, user: "User") -> dict[str, Any]:
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[1] != org.org_id:
        raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
    target = next((u for u in org.users() if u.id == parts[2]), None)
    if target is None:
        raise RestError(404, "NOT_FOUND", "The requested resource does not exist")
    return {
        "id": f"{org.instance_url}/id/{org.org_id}/{target.id}",
        "user_id": target.id,
        "organization_id": org.org_id,
        "username": target.username,
        "display_name": target.name,
        "email": target.email,
        "active": True,
        "user_type": "STANDARD",
        "urls": {"rest": f"{org.instance_url}/services/data/v{{version}}/"},
    }


def _organization(org: "FakeOrg") -> list[dict[str, Any]]:
    return [
        {
            "Id": org.org_id,
            "Name": org.org_name,
            "IsSandbox": org.is_sandbox,
            "OrganizationType": "Developer Edition",
            "InstanceName": "FAKE1",
            "NamespacePrefix": None,
            "LanguageLocaleKey": "en_US",
            "DefaultLocaleSidKey": "en_US",
            "TimeZoneSidKey": "GMT",
            "TrialExpirationDate": None,
        }
    ]


def _users(org: "FakeOrg") -> list[dict[str, Any]]:
    return [
        {"Id": u.id, "Username": u.username, "Name": u.name, "Email": u.email, "IsActive": True, "UserType": "Standard"}
        for u in org.users()
    ]


_OBJECTS: dict[str, Callable[["FakeOrg"], list[dict[str, Any]]]] = {
    "Organization": _organization,
    "User": _users,
}


def _query(org: "FakeOrg", soql: str, base: str, user: "User") -> dict[str, Any]:
    match = _SOQL.match(soql)
    if match is None:
        raise RestError(400, "MALFORMED_QUERY", f"The fake org cannot parse this query: {soql}")
    object_name = next((name for name in _OBJECTS if name.lower() == match.group("object").lower()), None)
    if object_name is None:
        raise RestError(
            400,
            "INVALID_TYPE",
            f"sObject type '{match.group('object')}' is not supported. The fake org answers queries on {', '.join(_OBJECTS)}.",
        )
    rows = _OBJECTS[object_name](org)
    columns = {name.lower(): name for name in rows[0]} if rows else {}
    fields = [_column(columns, f.strip(), object_name) for f in match.group("fields").split(",")]
    if match.group("where"):
        for condition in re.split(r"\s+AND\s+", match.group("where"), flags=re.IGNORECASE):
            rows = _filter(rows, condition, columns, object_name)
    if match.group("order"):
        key = _column(columns, match.group("order"), object_name)
        rows = sorted(rows, key=lambda r: (r[key] is None, r[key]), reverse=(match.group("direction") or "").upper() == "DESC")
    if match.group("limit"):
        rows = rows[: int(match.group("limit"))]
    records = []
    for row in rows:
        record: dict[str, Any] = {"attributes": {"type": object_name, "url": f"{base}/sobjects/{object_name}/{row['Id']}"}}
        record.update({name: row[name] for name in fields})
        records.append(record)
    return {"totalSize": len(records), "done": True, "records": records}


def _column(columns: dict[str, str], name: str, object_name: str) -> str:
    column = columns.get(name.lower())
    if column is None:
        raise RestError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{object_name}'.")
    return column


def _filter(rows: list[dict[str, Any]], condition: str, columns: dict[str, str], object_name: str) -> list[dict[str, Any]]:
    match = _CONDITION.match(condition)
    if match is None:
        raise RestError(400, "MALFORMED_QUERY", f"The fake org supports only field = value conditions joined by AND: {condition}")
    column = _column(columns, match.group("field"), object_name)
    raw = match.group("value")
    if raw.startswith("'"):
        expected: Any = raw[1:-1].replace("\\'", "'")
    elif raw.lower() in ("true", "false"):
        expected = raw.lower() == "true"
    elif raw.lower() == "null":
        expected = None
    else:
        expected = raw

    def matches(value: Any) -> bool:
        # SOQL compares text case-insensitively.
        if isinstance(value, str) and isinstance(expected, str):
            return value.casefold() == expected.casefold()
        return value == expected

    return [row for row in rows if matches(row[column])]
