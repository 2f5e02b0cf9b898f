"""fetch_text8 against small archives served from 127.0.0.1; nothing here touches the internet."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from conftest import in_threads, make_config
from sgns.data.text8 import default_cache_dir, fetch_text8
from sgns.errors import DataError

TEXT = " ".join(f"word{i * 7919 % 101}" for i in range(1200)).encode()  # ~8 KB, like text8


def contents(folder: Path) -> list[Path]:
    """What a folder holds besides lock files, which stay by design (sgns.io.exclusive)."""
    return sorted(p for p in folder.iterdir() if not p.name.endswith(".lock"))


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


class ArchiveServer(HTTPServer):
    """Serves ``files`` by path and records ``(path, Range header)`` for every request.

    ``cut_once`` holds paths whose next answer promises the whole body but stops halfway;
    ``range_mode`` is "honour" (206), "ignore" (200 and the whole body) or "refuse" (416).
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_once: set[str] = set()
        self.range_mode = "honour"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class RangeHandler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot hold the single-threaded server for long

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server: ArchiveServer = self.server  # type: ignore[assignment]
        range_header = self.headers.get("Range")
        server.requests.append((self.path, range_header))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if range_header and server.range_mode == "refuse":
            self.send_error(416)
            return
        start = 0
        if range_header and server.range_mode == "honour":
            start = int(range_header.removeprefix("bytes=").rstrip("-"))
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in server.cut_once:
            server.cut_once.discard(self.path)
            self.wfile.write(body[start : len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    srv = ArchiveServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def fetch(cache: Path, url: str, data: bytes, text: bytes = TEXT, **kw) -> Path:
    return fetch_text8(
        cache, url, progress=False, timeout=5, zip_bytes=len(data), text_bytes=len(text), **kw
    )


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/text8.zip"


def test_downloads_and_extracts_exact_text(server, cache, capsys):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    path = fetch_text8(
        cache, server.url("/text8.zip"), timeout=5, zip_bytes=len(data), text_bytes=len(TEXT)
    )
    assert "text8.zip: 100%" in capsys.readouterr().err  # the progress bar ran to the end
    assert path == cache / "text8"
    assert path.read_bytes() == TEXT
    assert (cache / "text8.zip").read_bytes() == data
    assert sorted(p.name for p in contents(cache)) == ["text8", "text8.zip"]


def test_second_call_makes_no_request(server, cache):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    fetch(cache, server.url("/text8.zip"), data)
    fetch(cache, server.url("/text8.zip"), data)
    assert len(server.requests) == 1


def test_concurrent_fetches_download_once(server, cache):
    """Four runs of a parallel sweep asking at once: one downloads, the others wait for it."""
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    paths = in_threads(lambda: fetch(cache, server.url("/text8.zip"), data))
    assert paths == [cache / "text8"] * 4
    assert (cache / "text8").read_bytes() == TEXT
    assert server.requests == [("/text8.zip", None)]  # one whole download, never resumed
    assert sorted(p.name for p in contents(cache)) == ["text8", "text8.zip"]


def test_user_placed_zip_is_verified_and_extracted_offline(cache):
    data = make_zip({"text8": TEXT})
    cache.mkdir()
    (cache / "text8.zip").write_bytes(data)
    path = fetch(cache, closed_port_url(), data, sha256=hashlib.sha256(data).hexdigest())
    assert path.read_bytes() == TEXT


def test_wrong_sized_text8_is_extracted_again(cache):
    data = make_zip({"text8": TEXT})
    cache.mkdir()
    (cache / "text8.zip").write_bytes(data)
    (cache / "text8").write_bytes(TEXT[:100])  # e.g. an extraction killed by an older tool
    assert fetch(cache, closed_port_url(), data).read_bytes() == TEXT


def flip_crc(data: bytes) -> bytes:
    """A stored archive whose text has one byte changed, so only the CRC check can catch it."""
    at = data.index(TEXT[:64]) + 10
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda d: bytes(len(d)), id="garbage"),
        pytest.param(flip_crc, id="bad-crc"),
    ],
)
def test_corrupt_archive_is_rejected_and_removed(server, cache, corrupt):
    data = corrupt(make_zip({"text8": TEXT}, zipfile.ZIP_STORED))
    server.files["/text8.zip"] = data
    with pytest.raises(DataError, match="corrupt"):
        fetch(cache, server.url("/text8.zip"), data)
    assert contents(cache) == []  # no text8, no zip, no temporary file
    server.files["/text8.zip"] = make_zip({"text8": TEXT}, zipfile.ZIP_STORED)
    assert fetch(cache, server.url("/text8.zip"), data).read_bytes() == TEXT
    assert len(server.requests) == 2


