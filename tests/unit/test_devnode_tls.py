"""The TLS dev node's pieces without a node: the certificates `devnode.tls` generates, the
settings it writes, and the refusal for OpenSearch (no security plugin for 2.19.6)."""

from __future__ import annotations

import ipaddress
import json
import stat

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from es_ltrr.ops.devnode import NodeConfig, NodeError, start
from es_ltrr.ops.devnode.lifecycle import _write_settings
from es_ltrr.ops.devnode.tls import client_context, ensure, generate


def test_the_generated_ca_signs_a_certificate_for_the_loopback_node(tmp_path):
    files = generate(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    node = x509.load_pem_x509_certificate(files.cert.read_bytes())
    node.verify_directly_issued_by(ca)  # raises if not
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    other = x509.load_pem_x509_certificate(generate(tmp_path / "other").ca.read_bytes())
    with pytest.raises(InvalidSignature):  # same CA name, another key: not its signature
        node.verify_directly_issued_by(other)
    # ensure() keeps complete files and regenerates incomplete ones
    before = files.ca.read_bytes()
    assert ensure(files.dir).ca.read_bytes() == before
    files.key.unlink()
    assert ensure(files.dir).ca.read_bytes() != before and files.key.is_file()


def test_an_elasticsearch_tls_node_serves_https_with_its_files(tmp_path):
    config = NodeConfig(distribution="elasticsearch", home=tmp_path / "home", port=9333, tls_dir=tmp_path / "tls")
    assert config.url == "https://127.0.0.1:9333"
    (config.dist / "config").mkdir(parents=True)
    _write_settings(config)
    lines = (config.dist / "config" / "elasticsearch.yml").read_text().splitlines()
    settings = {line.split(": ", 1)[0]: json.loads(line.split(": ", 1)[1]) for line in lines}
    assert settings["xpack.security.enabled"] is True and settings["xpack.security.http.ssl.enabled"] is True
    for key in ("certificate", "key"):
        assert (config.dist / "config" / settings[f"xpack.security.http.ssl.{key}"]).is_file()
    assert client_context(config) is not None and client_context(NodeConfig(home=tmp_path)) is None


def test_opensearch_refuses_tls_before_assembling_anything(tmp_path):
    config = NodeConfig(home=tmp_path / "home", tls_dir=tmp_path / "tls")
    with pytest.raises(NodeError, match="security plugin"):
        start(config, progress=lambda _: None)
    assert not (tmp_path / "home").exists()
