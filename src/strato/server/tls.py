"""TLS for the main listener: one `SSLContext` with modern defaults, built the same way in the
`strato serve` process (to check the files before the banner) and in every worker.

uvicorn's own context allows TLS 1.0 and its default cipher string (`TLSv1`) admits CBC-SHA1,
anonymous ECDH and even NULL ciphers, so Strato builds its own and hands it over with
uvicorn's `ssl_context_factory`:

- TLS 1.2 and 1.3 only (`minimum_version`);
- for TLS 1.2, ECDHE key exchange with AEAD ciphers only (Mozilla's "intermediate" list:
  AES-GCM and ChaCha20-Poly1305, forward secret); TLS 1.3's suites are all of that kind;
- no compression, no renegotiation, a fresh ECDH key per handshake;
- ALPN offers `http/1.1`, the only protocol served.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CIPHERS", "TlsError", "context", "context_factory"]

CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))
"""TLS 1.2 suites offered (TLS 1.3 suites are not chosen by this string and are all AEAD)."""


class TlsError(Exception):
    """The certificate or key cannot be used; the message says which and why."""


def context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server context for `cert` (a PEM chain, leaf first) and `key` (a PEM private key,
    unencrypted; None when it follows the chain in `cert`)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= (ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
                    | ssl.OP_SINGLE_ECDH_USE)
    ctx.set_alpn_protocols(["http/1.1"])
    for what, path in (("certificate", cert), ("key", key)):
        if path is not None and not path.is_file():
            raise TlsError(f"TLS {what} {path} not found: fix --tls-{what[:4]}")
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsError(f"cannot use TLS certificate {cert} with key {key or cert} "
                       f"({exc.reason or exc}): they must be PEM files, the key unencrypted "
                       "and matching the certificate") from None
    except OSError as exc:
        raise TlsError(f"cannot read TLS certificate {cert} or key {key or cert} "
                       f"({exc.strerror or exc})") from None
    return ctx


def _factory(cert: Path, key: Path | None, _config: Any,
             _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    return context(cert, key)


def context_factory(cert: Path, key: Path | None) -> Callable[[Any, Callable[[], ssl.SSLContext]],
                                                              ssl.SSLContext]:
    """uvicorn's `ssl_context_factory` for `cert` and `key`: a picklable partial, since each
    worker process loads its own copy of the config."""
    return functools.partial(_factory, cert, key)
