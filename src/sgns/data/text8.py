"""Fetch text8 (the first 10^8 bytes of cleaned English Wikipedia, Mahoney 2006) into a cache.

    from sgns.data.text8 import default_cache_dir, fetch_text8
    path = fetch_text8(default_cache_dir())  # downloads ~31 MB on first use only
    path.stat().st_size                      # 100000000

Each step is checked before the next one starts, and every file appears under its final name
only through ``os.replace``, so a crash leaves either nothing usable-looking or a resumable part:

    text8.zip.part  --(size, SHA-256)-->  text8.zip  --(member names, CRC, size)-->  text8

The archive is kept after extraction so a deleted ``text8`` comes back without the network.
Without a network, put ``text8.zip`` or the extracted ``text8`` into the cache dir by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm import tqdm  # installed with Lightning, which requires it

from sgns.errors import DataError
from sgns.io import atomic_write, exclusive

log = logging.getLogger(__name__)

TEXT8_URL = "http://mattmahoney.net/dc/text8.zip"
TEXT8_ZIP_BYTES = 31_344_016
TEXT8_BYTES = 100_000_000
MEMBER = "text8"

_CHUNK = 1 << 16
# A failed request or read: refused connections and socket timeouts are OSErrors, HTTP statuses
# URLErrors, a malformed answer an HTTPException.
_NETWORK_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException)


def default_cache_dir() -> Path:
    """``$SGNS_CACHE`` if set, else ``~/.cache/sgns``: the rule of ``data.cache_dir``
    (sgns.config.schema.DataConfig), for callers without a config (tests check that the two
    agree)."""
    return Path(os.environ.get("SGNS_CACHE", "~/.cache/sgns")).expanduser()


def fetch_text8(
    cache_dir: str | Path,
    url: str = TEXT8_URL,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    *,
    zip_bytes: int = TEXT8_ZIP_BYTES,
    text_bytes: int = TEXT8_BYTES,
) -> Path:
    """Return the path of the extracted ``text8`` in ``cache_dir``, downloading it on first use.

    Args:
        url: where ``text8.zip`` is served; an interrupted download resumes with an HTTP Range.
        sha256: hex digest the archive must have; ``None`` checks only its size.
        progress: show a tqdm bar while downloading.
        timeout: seconds to wait for the connection and for each read.
        zip_bytes, text_bytes: exact sizes of the archive and of the extracted file.

    Raises:
        DataError: the download failed (one line saying where to put the file by hand), or the
            archive has the wrong size, digest, member names or contents. A bad archive is
            removed so the next call downloads it again; an incomplete one is kept to resume.
    """
    cache_dir = Path(cache_dir)
    text_path = cache_dir / MEMBER
    if text_path.is_file() and text_path.stat().st_size == text_bytes:
        return text_path
    # Runs of a parallel sweep share one download: the others wait, then find the file.
    with exclusive(cache_dir / ".text8.lock", "downloading text8"):
        if text_path.is_file() and text_path.stat().st_size == text_bytes:
            return text_path
        zip_path = cache_dir / "text8.zip"
        if not zip_path.is_file():
            part = cache_dir / "text8.zip.part"
            _download(url, part, zip_bytes, timeout, progress)
            _verify_archive(part, zip_bytes, sha256)
            os.replace(part, zip_path)
        else:
            log.info("using the text8 archive already in %s", cache_dir)
            _verify_archive(zip_path, zip_bytes, sha256)
        _extract(zip_path, text_path, text_bytes)
    return text_path


def _download(url: str, part: Path, zip_bytes: int, timeout: float, progress: bool) -> None:
    """Bring ``part`` up to ``zip_bytes`` bytes, appending to what an earlier attempt left."""
    have = part.stat().st_size if part.is_file() else 0
    if have > zip_bytes:  # not a prefix of the archive we want
        part.unlink()
        have = 0
    if have == zip_bytes:
        return
    try:
        response = _open(url, have, timeout)
    except _NETWORK_ERRORS as e:
        raise _unreachable(url, part.parent, e) from None
    if response.status != 206 or _range_start(response) != have:
        have = 0  # the server ignored the Range header and sends the whole archive
    log.info("downloading %s to %s from byte %d", url, part, have)
    error = None
    bar = _progress_bar(zip_bytes, have, progress)
    with response, part.open("ab" if have else "wb") as out, bar:
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        except _NETWORK_ERRORS as e:  # keep what arrived: the next call resumes from there
            error = e
    got = part.stat().st_size
    if got < zip_bytes:
        raise _unreachable(url, part.parent, error or "connection closed early", got, zip_bytes)


def _open(url: str, have: int, timeout: float) -> http.client.HTTPResponse:
    """GET ``url`` asking for bytes from ``have`` on; a refused range falls back to the whole."""
    request = urllib.request.Request(url, headers={"User-Agent": "sgns-text8"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not have:  # 416: our offset is past the end of what it serves
            raise
        e.close()
        return _open(url, 0, timeout)


def _range_start(response: http.client.HTTPResponse) -> int | None:
    """First byte of a 206 answer, from ``Content-Range: bytes START-END/TOTAL``."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _unreachable(
    url: str, cache_dir: Path, error: object, have: int | None = None, want: int | None = None
) -> DataError:
    """The one-line DataError for a failed download, saying how to supply the file by hand."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason  # "Connection refused", not "<urlopen error [Errno 111] ...>"
    reason = " ".join(str(error).split()) or type(error).__name__
    hint = f"download it yourself and put text8.zip or the extracted text8 into {cache_dir}"
    if have is None:
        return DataError(f"cannot download text8 from {url} ({reason}); {hint}")
    return DataError(
        f"download of text8 from {url} stopped at {have} of {want} bytes ({reason}); "
        f"run again to resume, or {hint}"
    )


def _progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """A tqdm byte counter for the download; use it with ``with``."""
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        desc="text8.zip",
        disable=not enabled,
    )


def _verify_archive(path: Path, zip_bytes: int, sha256: str | None) -> None:
    """Check the archive's size and digest; a wrong one is removed so it is fetched again."""
    size = path.stat().st_size
    if size != zip_bytes:
        path.unlink()
        raise DataError(f"{path} is {size} bytes, expected {zip_bytes}; removed it, run again")
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sha256.lower():
        path.unlink()
        raise DataError(
            f"{path} has SHA-256 {digest.hexdigest()}, expected {sha256.lower()}; "
            "removed it, run again"
        )


