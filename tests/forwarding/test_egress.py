"""The egress guard: patient data goes to the configured endpoint's public address, or nowhere."""

import socket
import threading

import pytest

from forwarding.egress import (
    EgressRefused,
    TransportError,
    refusal_reason,
    resolve_allowed,
    send,
)
from forwarding.protocols import PreparedRequest
from tests.support.fakes import FakeProvider, blocking_reply, redirect_to, success_body


class CountingResolver:
    """Answers every name with fixed addresses and counts how often it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.calls: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        self.calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.addresses
        ]


def _post(url: str) -> PreparedRequest:
    return PreparedRequest("POST", url, {"content-type": "application/json"}, b"{}")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.5.4",
        "192.168.1.10",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "192.0.2.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert refusal_reason(address, allow_local=False) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert refusal_reason(address, allow_local=False) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "192.168.1.2", "::1", "fd12::1"])
def test_a_local_endpoint_may_use_loopback_and_private_addresses(address):
    assert refusal_reason(address, allow_local=True) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "fe80::1", "0.0.0.0"])  # noqa: S104
def test_cloud_metadata_and_unspecified_addresses_are_refused_even_for_a_local_endpoint(address):
    assert refusal_reason(address, allow_local=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/v1/chat/completions",
        "http://10.0.0.1/x",
        "http://192.168.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/x",
        "http://[::ffff:127.0.0.1]/x",
    ],
)
def test_sending_to_an_internal_address_literal_is_refused(url):
    with pytest.raises(EgressRefused):
        send(_post(url), allow_local=False, timeout=5)


def test_a_name_that_resolves_to_loopback_is_refused_without_connecting():
    with FakeProvider() as provider:
        resolver = CountingResolver("127.0.0.1")
        url = f"http://provider.example:{provider.port}/v1/chat/completions"
        with pytest.raises(EgressRefused, match="loopback"):
            send(_post(url), allow_local=False, timeout=5, resolver=resolver)
        assert provider.requests == []


def test_a_name_is_refused_if_any_of_its_addresses_is_internal():
    with pytest.raises(EgressRefused):
        resolve_allowed(
            "provider.example",
            443,
            allow_local=False,
            resolver=CountingResolver("93.184.215.14", "10.0.0.1"),
        )


def test_a_local_endpoint_reaches_the_loopback_fake_resolving_its_name_exactly_once():
    with FakeProvider() as provider:
        resolver = CountingResolver("127.0.0.1")
        url = f"http://provider.example:{provider.port}/v1/chat/completions"
        response = send(_post(url), allow_local=True, timeout=5, resolver=resolver)
        (request,) = provider.wait_for_requests(1)
    assert response.status == 200
    assert response.body == success_body("openai")
    assert resolver.calls == ["provider.example"]
    # The pinned address is used for the socket; the name still goes out as Host.
    assert request.headers["host"] == f"provider.example:{provider.port}"
    assert request.path == "/v1/chat/completions"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_no_redirect_is_followed_even_to_the_same_host(status):
    with FakeProvider() as provider:
        provider.respond(redirect_to(f"{provider.origin}/elsewhere", status))
        with pytest.raises(EgressRefused, match="redirect"):
            send(_post(f"{provider.base_url}/chat/completions"), allow_local=True, timeout=5)
        assert len(provider.requests) == 1


def test_a_redirect_to_another_host_reaches_only_the_endpoint():
    with FakeProvider() as endpoint, FakeProvider() as elsewhere:
        endpoint.respond(redirect_to(f"{elsewhere.origin}/steal"))
        with pytest.raises(EgressRefused, match="redirect"):
            send(_post(f"{endpoint.base_url}/chat/completions"), allow_local=True, timeout=5)
        assert elsewhere.requests == []


@pytest.mark.parametrize(
    "url", ["ftp://provider.example/x", "file:///etc/passwd", "http://user:pw@provider.example/"]
)
def test_only_plain_http_and_https_urls_without_credentials_are_sent(url):
    with pytest.raises(EgressRefused):
        send(_post(url), allow_local=True, timeout=5, resolver=CountingResolver("127.0.0.1"))


def test_a_slow_endpoint_times_out_as_a_transport_error():
    release = threading.Event()
    with FakeProvider() as provider:
        provider.respond(blocking_reply(release, (200, {}, success_body("openai"))))
        try:
            with pytest.raises(TransportError, match="timed out"):
                send(_post(f"{provider.base_url}/chat/completions"), allow_local=True, timeout=0.2)
        finally:
            release.set()


def test_an_unreachable_endpoint_is_a_transport_error():
    with FakeProvider() as provider:
        url = f"{provider.base_url}/chat/completions"
    with pytest.raises(TransportError):
        send(_post(url), allow_local=True, timeout=5)


def test_an_answer_larger_than_the_cap_is_not_read_into_memory():
    from forwarding.egress import MAX_RESPONSE_BYTES
    from forwarding.protocols import ProviderError

    with FakeProvider() as provider:
        provider.respond((200, {}, b"x" * (MAX_RESPONSE_BYTES + 1)))
        with pytest.raises(ProviderError, match="larger"):
            send(_post(f"{provider.base_url}/chat/completions"), allow_local=True, timeout=5)


def _self_signed(tmp_path, name: str) -> tuple[str, str]:
    """A certificate for ``name`` (its own CA), written as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def _trusting(cert_file: str):
    import ssl

    context = ssl.create_default_context(cafile=cert_file)
    return context


def test_https_to_a_pinned_address_verifies_the_certificate_for_the_configured_name(tmp_path):
    tls = _self_signed(tmp_path, "provider.test")
    with FakeProvider(tls=tls) as provider:
        url = f"https://provider.test:{provider.port}/v1/chat/completions"
        response = send(
            _post(url),
            allow_local=True,
            timeout=5,
            resolver=CountingResolver("127.0.0.1"),
            ssl_context=_trusting(tls[0]),
        )
        (request,) = provider.wait_for_requests(1)
    assert response.status == 200
    assert request.headers["host"] == f"provider.test:{provider.port}"


def test_https_refuses_a_certificate_for_another_name(tmp_path):
    tls = _self_signed(tmp_path, "impostor.test")
    with FakeProvider(tls=tls) as provider:
        url = f"https://provider.test:{provider.port}/v1/chat/completions"
        with pytest.raises(EgressRefused, match="certificate"):
            send(
                _post(url),
                allow_local=True,
                timeout=5,
                resolver=CountingResolver("127.0.0.1"),
                ssl_context=_trusting(tls[0]),
            )
        assert provider.requests == []


@pytest.mark.parametrize(
    "address",
    ["2002:7f00:1::1", "2002:a00:1::1", "fec0::1", "100.100.100.200"],
)
def test_addresses_hiding_internal_destinations_are_refused(address):
    from forwarding.egress import refusal_reason

    assert refusal_reason(address, allow_local=False) is not None
    assert refusal_reason("100.100.100.200", allow_local=True) is not None  # metadata, always
