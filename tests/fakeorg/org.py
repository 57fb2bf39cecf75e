"""The FakeOrg object: org state, fault rules, call log and the public test API."""

from __future__ import annotations

import hmac
import itertools
import logging
import secrets
import tempfile
import threading
import types
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from . import components, registry

log = logging.getLogger(__name__)

SOAP_CALLS = (
    "listMetadata",
    "readMetadata",
    "describeMetadata",
    "retrieve",
    "checkRetrieveStatus",
    "deploy",
    "checkDeployStatus",
)
CALLS = SOAP_CALLS + ("token", "rest")

# Fault kinds and the calls each one applies to.
FAULT_KINDS: dict[str, tuple[str, ...]] = {
    "expired_session": SOAP_CALLS + ("rest",),
    "server_error": CALLS,
    "request_limit": SOAP_CALLS + ("rest",),
    "dropped_connection": CALLS,
    "component_error": ("deploy",),
    "slow": ("checkDeployStatus", "checkRetrieveStatus"),
}

_ID_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(id15: str) -> str:
    """Return the 18-character form of a 15-character Salesforce id (case-safe checksum suffix)."""
    suffix = ""
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if char.isupper())
        suffix += _ID_SUFFIX_CHARS[bits]
    return id15 + suffix


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Call:
    """One request the fake org received.

    `name` is the call name used by inject_fault: a SOAP operation, "token" or
    "rest". `operation` is the first child of soapenv:Body for SOAP requests,
    otherwise the HTTP method. `status` is None when the connection was dropped.
    Request bodies are never recorded, so no token or secret reaches the log.
    """

    name: str
    operation: str
    types: tuple[str, ...]
    path: str
    status: int | None
    fault: str | None = None
    detail: str = ""


@dataclass
class Fault:
    kind: str
    remaining: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredComponent:
    type: str
    full_name: str
    xml: bytes
    id: str
    created_date: str
    modified_date: str


@dataclass
class User:
    id: str
    username: str
    name: str
    email: str


@dataclass
class Password:
    password: str
    security_token: str


@dataclass
class OAuthClient:
    client_id: str
    username: str
    secret: str | None = None
    public_key: Any = None