def test_truncated_download_fails_on_size_then_resumes_with_range(server, cache):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    server.cut_once.add("/text8.zip")
    with pytest.raises(DataError, match=f"stopped at {len(data) // 2} of {len(data)} bytes"):
        fetch(cache, server.url("/text8.zip"), data)
    assert not (cache / "text8").exists()
    assert (cache / "text8.zip.part").stat().st_size == len(data) // 2

    assert fetch(cache, server.url("/text8.zip"), data).read_bytes() == TEXT
    assert server.requests[-1] == ("/text8.zip", f"bytes={len(data) // 2}-")
    assert not (cache / "text8.zip.part").exists()


@pytest.mark.parametrize("mode", ["ignore", "refuse"])
def test_server_without_ranges_restarts_from_zero(server, cache, mode):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    server.range_mode = mode
    cache.mkdir()
    (cache / "text8.zip.part").write_bytes(b"stale prefix")
    assert fetch(cache, server.url("/text8.zip"), data).read_bytes() == TEXT
    expected = [("/text8.zip", "bytes=12-")] + [("/text8.zip", None)] * (mode == "refuse")
    assert server.requests == expected
    assert (cache / "text8.zip").read_bytes() == data


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (["../evil"], "an unsafe path"),
        (["ABS"], "an unsafe path"),
        (["text8", "../evil"], "an unsafe path"),
        (["text8", "notes.txt"], "not the expected member 'text8'"),
    ],
    ids=["dotdot", "absolute", "extra-dotdot", "extra-member"],
)
def test_bad_member_names_are_rejected(server, cache, tmp_path, names, why):
    names = [str(tmp_path / "evil") if n == "ABS" else n for n in names]
    data = make_zip({n: TEXT for n in names})
    server.files["/text8.zip"] = data
    with pytest.raises(DataError) as err:
        fetch(cache, server.url("/text8.zip"), data)
    assert f"member {names[-1]!r}, {why}" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # nothing written outside
    assert contents(cache) == []


def test_member_escaping_through_a_symlink_is_rejected(server, cache, tmp_path):
    (tmp_path / "outside").mkdir()
    cache.mkdir()
    (cache / "sub").symlink_to(tmp_path / "outside")
    data = make_zip({"sub/evil": TEXT})
    server.files["/text8.zip"] = data
    with pytest.raises(DataError, match="'sub/evil', a path escaping the cache dir"):
        fetch(cache, server.url("/text8.zip"), data)
    assert list((tmp_path / "outside").iterdir()) == []


def test_sha256_mismatch_is_rejected_and_removed(server, cache):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    with pytest.raises(DataError, match="SHA-256"):
        fetch(cache, server.url("/text8.zip"), data, sha256="0" * 64)
    assert contents(cache) == []


def test_wrong_archive_size_is_rejected_and_removed(server, cache):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data + b"trailing"
    with pytest.raises(DataError, match=f"expected {len(data)}"):
        fetch(cache, server.url("/text8.zip"), data)
    assert contents(cache) == []


def test_text_of_the_wrong_size_is_rejected_and_removed(server, cache):
    data = make_zip({"text8": TEXT})
    server.files["/text8.zip"] = data
    with pytest.raises(
        DataError, match=f"holds {len(TEXT)} bytes of text, expected {len(TEXT) + 1}"
    ):
        fetch(cache, server.url("/text8.zip"), data, text=TEXT + b" ")
    assert contents(cache) == []  # the temporary file is gone too


def test_no_server_gives_one_line_error_naming_the_cache_dir(cache):
    url = closed_port_url()
    with pytest.raises(DataError) as err:
        fetch(cache, url, b"x" * 100)
    message = str(err.value)
    assert "\n" not in message
    assert f"cannot download text8 from {url}" in message
    assert message.endswith(f"put text8.zip or the extracted text8 into {cache}")


def test_silent_server_times_out_with_the_same_hint(cache):
    with socket.socket() as listener:  # accepts connections into its backlog, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/text8.zip"
        with pytest.raises(DataError, match=f"timed out.*into {cache}$"):
            fetch_text8(cache, url, progress=False, timeout=0.2, zip_bytes=100, text_bytes=10)


def test_http_error_gives_the_same_hint(server, cache):
    with pytest.raises(DataError, match=r"404.*download it yourself"):
        fetch(cache, server.url("/missing.zip"), b"x" * 100)


@pytest.mark.parametrize("sgns_cache", [None, "mine"])
def test_default_cache_dir_is_the_configs_cache_dir(monkeypatch, tmp_path, sgns_cache):
    """scripts without a config (the benchmark) and training share one cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # not consulted by either
    if sgns_cache is None:
        monkeypatch.delenv("SGNS_CACHE", raising=False)
        want = tmp_path / "home" / ".cache" / "sgns"
    else:
        monkeypatch.setenv("SGNS_CACHE", str(tmp_path / sgns_cache))
        want = tmp_path / sgns_cache
    for data in ("wiki_sample", "text8", "text_file"):
        configured = make_config([f"data={data}", "data.path=x"]).data.cache_dir
        assert Path(configured).expanduser() == default_cache_dir() == want
