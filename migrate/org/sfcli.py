"""Read an org's URL, id and access token from the Salesforce CLI (``sf``).

``sf org display --json`` supplies the instance URL, org id and username. Since
Salesforce CLI 2.136.8 it replaces the access token with a placeholder that starts
with ``[REDACTED]``, so the token comes from ``sf org auth show-access-token --json``.
Older CLIs lack that command but still show the token in ``org display``, which is
used as a fallback. The raw output of either command is never logged or put in an
error message, because it can contain the token.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrate.org.errors import SalesforceCliError

logger = logging.getLogger(__name__)

REDACTED_PREFIX = "[REDACTED]"
CLI_TIMEOUT_SECONDS = 120.0

# Error names Salesforce CLI reports for an alias or username it has no login for.
# NOTE: only NamedOrgNotFoundError is confirmed (@salesforce/core AuthInfo raises it).
# The other names are unconfirmed guesses, so the message text is checked as well.
_UNKNOWN_ORG_ERRORS = frozenset(
    {"NamedOrgNotFoundError", "NamedOrgNotFound", "NoAuthInfoFound", "NoAuthorizationFound", "NoOrgFound"}
)
_SESSION_ID_PATTERN = re.compile(r"\b00D[0-9A-Za-z]{12,15}![0-9A-Za-z._\-]+")


@dataclass(frozen=True)
class CliOrg:
    """An org's connection details as Salesforce CLI stores them. ``access_token`` is left out of ``repr``."""

    target_org: str
    instance_url: str
    org_id: str | None
    username: str | None
    api_version: str | None
    access_token: str = field(repr=False)


def read_org(
    target_org: str,
    *,
    executable: str = "sf",
    timeout: float = CLI_TIMEOUT_SECONDS,
    environ: Mapping[str, str] | None = None,
) -> CliOrg:
    """Return the instance URL, org id, username and access token of a Salesforce CLI org.

    Raises SalesforceCliError when ``sf`` is not on PATH, does not know ``target_org``,
    fails, or returns no usable instance URL or access token.
    """
    env = dict(os.environ if environ is None else environ)
    path = shutil.which(executable, path=env.get("PATH"))
    if path is None:
        raise SalesforceCliError(
            target_org,
            "sf org display",
            f"the Salesforce CLI executable {executable!r} was not found on PATH",
            "Install Salesforce CLI (https://developer.salesforce.com/tools/salesforcecli), "
            "or connect with --instance-url and the SF_ACCESS_TOKEN environment variable.",
        )

    display = _run_json(path, ("org", "display"), target_org, env, timeout)
    result = display.get("result")
    if not isinstance(result, dict):
        raise _cli_error(target_org, "sf org display", "the output has no result object")

    instance_url = _usable(result.get("instanceUrl"))
    if instance_url is None:
        raise _cli_error(target_org, "sf org display", "the output has no instance URL")

    access_token = _read_access_token(path, target_org, env, timeout, fallback=_usable(result.get("accessToken")))
    return CliOrg(
        target_org=target_org,
        instance_url=instance_url.rstrip("/"),
        org_id=_usable(result.get("id")),
        username=_usable(result.get("username")),
        api_version=_usable(result.get("apiVersion")),
        access_token=access_token,
    )


def _read_access_token(
    path: str, target_org: str, env: dict[str, str], timeout: float, *, fallback: str | None
) -> str:
    call = "sf org auth show-access-token"
    try:
        output = _run_json(path, ("org", "auth", "show-access-token"), target_org, env, timeout)
    except SalesforceCliError as error:
        if fallback is not None:
            # Salesforce CLI before 2.136.8 has no show-access-token but still shows the token in org display.
            logger.debug("Using the access token from sf org display because %s failed: %s", call, error.problem)
            return fallback
        raise
    result = output.get("result")
    token = _usable(result.get("accessToken")) if isinstance(result, dict) else None
    token = token or fallback
    if token is None:
        raise SalesforceCliError(
            target_org,
            call,
            "Salesforce CLI returned no access token",
            f"Log in again with `sf org login web --alias {target_org}` and rerun.",
        )
    return token


def _run_json(
    path: str, command: Sequence[str], target_org: str, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Run ``sf <command> --target-org <target_org> --json`` and return its parsed JSON output.

    Raises SalesforceCliError on a timeout, non-JSON output, or a non-zero status.
    """
    call = "sf " + " ".join(command)
    logger.debug("Running %s --target-org %s --json", call, target_org)
    try:
        completed = subprocess.run(
            [path, *command, "--target-org", target_org, "--json"],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise _cli_error(target_org, call, f"the command did not finish within {timeout:g} seconds") from None
    except OSError as exc:
        raise _cli_error(target_org, call, f"the command could not be started ({exc.strerror})") from None

    output = _parse_json(completed.stdout) or _parse_json(completed.stderr)
    if output is None:
        raise _cli_error(target_org, call, f"the command exited with status {completed.returncode} and printed no JSON")

    status = output.get("status", completed.returncode)
    if completed.returncode == 0 and status == 0:
        return output

    name = str(output.get("name") or "")
    message = _scrub(str(output.get("message") or f"exit status {completed.returncode}"))
    if name in _UNKNOWN_ORG_ERRORS or "no authorization information found" in message.lower():
        raise SalesforceCliError(
            target_org,
            call,
            f"Salesforce CLI has no login for the alias or username {target_org!r} ({message})",
            f"Log in with `sf org login web --alias {target_org}`, or list the known orgs with `sf org list`.",
        )
    raise _cli_error(target_org, call, f"Salesforce CLI reported {name or 'an error'} ({message})")


def _cli_error(target_org: str, call: str, problem: str) -> SalesforceCliError:
    return SalesforceCliError(target_org, call, problem)


def _parse_json(text: str) -> dict[str, Any] | None:
    """Parse the JSON object in ``text``, skipping any banner lines printed before it."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _usable(value: Any) -> str | None:
    """Return ``value`` as a string, or None when it is missing, empty or a ``[REDACTED]`` placeholder."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or value.startswith(REDACTED_PREFIX):
        return None
    return value


def _scrub(text: str) -> str:
    return _SESSION_ID_PATTERN.sub("***", text)[:300]
