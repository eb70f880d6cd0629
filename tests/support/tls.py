"""A certificate authority of the test's own (trustme) and a server certificate it
signed for 127.0.0.1 and localhost, as the PEM files a server and its clients take."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # the server's certificate chain
    key: Path  # its private key
    ca: Path  # the authority clients trust

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls(folder: Path) -> TlsFiles:
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "server.pem", folder / "server.key", folder / "ca.pem")
    issued.private_key_pem.write_to_path(str(files.key))
    files.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    authority.cert_pem.write_to_path(str(files.ca))
    return files
