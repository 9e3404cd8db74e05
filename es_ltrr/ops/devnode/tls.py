"""TLS for a dev node: a throwaway CA and a node certificate for 127.0.0.1, and the node
settings that serve HTTPS with them.

Why Elasticsearch only: OpenSearch serves HTTPS through its security plugin, and Maven
Central has no build of it for 2.19.6 (the 2.19 line ends at 2.19.4.0; a plugin must match
the node's version exactly). Elasticsearch's integ-test zip ships x-pack security, whose
``xpack.security.http.ssl`` settings take PEM files. Anonymous requests get the superuser
role, so the node needs TLS but no password (a test node, never a production setting);
wrong credentials are still refused.

The certificates are made with the ``cryptography`` package (the ``test`` extra), imported
only when certificates are generated.
"""

from __future__ import annotations

import datetime
import shutil
import ssl
from dataclasses import dataclass
from pathlib import Path

from .config import NodeConfig, NodeError

CA, CERT, KEY = "ca.pem", "node.pem", "node.key"
#: Where the node reads them: Elasticsearch only reads TLS files under its config dir.
CONFIG_SUBDIR = "tls"


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of one TLS setup: the CA a client trusts, the node's certificate and key."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / CA

    @property
    def cert(self) -> Path:
        return self.dir / CERT

    @property
    def key(self) -> Path:
        return self.dir / KEY

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.ca, self.cert, self.key))


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject: str, key, issuer_name, issuer_key, ca: bool):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = (builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    return builder.sign(issuer_key or key, hashes.SHA256())


def generate(directory: Path, name: str = "es-ltrr test") -> TlsFiles:
    """A new CA (``ca.pem``) and a node certificate it signed for 127.0.0.1 and localhost
    (``node.pem``, ``node.key``), valid 30 days, written to ``directory``."""
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(parents=True, exist_ok=True)
    ca_key, node_key = _key(), _key()
    ca_cert = _certificate(f"{name} CA", ca_key, None, None, ca=True)
    node_cert = _certificate("127.0.0.1", node_key, ca_cert.subject, ca_key, ca=False)
    files = TlsFiles(directory)
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(node_cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(_pem_key(node_key))
    files.key.chmod(0o600)
    return files


def ensure(directory: Path) -> TlsFiles:
    """The TLS files in ``directory``, generated first when any is missing."""
    files = TlsFiles(directory)
    return files if files.complete() else generate(directory)


def check_supported(config: NodeConfig) -> None:
    """NodeError unless the node's distribution can serve HTTPS here (before any assembly)."""
    if config.distribution != "elasticsearch":
        raise NodeError(f"a TLS dev node is Elasticsearch only: OpenSearch needs its security plugin for "
                        f"HTTPS, and Maven Central has none for {config.version} (use --distribution elasticsearch)")


def install(config: NodeConfig) -> dict:
    """Copy the node's PEM files into its config dir; returns the settings that serve HTTPS."""
    check_supported(config)
    assert config.tls_dir is not None
    files = ensure(config.tls_dir)
    target = config.dist / "config" / CONFIG_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    for path in (files.ca, files.cert, files.key):
        shutil.copyfile(path, target / path.name)
    return {
        "xpack.security.enabled": True,
        "xpack.security.http.ssl.enabled": True,
        "xpack.security.http.ssl.certificate": f"{CONFIG_SUBDIR}/{CERT}",
        "xpack.security.http.ssl.key": f"{CONFIG_SUBDIR}/{KEY}",
        "xpack.security.http.ssl.certificate_authorities": [f"{CONFIG_SUBDIR}/{CA}"],
        "xpack.security.transport.ssl.enabled": False,
        "xpack.security.authc.anonymous.roles": "superuser",
        "xpack.security.authc.anonymous.authz_exception": True,
    }


def client_context(config: NodeConfig) -> ssl.SSLContext | None:
    """What the dev tooling's own health checks verify the node with (its CA), or None for HTTP."""
    if config.tls_dir is None:
        return None
    ca = TlsFiles(config.tls_dir).ca
    return ssl.create_default_context(cafile=str(ca) if ca.is_file() else None)
