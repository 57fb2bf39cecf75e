"""In-memory zip files for Metadata API deploys and retrieves."""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
import zlib
from collections.abc import Mapping

from lxml import etree

from migrate.org.errors import ResponseFormatError

logger = logging.getLogger(__name__)

# Limits for a retrieved zip, so that a broken or hostile reply cannot exhaust memory.
# A retrieve of ECA components is a few kilobytes per component.
MAX_ENTRIES = 20_000
MAX_TOTAL_BYTES = 256 * 1024 * 1024

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

# A fixed timestamp makes the zip for the same files byte-for-byte identical.
_FIXED_DATE_TIME = (2000, 1, 1, 0, 0, 0)


def validate_member_path(path: str) -> str:
    """Return ``path`` if it is a relative POSIX path inside the zip, else raise ValueError."""
    normalized = posixpath.normpath(path)
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or normalized != path
        or normalized == "."
        or normalized.startswith("../")
        or normalized == ".."
    ):
        raise ValueError(
            f"deploy file path {path!r} is not a normalized relative path such as 'externalClientApps/App.eca'"
        )
    return path


def build_zip(files: Mapping[str, bytes]) -> bytes:
    """Return a deflated zip of ``files`` (path → content), written in sorted path order.

    Raises ValueError when ``package.xml`` is missing at the root or a path is not
    a normalized relative path.
    """
    if "package.xml" not in files:
        raise ValueError("deploy files must include package.xml at the root")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(validate_member_path(path), date_time=_FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path])
    return buffer.getvalue()


def read_zip(data: bytes) -> dict[str, bytes]:
    """Return the files in a retrieved zip keyed by their path, skipping folder entries.

    Raises ResponseFormatError when the data is not a zip or exceeds the size limits.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ResponseFormatError(f"the retrieved zipFile is not a zip archive ({exc})") from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > MAX_ENTRIES:
            raise ResponseFormatError(
                f"the retrieved zip has {len(entries):,} files, more than the limit of {MAX_ENTRIES:,}"
            )
        total = sum(info.file_size for info in entries)
        if total > MAX_TOTAL_BYTES:
            raise ResponseFormatError(
                f"the retrieved zip unpacks to {total:,} bytes, more than the limit of {MAX_TOTAL_BYTES:,}"
            )
        files: dict[str, bytes] = {}
        for info in entries:
            try:
                files[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, zlib.error, ValueError) as exc:
                raise ResponseFormatError(f"the retrieved zip entry {info.filename!r} cannot be read ({exc})") from None
        return files


def component_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """Return the component files of a retrieved zip: no package.xml, no top ``unpackaged/`` folder.

    An empty file, or a root element with no content, means the org returned nothing
    for that component, so it is left out as if not found.
    """
    if files and all(path.startswith("unpackaged/") for path in files):
        files = {path[len("unpackaged/") :]: content for path, content in files.items()}
    components = {}
    for path, content in files.items():
        if path == "package.xml" or path.endswith("/package.xml"):
            continue
        if _is_empty_component(content):
            logger.info("Retrieved file %s is empty; treating the component as not found", path)
            continue
        components[path] = content
    return components


def _is_empty_component(content: bytes) -> bool:
    if not content.strip():
        return True
    try:
        root = etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError:
        # Malformed XML is not "empty"; the caller's parser reports it with the file name.
        return False
    return len(root) == 0 and not (root.text or "").strip()
