"""Temp URLs and form POST signatures, as every Swift cloud checks them: HMAC over
`METHOD\\nEXPIRES\\nPATH` (SHA-1, SHA-256 or SHA-512, hex or `<digest>:<base64url>`), for one
object or a prefix, optionally bound to a client IP range; and HP Cloud's variant signed
with a per-user access key. The client keeps its own copy: it never imports the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
ISO8601 = "%Y-%m-%dT%H:%M:%SZ"


def _hmac(key: str, text: str, digest: str, *, base64url: bool = False) -> str:
    if digest not in DIGESTS:
        raise ValueError(f"digest must be one of {', '.join(DIGESTS)}, not {digest!r}")
    mac = hmac.new(key.encode(), text.encode(), DIGESTS[digest])
    if base64url:
        return f"{digest}:" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
    return mac.hexdigest()


def _expiry(seconds: int, absolute: bool) -> int:
    if seconds < 0:
        raise ValueError("the lifetime must not be negative")
    return seconds if absolute else int(time.time()) + seconds


def temp_url(url_or_path: str, key: str, *, method: str = "GET", seconds: int = 3600,
             absolute: bool = False, digest: str = "sha256", prefix: bool = False,
             ip_range: str | None = None, iso8601: bool = False, base64url: bool = False,
             filename: str | None = None, inline: bool = False,
             hp_access_key: tuple[str, str] | None = None) -> str:
    """A signed URL for `url_or_path` (`https://host/v1/AUTH_p/c/o` or `/v1/AUTH_p/c/o`).

    `prefix=True` signs every object under the path's last part (`/v1/AUTH_p/c/photos/`);
    `hp_access_key=(project_id, access_key_id)` signs HP Cloud's way with that key's secret
    as `key`. `absolute=True` takes `seconds` as the Unix time of expiry."""
    parts = urlsplit(url_or_path)
    path = parts.path
    segments = path.split("/", 4)
    if (len(segments) < 5 - int(prefix) or segments[1] != "v1" or not segments[3]
            or (not prefix and not segments[4])):
        raise ValueError("the path must be /v1/<account>/<container>/<object>"
                         + (" (or a prefix)" if prefix else ""))
    expires = _expiry(seconds, absolute)
    signed_path = f"prefix:{path}" if prefix else path
    text = f"{method.upper()}\n{expires}\n{signed_path}"
    if ip_range:
        text = f"ip={ip_range}\n{text}"
    signature = _hmac(key, text, digest, base64url=base64url)
    if hp_access_key:
        signature = f"{hp_access_key[0]}:{hp_access_key[1]}:{signature}"
    query: dict[str, str] = {"temp_url_sig": signature, "temp_url_expires": (
        time.strftime(ISO8601, time.gmtime(expires)) if iso8601 else str(expires))}
    if prefix:
        query["temp_url_prefix"] = path.split("/", 4)[4] if len(segments) == 5 else ""
    if ip_range:
        query["temp_url_ip_range"] = ip_range
    if filename:
        query["filename"] = filename
    if inline:
        query["inline"] = ""
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return f"{base}{quote(path, safe='/:@%')}?{urlencode(query, safe=':')}"


@dataclass(frozen=True)
class FormPost:
    """The hidden fields of an upload form for a container (or a prefix in it)."""

    action: str
    redirect: str
    max_file_size: int
    max_file_count: int
    expires: int
    signature: str

    def fields(self) -> dict[str, str]:
        return {"redirect": self.redirect, "max_file_size": str(self.max_file_size),
                "max_file_count": str(self.max_file_count), "expires": str(self.expires),
                "signature": self.signature}

    def html(self, title: str = "Upload") -> str:
        """A complete page with the form, for people to upload into the container."""
        from html import escape

        hidden = "\n".join(f'    <input type="hidden" name="{k}" value="{escape(v)}" />'
                           for k, v in self.fields().items())
        multiple = " multiple" if self.max_file_count > 1 else ""
        return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}"
                f"</title></head>\n<body><h1>{escape(title)}</h1>\n"
                f'<form action="{escape(self.action)}" method="POST" '
                f'enctype="multipart/form-data">\n{hidden}\n'
                f'    <input type="file" name="file"{multiple} />\n'
                f'    <input type="submit" value="Upload" />\n</form></body></html>\n')


def form_post(url: str, key: str, *, seconds: int = 3600, absolute: bool = False,
              redirect: str = "", max_file_size: int = 5 * 2**30, max_file_count: int = 1,
              digest: str = "sha256") -> FormPost:
    """Sign a form POST to `url` (`https://host/v1/AUTH_p/c[/prefix]`)."""
    path = urlsplit(url).path
    if path.count("/") < 3 or not path.startswith("/v1/"):
        raise ValueError("the URL must name /v1/<account>/<container>[/<prefix>]")
    expires = _expiry(seconds, absolute)
    text = f"{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    return FormPost(url, redirect, max_file_size, max_file_count, expires,
                    _hmac(key, text, digest))