def _check_members(names: list[str], zip_path: Path) -> None:
    """Accept exactly one member named ``text8``; name the first offender otherwise."""
    root = zip_path.parent.resolve()
    for name in names:
        posix = PurePosixPath(name.replace("\\", "/"))
        if posix.is_absolute() or ".." in posix.parts or re.match(r"[A-Za-z]:", name):
            why = "an unsafe path"
        # The entry's directory decides where it lands; a symlinked "text8" is just replaced.
        elif not (root / posix).parent.resolve().is_relative_to(root):
            why = "a path escaping the cache dir"
        elif name != MEMBER:
            why = f"not the expected member {MEMBER!r}"
        else:
            continue
        raise DataError(f"{zip_path} holds member {name!r}, {why}; removed it")
    if names != [MEMBER]:
        raise DataError(f"{zip_path} holds {names}, expected one member {MEMBER!r}; removed it")


def _extract(zip_path: Path, text_path: Path, text_bytes: int) -> None:
    """Extract the ``text8`` member through a temporary file; a bad archive is removed."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            _check_members(archive.namelist(), zip_path)
            with archive.open(MEMBER) as src, atomic_write(text_path, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
                size = dst.tell()
                if size != text_bytes:  # raised inside the block: text_path stays absent
                    raise DataError(
                        f"{zip_path} holds {size} bytes of text, expected {text_bytes}; removed it"
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        zip_path.unlink(missing_ok=True)
        reason = " ".join(str(e).split())
        raise DataError(f"{zip_path} is corrupt ({reason}); removed it, run again") from None
    except DataError:
        zip_path.unlink(missing_ok=True)
        raise
    log.info("extracted %s", text_path)
