"""The embedded web UI: hashed JS and CSS are served precompressed (brotli or
gzip, as Accept-Encoding allows) and cached for good; index.html is
revalidated every time."""

import gzip
import re
import shutil
import subprocess

import pytest

from jenky_harness import project_toml

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def srv(world):
    return world.serve(project_toml("p", "echo ok\n"))


def asset_paths(srv):
    html = srv.get("/", headers={"Accept-Encoding": "identity"}).text
    paths = re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', html)
    if not paths:
        pytest.skip("this binary embeds the placeholder UI (built without npm)")
    return paths


def brotli_decompress(data):
    node = shutil.which("node")
    if not node:
        pytest.skip("node is needed to check the brotli bytes")
    script = "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))"
    return subprocess.run([node, "-e", script], input=data, capture_output=True, check=True).stdout


def test_js_and_css_are_served_brotli_to_a_browser_and_gzip_to_gzip_only_clients(srv):
    for path in asset_paths(srv):
        plain = srv.get(path, headers={"Accept-Encoding": "identity"})
        assert plain.status == 200
        assert plain.headers.get("Content-Encoding") is None
        assert plain.headers["Vary"] == "Accept-Encoding"
        assert plain.headers["Cache-Control"] == IMMUTABLE

        br = srv.get(path, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
        assert br.status == 200, br
        assert br.headers["Content-Encoding"] == "br"
        assert br.headers["Vary"] == "Accept-Encoding"
        assert br.headers["Cache-Control"] == IMMUTABLE
        assert br.headers["Content-Type"] == plain.headers["Content-Type"]
        assert int(br.headers["Content-Length"]) == len(br.body)
        assert len(br.body) < len(plain.body) / 2, (path, len(br.body), len(plain.body))
        assert brotli_decompress(br.body) == plain.body

        gz = srv.get(path, headers={"Accept-Encoding": "gzip"})
        assert gz.headers["Content-Encoding"] == "gzip"
        assert len(gz.body) < len(plain.body) / 2
        assert gzip.decompress(gz.body) == plain.body

        # q-values decide; br wins a tie.
        assert srv.get(path, headers={"Accept-Encoding": "br;q=0.5, gzip"}).headers["Content-Encoding"] == "gzip"
        assert srv.get(path, headers={"Accept-Encoding": "br;q=0, gzip;q=0"}).headers.get("Content-Encoding") is None
        assert srv.get(path, headers={"Accept-Encoding": "*"}).headers["Content-Encoding"] == "br"
        # Without the header: as it is.
        assert srv.get(path).headers.get("Content-Encoding") is None


def test_refusing_every_coding_the_file_has_is_406_saying_so(srv):
    path = asset_paths(srv)[0]
    r = srv.get(path, headers={"Accept-Encoding": "identity;q=0, deflate"})
    assert r.status == 406, r
    code, message = r.error()
    assert code == "not_acceptable"
    assert "br, gzip or identity" in message, message
    assert srv.get(path, headers={"Accept-Encoding": "identity;q=0, gzip"}).headers["Content-Encoding"] == "gzip"


def test_index_html_is_revalidated_and_compressed_too(srv):
    asset_paths(srv)
    for page in ["/", "/runs/12", "/projects/p"]:
        r = srv.get(page, headers={"Accept-Encoding": "gzip, br"})
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Content-Encoding"] == "br"
        assert r.headers["Vary"] == "Accept-Encoding"
        assert b"<script" in brotli_decompress(r.body)
        assert "Content-Security-Policy" in r.headers


def test_a_missing_asset_is_404_and_never_cached_as_immutable(srv):
    r = srv.get("/assets/nope-12345678.js", headers={"Accept-Encoding": "br"})
    assert r.status == 404
    assert r.headers.get("Cache-Control") != IMMUTABLE
