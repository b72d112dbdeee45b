"""The proxy CA for devices: one per platform, downloadable by members, with install steps."""

from cryptography import x509
from django.test import Client

from mock_records.ca import ca_certificate
from tests import factories as f


def test_members_get_the_ca_with_install_steps(project_a, member_a, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKREPLAY_MITMPROXY_CONFDIR", str(tmp_path / "mitm"))
    client = Client()
    client.force_login(member_a)
    page = client.get(f"/p/{project_a.slug}/proxy-ca/").content.decode()
    for step in ("network_security_config", "subject_hash_old", "Android 14", "Certificate Trust Settings",
                 "--proxy-bypass-list=&lt;-loopback&gt;"):
        assert step in page, step
    download = client.get(f"/p/{project_a.slug}/proxy-ca/trackreplay-ca.cer")
    assert download.status_code == 200 and 'filename="trackreplay-ca.cer"' in download["Content-Disposition"]
    certificate = x509.load_pem_x509_certificate(download.content)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The same CA every time (and the one the proxies use: same folder).
    assert ca_certificate() == download.content == (tmp_path / "mitm" / "mitmproxy-ca-cert.pem").read_bytes()
    assert client.get(f"/p/{project_a.slug}/proxy-ca/..%2Fsecret").status_code == 404


def test_non_members_get_404(project_a, make_member, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKREPLAY_MITMPROXY_CONFDIR", str(tmp_path / "mitm"))
    outsider = make_member(f.ProjectFactory())
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/p/{project_a.slug}/proxy-ca/").status_code == 404
    assert client.get(f"/p/{project_a.slug}/proxy-ca/trackreplay-ca.pem").status_code == 404
