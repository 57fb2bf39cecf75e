"""Shared paths and a CLI runner that checks every run's output for leaked credentials."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from migrate.cli import cli

import os

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real files other people wrote, kept outside this repository; SFECA_CORPUS overrides.
CORPUS = Path(os.environ.get("SFECA_CORPUS", REPO.parent / "shared" / "corpus"))
requires_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} not found")
CONNECTED_APPS = CORPUS / "connected-apps"
ECA_SETS = CORPUS / "eca"
EXAMPLE = REPO / "docs" / "examples" / "Vonage_AI_Studio.connectedApp-meta.xml"
BROKEN = CONNECTED_APPS / "043-dev-cicd-broken.connectedApp-meta.xml"

SECRET_ELEMENTS = re.compile(rb"<(consumerSecret|certificate|encryptionCertificate)>([^<]{12,})</\1>", re.S)


def corpus_connected_apps() -> list[Path]:
    if not CONNECTED_APPS.is_dir():
        return []
    return sorted(path for path in CONNECTED_APPS.iterdir() if path.name != BROKEN.name)


@functools.cache
def input_secrets() -> frozenset[str]:
    """Return every consumer secret and certificate body found in the example and the corpus."""
    found: set[str] = set()
    paths = [EXAMPLE]
    if CORPUS.is_dir():
        paths += [*CONNECTED_APPS.iterdir(), *ECA_SETS.rglob("*.xml")]
    for path in paths:
        for match in SECRET_ELEMENTS.finditer(path.read_bytes()):
            body = match.group(2).decode("utf-8", "replace").strip()
            found.add(body)
            # A certificate body is also recognisable from any of its lines.
            found.update(line.strip() for line in body.splitlines() if len(line.strip()) >= 40)
    return frozenset(found)


def assert_no_secret(text: str) -> None:
    for secret in input_secrets():
        assert secret not in text, "a consumer secret or certificate body from the inputs appeared in output"


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run sfeca-migrate in-process and fail the test if its output carries a credential."""
    result = CliRunner().invoke(cli, [str(arg) for arg in args], prog_name="sfeca-migrate", catch_exceptions=False)
    outcome = CliResult(result.exit_code, result.stdout, result.stderr)
    assert_no_secret(outcome.stdout)
    assert_no_secret(outcome.stderr)
    return outcome
