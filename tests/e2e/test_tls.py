"""HTTPS in-process: `playlog up` / `playlog ingest` with a certificate made by the test;
the Tracker and plain httpx requests verify it; a bad certificate or key stops the
command at once with one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from playlog.cli.demo import free_port
from playlog.client import Tracker, UntrustedServer
from tests.support.deadline import wait_until
from tests.support.events import LOGIN, login
from tests.support.server import ADMIN_KEY, Server
from tests.support.tls import TlsFiles, make_tls


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(tmp_path: Path, tls: TlsFiles) -> Iterator[Server]:
    server = Server(tmp_path / "data", tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.kill()


def test_up_serves_https_that_the_tracker_and_httpx_verify(
    https_server: Server, tls: TlsFiles
) -> None:
    server = https_server
    assert server.url.startswith("https://")
    answer = httpx.get(f"{server.url}/healthz", verify=tls.client_context())
    assert answer.status_code == 200 and answer.http_version == "HTTP/1.1"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.url}/healthz")  # the public authorities never signed it
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.port}/healthz")  # no plain HTTP beside it

    key = server.game("g1")
    assert server.register("g1", "login", LOGIN).status_code == 201
    with Tracker(server.url, "g1", key, verify=tls.ca) as tracker:
        for seq in range(300):
            tracker.track("login", login(seq))
    assert (tracker.stats.sent, tracker.stats.failed) == (300, 0)
    assert server.wait_for_rows("g1.login", 300) == 300

    with pytest.raises(UntrustedServer, match=r"certificate verify failed"):
        Tracker(server.url, "g1", key).track("login", login(300))  # system CAs only
    # The canary of `playlog up` reaches its own process over HTTPS too.
    wait_until(lambda: server.metric("playlog_canary_ok") == 1, 120, "the canary over HTTPS")


def test_ingest_takes_the_certificate_from_the_settings(tmp_path: Path, tls: TlsFiles) -> None:
    env = {"PLAYLOG_SERVER__TLS_CERT": str(tls.cert), "PLAYLOG_SERVER__TLS_KEY": str(tls.key)}
    server = Server(tmp_path / "data", env=env, command="ingest", tls=tls)
    server.tls = None  # no --tls-* flags: the settings alone turn HTTPS on
    try:
        server.start()
        answer = httpx.get(f"{server.url}/readyz", verify=tls.client_context())
        assert answer.status_code == 200, answer.text
    finally:
        server.kill()


def _up(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    args = ["up", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()), *flags]
    return subprocess.run(
        [sys.executable, "-m", "playlog", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PLAYLOG_ADMIN_KEY": ADMIN_KEY},
    )


@pytest.mark.parametrize(
    ("cert", "key", "says"),
    [
        ("missing.pem", "server.key", r"server.tls_cert .*missing.pem.*: no such file"),
        ("server.pem", "missing.key", r"server.tls_key .*missing.key.*: no such file"),
        ("garbage.pem", "server.key", r"garbage.pem.*: not a PEM certificate chain"),
        ("server.pem", "other.key", r"other.key\): the key does not belong to the certificate"),
        ("server.pem", None, r"server.tls_cert and server.tls_key go together"),
    ],
)
def test_a_bad_certificate_or_key_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, tls: TlsFiles, cert: str, key: str | None, says: str
) -> None:
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (tmp_path / "other.key").write_bytes(make_tls(tmp_path / "other").key.read_bytes())
    known = {"server.pem": tls.cert, "server.key": tls.key}

    def path(name: str) -> str:
        return str(known.get(name, tmp_path / name))

    flags = ["--tls-cert", path(cert)] + (["--tls-key", path(key)] if key else [])
    run = _up(tmp_path, *flags)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr
    assert re.search(says, lines[0], re.IGNORECASE), lines[0]
    assert not (tmp_path / "data" / "log.sqlite").exists()  # refused before opening anything
