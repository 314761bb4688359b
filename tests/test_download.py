"""data.yaml `download:` URLs, served from a local HTTP server (nothing leaves the machine): the dataset lands in
its root; hostile archives (path traversal, absolute paths, symlinks, oversized) are refused."""
from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from edgeseg.runtime.datasets import download
from edgeseg.runtime.datasets.yolo import load_data_yaml
from edgeseg.runtime.errors import UsageError


@pytest.fixture()
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def zip_dir(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(src).as_posix())
    return dst


def test_download_fetches_and_extracts_into_the_root(server, synthetic_data, tmp_path):
    served, url = server
    zip_dir(synthetic_data.parent, served / "shapes.zip")
    root = tmp_path / "dataset"
    root.mkdir()
    yaml_path = root / "data.yaml"
    yaml_path.write_text(synthetic_data.read_text() + f"\ndownload: {url}/shapes.zip\n")
    cfg = load_data_yaml(yaml_path)
    assert len(cfg.splits["train"]) == 4 and len(cfg.splits["val"]) == 4
    assert all(p.is_relative_to(root) for p in cfg.splits["train"])


def hostile_zip(kind: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if kind == "traversal":
            zf.writestr("../escaped.txt", "x")
        elif kind == "absolute":
            zf.writestr("/tmp/edgeseg-absolute.txt", "x")
        elif kind == "symlink":
            info = zipfile.ZipInfo("images/link")
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink"])
def test_hostile_zip_is_refused(server, tmp_path, kind):
    served, url = server
    (served / "evil.zip").write_bytes(hostile_zip(kind))
    root = tmp_path / "ds" / "inner"
    with pytest.raises(UsageError, match="refusing"):
        download.download_dataset(f"{url}/evil.zip", root, "data.yaml")
    assert not (tmp_path / "ds" / "escaped.txt").exists() and not Path("/tmp/edgeseg-absolute.txt").exists()
    assert not root.exists() or not any(root.rglob("*"))


def test_hostile_tar_link_and_size_caps(server, tmp_path, monkeypatch):
    served, url = server
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("images/out")
        link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
        tar.addfile(link)
    (served / "evil.tar").write_bytes(buf.getvalue())
    with pytest.raises(UsageError, match="links and devices"):
        download.download_dataset(f"{url}/evil.tar", tmp_path / "r1", "data.yaml")
    (served / "big.zip").write_bytes(hostile_zip("none") + b"\0" * 5000)
    with pytest.raises(UsageError, match="cap"):
        download.fetch(f"{url}/big.zip", tmp_path / "big", max_bytes=1000)
    with pytest.raises(UsageError, match="http"):
        download.download_dataset("ftp://example.invalid/x.zip", tmp_path / "r2", "data.yaml")
