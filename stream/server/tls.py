"""HTTPS for ``serve``: a browser on another machine only grants the camera to a secure page.

``--https`` makes a self-signed certificate on first use (kept under ``--tls-dir``, reused
until it nears expiry or the addresses it names change); ``--cert``/``--key`` use the
user's own. The key never leaves the machine and is written readable by its owner only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from ..errors import UsageError

CERT_NAME, KEY_NAME = "livefx-cert.pem", "livefx-key.pem"
VALID_DAYS = 365


def default_tls_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "livefx" / "tls"


def self_signed(folder: Path, hosts: list[str]) -> tuple[Path, Path]:
    """A certificate and key in ``folder`` valid for ``hosts`` (names or IP addresses),
    made now unless a fitting one is already there."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    wanted = sorted({"localhost", "127.0.0.1", *hosts})
    if cert_path.is_file() and key_path.is_file() and _fits(cert_path, wanted):
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = []
    for host in wanted:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "livefx (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _fits(cert_path: Path, wanted: list[str]) -> bool:
    """True when the certificate names every wanted host and has more than a day left."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have = {str(n) for n in names.get_values_for_type(x509.IPAddress)} | set(names.get_values_for_type(x509.DNSName))
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return set(wanted) <= have and left > datetime.timedelta(days=1)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS server context for ``cert``/``key``; unreadable or mismatched files get a clear error."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"{cert}: not usable with the key {key} ({exc})", setting="cert") from None
    return context
