"""An open connection to one org and the Metadata API calls the tool makes on it.

All calls use file-based Metadata API operations (listMetadata, retrieve, deploy and
their status checks) rather than the CRUD calls through zeep, because the WSDL
bundled with simple-salesforce 1.12.10 stops at API 63.0 and would drop newer fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from migrate.org import archive
from migrate.org import metadata_api as api
from migrate.org.errors import (
    AmbiguousComponent,
    DeployFailed,
    DeployInterrupted,
    ErrorContext,
    OrgError,
    PollTimedOut,
    ResponseFormatError,
    RetrieveFailed,
    UnexpectedResponse,
    translate_errors,
)
from migrate.org.metadata_api import DeployResult, FileProperties

logger = logging.getLogger(__name__)

OAUTH_POLICY_TYPE = "ExtlClntAppOauthConfigurablePolicies"
OAUTH_POLICY_SUFFIX = ".ecaOauthPlcy"

# listMetadata accepts at most three ListMetadataQuery elements per call.
LIST_METADATA_BATCH = 3

_SOAP_HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}

ProgressCallback = Callable[[DeployResult], None]


@dataclass(frozen=True)
class PollSettings:
    """Timing of deploy and retrieve status checks: first delay, growth factor, cap and deadline.

    All times are in seconds. ``read_retries`` is how many times a read-only call is
    repeated after a connection failure or an HTTP 5xx reply.
    """

    interval: float = 2.0
    max_interval: float = 30.0
    backoff: float = 1.5
    timeout: float = 3600.0
    read_retries: int = 2

    def delays(self) -> Iterator[float]:
        """Yield the wait before each status check, growing by ``backoff`` up to ``max_interval``."""
        delay = self.interval
        while True:
            yield delay
            delay = min(delay * self.backoff, self.max_interval)


class OrgSession:
    """A logged-in session on one org. Create it with ``migrate.org.connect``.

    Every method raises an ``OrgError`` subclass when the org cannot be reached or
    rejects a call. The access token lives in the simple-salesforce client and never
    appears in ``repr`` or in error messages.
    """

    def __init__(
        self,
        client: Any,
        *,
        org_id: str | None,
        username: str | None,
        instance_url: str,
        api_version: str,
        label: str,
        target_org: str | None,
        context: ErrorContext,
        poll: PollSettings,
    ) -> None:
        self._client = client
        self.org_id = org_id
        self.username = username
        self.instance_url = instance_url
        self.api_version = api_version
        self.label = label
        self.target_org = target_org
        self.poll = poll
        self._context = context

    def __repr__(self) -> str:
        return (
            f"OrgSession(label={self.label!r}, org_id={self.org_id!r}, username={self.username!r}, "
            f"instance_url={self.instance_url!r}, api_version={self.api_version!r})"
        )

    def close(self) -> None:
        """Close the HTTP connections. The access token stays valid in the org."""
        self._client.session.close()

    def __enter__(self) -> OrgSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- listMetadata -----------------------------------------------------------------

    def list_metadata(self, types: Iterable[str]) -> dict[str, list[FileProperties]]:
        """List the components of each type, sorted by full name.

        Every requested type is a key of the result; a type with no components maps to
        an empty list.
        """
        requested = list(dict.fromkeys(types))
        listing: dict[str, list[FileProperties]] = {type_name: [] for type_name in requested}
        for start in range(0, len(requested), LIST_METADATA_BATCH):
            batch = requested[start : start + LIST_METADATA_BATCH]
            envelope = api.list_metadata_request(self._session_id, batch, self.api_version)
            results = self._call("listMetadata", envelope, idempotent=True)
            with translate_errors(self._context, "listMetadata"):
                properties = [api.parse_file_properties(result) for result in results]
            for item in properties:
                listing.setdefault(item.type, []).append(item)
        for items in listing.values():
            items.sort(key=lambda item: item.full_name)
        return listing

    # -- retrieve ---------------------------------------------------------------------

    def retrieve(self, members: Mapping[str, Iterable[str]]) -> dict[str, bytes]:
        """Retrieve components and return their files keyed by path in Metadata API layout.

        ``members`` maps a type name to full names (``*`` for all). The result holds
        only component files, such as ``externalClientApps/App.eca``, and no
        ``package.xml``. A component the org does not have, or returns empty, is absent
        from the result.
        """
        requested = {type_name: sorted(set(names)) for type_name, names in members.items()}
        requested = {type_name: names for type_name, names in requested.items() if names}
        if not requested:
            return {}

        envelope = api.retrieve_request(self._session_id, requested, self.api_version)
        started = self._parse("retrieve", self._call("retrieve", envelope, idempotent=True), api.parse_async_result)
        job_id = started.id
        logger.info("Started retrieve %s on org %s", job_id, self.label)

        status = self._wait("retrieve", job_id, self._check_retrieve_status)
        if not status.success or status.status != "Succeeded":
            reason = _job_error(status.error_status_code, status.error_message)
            problem = f"the retrieve finished with status {status.status} ({reason})"
            raise RetrieveFailed(self.label, "retrieve", problem, job_id=job_id)
        for message in status.messages:
            logger.info("Retrieve %s on org %s: %s: %s", job_id, self.label, message.file_name, message.problem)

        with_zip = self._check_retrieve_status(job_id, include_zip=True)
        if with_zip.zip_file is None:
            raise UnexpectedResponse(
                self.label, "checkRetrieveStatus", "the finished retrieve returned no zipFile", job_id=job_id
            )
        with translate_errors(self._context, "retrieve", job_id=job_id):
            files = archive.read_zip(with_zip.zip_file)
        return archive.component_files(files)

    def _check_retrieve_status(self, job_id: str, *, include_zip: bool = False) -> api.RetrieveStatus:
        envelope = api.check_retrieve_status_request(self._session_id, job_id, include_zip=include_zip)
        results = self._call("checkRetrieveStatus", envelope, idempotent=True, job_id=job_id)
        return self._parse("checkRetrieveStatus", results, api.parse_retrieve_status, job_id=job_id)

    # -- OAuth policy lookup ----------------------------------------------------------

    def find_oauth_policy(self, app_name: str) -> str | None:
        """Return the full name of the app's ExtlClntAppOauthConfigurablePolicies component, or None.

        The org names this component when it creates it, and the name differs between
        Setup (``<App>_oauthPlcy``) and Metadata API deploys
        (``<OAuthSettings>_defaultPolicy``). So this lists every such component,
        retrieves them, and picks the one whose ``externalClientApplication`` is
        ``app_name``. Raises AmbiguousComponent when several match.
        """
        listing = self.list_metadata([OAUTH_POLICY_TYPE])[OAUTH_POLICY_TYPE]
        if not listing:
            return None
        names_by_file = {item.file_name: item.full_name for item in listing}
        files = self.retrieve({OAUTH_POLICY_TYPE: [item.full_name for item in listing]})

        matches = []
        for path, content in sorted(files.items()):
            if not path.endswith(OAUTH_POLICY_SUFFIX):
                continue
            with translate_errors(self._context, "retrieve"):
                owner = _child_text(content, path, "externalClientApplication")
            if owner == app_name:
                matches.append(names_by_file.get(path) or _full_name_from_path(path))
        if len(matches) > 1:
            raise AmbiguousComponent(
                self.label,
                "find OAuth policy",
                f"{len(matches)} {OAUTH_POLICY_TYPE} components name the app {app_name!r}: {', '.join(matches)}",
            )
        return matches[0] if matches else None

    # -- deploy -----------------------------------------------------------------------

    def deploy(
        self,
        files: Mapping[str, bytes],
        *,
        check_only: bool,
        test_level: str | None = None,
        tests: Iterable[str] | None = None,
        on_progress: ProgressCallback | None = None,
        raise_on_failure: bool = False,
    ) -> DeployResult:
        """Deploy ``files`` (path → content, with ``package.xml``) as one zip and wait for the result.

        The deploy rolls back on any error. With ``check_only`` it only validates.
        ``on_progress`` receives every status while the deploy runs and the final one.
        Ctrl-C while waiting raises DeployInterrupted, a KeyboardInterrupt carrying the
        deploy id; the deploy continues in the org. With ``raise_on_failure``, a deploy
        that finishes without success raises DeployFailed instead of returning.
        Raises ValueError for a bad test level or file path before contacting the org.
        """
        options = api.DeployOptions(check_only=check_only, test_level=test_level, run_tests=tuple(tests or ()))
        zip_bytes = archive.build_zip(files)
        call = "validate" if check_only else "deploy"

        envelope = api.deploy_request(self._session_id, zip_bytes, options)
        started = self._parse("deploy", self._call("deploy", envelope, idempotent=False), api.parse_async_result)
        deploy_id = started.id
        logger.info("Started %s %s on org %s (%d files)", call, deploy_id, self.label, len(files))

        try:
            result = self._wait("checkDeployStatus", deploy_id, self._check_deploy_status, on_progress)
        except KeyboardInterrupt as interrupt:
            raise DeployInterrupted(deploy_id, self.label, self.target_org) from interrupt

        logger.info("%s %s on org %s finished with status %s", call.capitalize(), deploy_id, self.label, result.status)
        if raise_on_failure and not result.success:
            summary = result.failure_summary().replace("\n", "; ")
            problem = f"the {call} finished with status {result.status}: {summary}"
            raise DeployFailed(self.label, call, problem, job_id=deploy_id)
        return result

    def _check_deploy_status(self, deploy_id: str) -> DeployResult:
        envelope = api.check_deploy_status_request(self._session_id, deploy_id)
        results = self._call("checkDeployStatus", envelope, idempotent=True, job_id=deploy_id)
        return self._parse("checkDeployStatus", results, api.parse_deploy_result, job_id=deploy_id)

    # -- shared plumbing --------------------------------------------------------------

    @property
    def _session_id(self) -> str:
        return str(self._client.session_id)

    def _wait(
        self,
        call: str,
        job_id: str,
        check: Callable[[str], Any],
        on_progress: ProgressCallback | None = None,
    ) -> Any:
        """Call ``check(job_id)`` with growing delays until its result is done, or raise PollTimedOut."""
        deadline = time.monotonic() + self.poll.timeout
        for delay in self.poll.delays():
            time.sleep(delay)
            status = check(job_id)
            if on_progress is not None:
                on_progress(status)
            if status.done:
                return status
            logger.debug("%s %s on org %s: %s", call, job_id, self.label, getattr(status, "status", "waiting"))
            if time.monotonic() >= deadline:
                raise PollTimedOut(
                    self.label,
                    call,
                    f"the job was still {getattr(status, 'status', 'running')} after {self.poll.timeout:g} seconds",
                    job_id=job_id,
                )
        raise AssertionError("PollSettings.delays() is endless")

    def _call(
        self, call: str, envelope: bytes, *, idempotent: bool, job_id: str | None = None
    ) -> list[etree._Element]:
        """POST a Metadata API request and return the result elements of its response.

        Read-only calls are repeated up to ``poll.read_retries`` times after a
        connection failure or HTTP 5xx. A deploy is never repeated, because the org may
        have started it before the connection broke.
        """
        from simple_salesforce.util import exception_handler

        attempts = 1 + (self.poll.read_retries if idempotent else 0)
        for attempt in range(1, attempts + 1):
            try:
                with translate_errors(self._context, call, job_id=job_id):
                    response = self._client.session.post(
                        self._client.metadata_url, data=envelope, headers=_SOAP_HEADERS
                    )
                    if response.status_code >= 300:
                        exception_handler(response, name=call)
                    return api.response_results(response.content, call)
            except OrgError as error:
                if not error.retryable or attempt == attempts:
                    raise
                delay = min(self.poll.interval * attempt, self.poll.max_interval)
                logger.warning(
                    "%s on org %s failed (%s); retrying in %.1f seconds, attempt %d of %d",
                    call,
                    self.label,
                    error.problem,
                    delay,
                    attempt + 1,
                    attempts,
                )
                time.sleep(delay)
        raise AssertionError("the retry loop always returns or raises")

    def _parse(
        self,
        call: str,
        results: list[etree._Element],
        parser: Callable[[etree._Element], Any],
        *,
        job_id: str | None = None,
    ) -> Any:
        with translate_errors(self._context, call, job_id=job_id):
            if len(results) != 1:
                raise ResponseFormatError(f"the {call} reply has {len(results)} results instead of one")
            return parser(results[0])


def _child_text(content: bytes, path: str, tag: str) -> str | None:
    try:
        root = etree.fromstring(content, parser=_COMPONENT_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ResponseFormatError(f"the retrieved file {path} is not valid XML ({exc.msg})") from None
    text = root.findtext(f"{{{api.MD_NS}}}{tag}")
    return text.strip() if text else None


def _full_name_from_path(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[: -len(OAUTH_POLICY_SUFFIX)] if name.endswith(OAUTH_POLICY_SUFFIX) else name


def _job_error(code: str | None, message: str | None) -> str:
    if code and message:
        return f"{code}: {message}"
    return message or code or "no error message"


_COMPONENT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
