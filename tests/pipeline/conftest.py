"""Pipeline test fixtures: parquet writing, generated images, a tiny open_clip model, a local HTTP server."""

from __future__ import annotations

import http.server
import io
import socket
import threading
import time
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from motorec.pipeline.testing import register_tiny_clip, write_tiny_clip_config


def _write_parquet(path: Path, columns: dict | pa.Table, schema: pa.Schema | None = None) -> Path:
    table = columns if isinstance(columns, pa.Table) else pa.table(columns, schema=schema)
    pq.write_table(table, path)
    return path


def _image_bytes(color=(200, 30, 30), size=(24, 16), mode="RGB", fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def write_parquet():
    """write_parquet(path, columns_or_table, schema=None) -> path."""
    return _write_parquet


@pytest.fixture
def image_bytes():
    """image_bytes(color, size, mode, fmt) -> encoded bytes of a one-colour image."""
    return _image_bytes


@pytest.fixture(scope="session")
def tiny_clip() -> str:
    """Name of the tiny random-init open_clip architecture, registered in this process."""
    return register_tiny_clip()


@pytest.fixture
def tiny_clip_json(tmp_path) -> Path:
    """The tiny architecture as a model-config JSON file (for `image_model = <path>` in subprocesses)."""
    return write_tiny_clip_config(tmp_path / "models")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path.startswith("/stream/"):  # a body without Content-Length
            n = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\0" * n)
            return
        super().do_GET()


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """(base URL, folder) of an HTTP server on 127.0.0.1 serving the folder; also /slow and /stream/N."""
    folder = tmp_path_factory.mktemp("www")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.png"
