"""Store URLs: parsing, and showing them without their secrets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"^(?P<scheme>[^:/?#]+://)(?P<user>[^:@/?#]*)(?::[^@/?#]*)?@")


def redact(url: str) -> str:
    """Replace the password in ``url`` (if any) with ``***``.

    >>> redact("postgresql://app:s3cret@db.example:5432/slots")
    'postgresql://app:***@db.example:5432/slots'
    >>> redact("sqlite:///slots.db")
    'sqlite:///slots.db'
    """
    match = _USERINFO.match(url)
    if match is None or ":" not in url[len(match["scheme"]) : match.end()]:
        return _redact_query(url)
    return _redact_query(f"{match['scheme']}{match['user']}:***@{url[match.end():]}")


def _redact_query(url: str) -> str:
    return re.sub(r"(?i)([?&](?:password|passwd|pwd)=)[^&#]*", r"\1***", url)


def scheme_of(url: str) -> str:
    """The lower-cased scheme of ``url`` (``''`` if it has none)."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""