class FakeOrg:
    """A Salesforce org double served over HTTPS on 127.0.0.1 for tests and rehearsals.

    Call start() once and reset() between tests. All state changes go through one
    lock, so the threaded server and the test thread can both use the object.
    """

    org_id_15 = "00DFAKE00000001"
    user_id_15 = "005FAKE00000001"

    def __init__(self, port: int = 0):
        self._port = port
        self._lock = threading.RLock()
        self._server = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory | None = None
        self._ca_bundle: str | None = None
        self.org_id = id18(self.org_id_15)
        self.username = "admin@fake-org.example"
        self.access_token = f"{self.org_id_15}!FAKE.{secrets.token_urlsafe(32)}"
        self._id_counter = itertools.count(1)
        self._job_counter = itertools.count(1)
        self.server_errors: list[str] = []
        self._reset_state()

    # ----- lifecycle -------------------------------------------------------

    def start(self) -> "FakeOrg":
        """Create the throwaway CA, bind 127.0.0.1 and serve in a daemon thread."""
        from .server import make_server

        if self._server is not None:
            return self
        self._tempdir = tempfile.TemporaryDirectory(prefix="fakeorg-")
        self._server, self._ca_bundle = make_server(self, self._port, Path(self._tempdir.name))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakeorg", daemon=True)
        self._thread.start()
        log.info("fake org started at %s", self.instance_url)
        return self

    def stop(self) -> None:
        """Stop serving and delete the CA files."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
        log.info("fake org stopped")

    def __enter__(self) -> "FakeOrg":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOrg is not started; call start() first")
        return self._server.server_port

    @property
    def instance_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_bundle(self) -> str:
        """Path of the PEM file of the CA that signed the server certificate."""
        if self._ca_bundle is None:
            raise RuntimeError("FakeOrg is not started; call start() first")
        return self._ca_bundle

    # ----- state -----------------------------------------------------------

    def _reset_state(self) -> None:
        with self._lock:
            self._store: dict[tuple[str, str], StoredComponent] = {}
            self._jobs: dict[str, Any] = {}
            self._faults: dict[str, list[Fault]] = {}
            self._forced: dict[tuple[str, str], str] = {}
            self._calls: list[Call] = []
            default_user = User(id18(self.user_id_15), self.username, "Fake Admin", self.username)
            self._users: dict[str, User] = {self.username: default_user}
            self._tokens: dict[str, str] = {self.access_token: self.username}
            self._clients: dict[str, OAuthClient] = {}
            self._passwords: dict[str, Password] = {}
            # Settable org facts and switches. reset() restores these defaults.
            self.expose_consumer_secret = False
            self.org_name = "Fake Org"
            self.is_sandbox = False
            self.server_errors.clear()

    def reset(self) -> None:
        """Forget components, jobs, faults, forced fields, calls and OAuth clients.

        The server keeps running, and `access_token` stays valid.
        """
        self._reset_state()

    def seed(self, path: str | Path, *, skip_unknown: bool = False) -> list[tuple[str, str]]:
        """Load components from a file or folder, in metadata API or source layout.

        Files are matched by suffix (`X.eca`, `X.eca-meta.xml`, ...) anywhere
        under `path`; package.xml and other files are ignored unless their
        suffix names a modeled type. A file of an unmodeled type such as
        `X.settings-meta.xml` raises ValueError unless `skip_unknown` is true.
        Return the (type, fullName) pairs loaded.
        """
        root = Path(path)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        loaded: list[tuple[str, str]] = []
        for file_path in files:
            metadata_type, full_name = registry.type_for_path(file_path.name)
            if metadata_type is None:
                if _looks_like_component(file_path) and not skip_unknown:
                    raise ValueError(f"{file_path}: the fake org does not model this metadata type; pass skip_unknown=True to ignore it")
                continue
            try:
                element = components.parse(file_path.read_bytes())
            except components.ComponentError as exc:
                raise ValueError(f"{file_path}: {exc.problem}") from exc
            self._seed_component(metadata_type, full_name, element)
            loaded.append((metadata_type.name, full_name))
        return loaded

    def _seed_component(self, metadata_type: registry.MetadataType, full_name: str, element) -> None:
        """Store a seed as an org would hold it: with this org's ids and a consumer key and secret."""
        if metadata_type.name == registry.ECA:
            scoped = components.get_field(element, "orgScopedExternalApp")
            if scoped:
                components.set_field(element, metadata_type.name, "orgScopedExternalApp", f"{self.org_id_15}:{full_name}")
        if metadata_type.name == registry.OAUTH_SETTINGS:
            link = components.get_field(element, "oauthLink") or ""
            _, _, consumer_id = link.partition(":")
            components.set_field(
                element, metadata_type.name, "oauthLink", f"{self.org_id_15}:{consumer_id or self.new_id('888')}"
            )
        if metadata_type.name == registry.GLOBAL_OAUTH:
            if not components.get_field(element, "consumerKey"):
                components.set_field(element, metadata_type.name, "consumerKey", self.new_consumer_key())
            if not components.get_field(element, "consumerSecret"):
                components.set_field(element, metadata_type.name, "consumerSecret", self.new_consumer_secret())
        self.put_component(metadata_type.name, full_name, components.canonical_bytes(element))

    @property
    def components(self) -> Mapping[tuple[str, str], bytes]:
        """Read-only snapshot of the org: (type, fullName) -> stored XML bytes, secrets included."""
        with self._lock:
            return types.MappingProxyType({key: c.xml for key, c in self._store.items()})

    def component_xml(self, metadata_type: str, full_name: str) -> bytes | None:
        """Return the stored XML of one component (secrets included), or None."""
        with self._lock:
            stored = self._store.get((metadata_type, full_name))
            return stored.xml if stored else None

    def put_component(self, metadata_type: str, full_name: str, xml: bytes) -> StoredComponent:
        """Store or replace one component without any deploy checks."""
        with self._lock:
            previous = self._store.get((metadata_type, full_name))
            stamp = now_iso()
            stored = StoredComponent(
                type=metadata_type,
                full_name=full_name,
                xml=xml,
                id=previous.id if previous else self.new_id(_ID_PREFIXES.get(metadata_type, "0Fk")),
                created_date=previous.created_date if previous else stamp,
                modified_date=stamp,
            )
            self._store[(metadata_type, full_name)] = stored
            return stored

    def stored(self, metadata_type: str, full_name: str) -> StoredComponent | None:
        with self._lock:
            return self._store.get((metadata_type, full_name))

    def stored_of_type(self, metadata_type: str) -> list[StoredComponent]:
        with self._lock:
            return sorted(
                (c for (t, _), c in self._store.items() if t == metadata_type), key=lambda c: c.full_name
            )

    def force_field(self, metadata_type: str, field_name: str, value: str) -> None:
        """Make every deploy of `metadata_type` store `value` in `field_name`, whatever was sent.

        Models an org policy that locks a setting, e.g. PKCE forced on:
        force_field("ExtlClntAppGlobalOauthSettings", "isPkceRequired", "true").
        """
        if metadata_type not in registry.TYPES:
            raise ValueError(f"unknown metadata type {metadata_type!r}; expected one of {sorted(registry.TYPES)}")
        with self._lock:
            self._forced[(metadata_type, field_name)] = value

    def forced_fields(self, metadata_type: str) -> dict[str, str]:
        with self._lock:
            return {f: v for (t, f), v in self._forced.items() if t == metadata_type}

    # ----- ids and secrets ---------------------------------------------------

    def new_id(self, prefix: str) -> str:
        with self._lock:
            number = next(self._id_counter)
        return id18(f"{prefix}FK{number:010d}")

    def new_job_id(self, prefix: str) -> str:
        with self._lock:
            number = next(self._job_counter)
        return id18(f"{prefix}FK{number:010d}")

    @staticmethod
    def new_consumer_key() -> str:
        return "3MVG9FAKE" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "B")[:76]

    @staticmethod
    def new_consumer_secret() -> str:
        return secrets.token_hex(32).upper()

    # ----- faults --------------------------------------------------------------

    def inject_fault(self, call: str, kind: str, times: int = 1, **options: Any) -> None:
        """Make the next `times` requests of `call` fail in the way `kind` names.

        Calls: listMetadata, readMetadata, describeMetadata, retrieve,
        checkRetrieveStatus, deploy, checkDeployStatus, token, rest.
        Kinds: expired_session, server_error (option status=500),
        request_limit, dropped_connection, component_error (deploy only;
        options component="Type:Name" and problem="text"), slow
        (checkDeployStatus/checkRetrieveStatus return done=false). Every kind
        takes after=N: the first N matching requests pass untouched.
        """
        if call not in CALLS:
            raise ValueError(f"unknown call {call!r}; expected one of {', '.join(CALLS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if call not in FAULT_KINDS[kind]:
            raise ValueError(f"fault {kind!r} does not apply to call {call!r}; it applies to {', '.join(FAULT_KINDS[kind])}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._faults.setdefault(call, []).append(Fault(kind, times, dict(options)))

    def take_fault(self, call: str, kinds: tuple[str, ...] | None = None) -> Fault | None:
        """Consume one hit of the oldest pending fault for `call` (optionally only of `kinds`)."""
        with self._lock:
            for fault in self._faults.get(call, []):
                if fault.remaining > 0 and (kinds is None or fault.kind in kinds):
                    # Option after=N lets the first N matching requests through untouched.
                    skip = int(fault.options.get("after", 0))
                    if skip > 0:
                        fault.options["after"] = skip - 1
                        return None
                    fault.remaining -= 1
                    return fault
        return None

    # ----- call log ------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Copy of the call log, oldest first."""
        with self._lock:
            return list(self._calls)

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    # ----- identity ------------------------------------------------------------

    def register_jwt_client(self, client_id: str, cert_pem: str | bytes, username: str | None = None) -> None:
        """Accept JWT bearer assertions from `client_id` signed by the key of `cert_pem`.

        `cert_pem` is an X.509 certificate or a public key in PEM form. The
        token is issued for `username` (default: the org's admin user).
        """
        from . import auth

        username = username or self.username
        with self._lock:
            self._ensure_user(username)
            self._clients[client_id] = OAuthClient(client_id, username, public_key=auth.load_public_key(cert_pem))

    def register_client_credentials(self, client_id: str, secret: str, username: str | None = None) -> None:
        """Accept the client credentials flow for `client_id` + `secret`, running as `username`."""
        username = username or self.username
        with self._lock:
            self._ensure_user(username)
            self._clients[client_id] = OAuthClient(client_id, username, secret=secret)

    def register_password(self, username: str, password: str, security_token: str = "") -> None:
        """Accept SOAP login() for `username` with `password` followed by `security_token`."""
        with self._lock:
            self._ensure_user(username)
            self._passwords[username] = Password(password, security_token)

    def check_password(self, username: str, password_and_token: str) -> bool:
        with self._lock:
            registered = self._passwords.get(username)
        if registered is None:
            return False
        expected = (registered.password + registered.security_token).encode()
        return hmac.compare_digest(expected, password_and_token.encode())

    def _ensure_user(self, username: str) -> User:
        user = self._users.get(username)
        if user is None:
            user = User(self.new_id("005"), username, username.split("@")[0], username)
            self._users[username] = user
        return user

    def client(self, client_id: str) -> OAuthClient | None:
        with self._lock:
            return self._clients.get(client_id)

    def users(self) -> list[User]:
        with self._lock:
            return list(self._users.values())

    def issue_token(self, username: str) -> str:
        token = f"{self.org_id_15}!FAKE.{secrets.token_urlsafe(32)}"
        with self._lock:
            self._tokens[token] = username
        return token

    def user_for_token(self, token: str | None) -> User | None:
        with self._lock:
            username = self._tokens.get(token or "")
            return self._users.get(username) if username else None

    def login_session(self) -> requests.Session:
        """Return a requests.Session that sends `https://*.salesforce.com` requests to this fake.

        Pass it as `Salesforce(..., session=org.login_session())` to run
        simple-salesforce's JWT bearer or client credentials login against the
        fake. Requests to hosts other than *.salesforce.com and 127.0.0.1 raise
        requests.ConnectionError, so nothing leaves the machine.
        """
        session = requests.Session()
        session.verify = self.ca_bundle
        session.mount("https://", _LoopbackAdapter(self.instance_url))
        session.mount("http://", _LoopbackAdapter(self.instance_url))
        return session

    # ----- async jobs ------------------------------------------------------------

    def add_job(self, job_id: str, job: Any) -> None:
        with self._lock:
            self._jobs[job_id] = job

    def job(self, job_id: str) -> Any:
        with self._lock:
            return self._jobs.get(job_id)


_ID_PREFIXES = {
    # NOTE: only 0H4 (ConnectedApplication) is a real key prefix. The ECA
    # prefixes are invented because the real ones are not documented.
    registry.CONNECTED_APP: "0H4",
    registry.ECA: "0xI",
    registry.GLOBAL_OAUTH: "0xG",
    registry.OAUTH_SETTINGS: "0xO",
    registry.OAUTH_POLICY: "0xP",
    registry.PLUGIN_POLICY: "0xC",
    registry.SAML_POLICY: "0xS",
}


def _looks_like_component(path: Path) -> bool:
    """Return whether `path` is a metadata component file (any type), judged by its namespace."""
    if path.name == "package.xml" or path.name.startswith("destructiveChanges"):
        return False
    try:
        head = path.read_bytes()[:1024]
    except OSError:
        return False
    return registry.MD_NS.encode() in head


class _LoopbackAdapter(HTTPAdapter):
    """Transport adapter that rewrites *.salesforce.com URLs to the fake org and blocks other hosts."""

    def __init__(self, instance_url: str):
        super().__init__()
        self._target = urlsplit(instance_url)

    def send(self, request, **kwargs):  # noqa: ANN001 - requests' adapter signature
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if host == "salesforce.com" or host.endswith(".salesforce.com"):
            request.url = urlunsplit((self._target.scheme, self._target.netloc, parts.path, parts.query, ""))
        elif host not in ("127.0.0.1", "localhost"):
            raise requests.ConnectionError(f"fake org session blocks request to {host!r}; only 127.0.0.1 is reachable")
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)
