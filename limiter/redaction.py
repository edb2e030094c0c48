"""Secrets out of everything shown: the one place that says how (issue 13 §5).

- `redact_url`: a connection URL with every password masked (malformed URLs too);
- `redact_message`: an error message that may quote a URL or ``password=...``;
- `scrub`: known secret values (the ones the settings hold) masked wherever they appear.
"""

from __future__ import annotations

import re
from typing import Sequence
from urllib.parse import unquote

MASK = "***"
# Query keys whose values are masked by redact_url(): anything that looks like a secret.
_SECRET_KEY = re.compile(r"pass|secret|token|auth|credential", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(\w[\w+.-]*://)[^@/\s]*@")
_SECRET_ASSIGNMENT = re.compile(r"(?i)(password|passwd|pwd|auth)(\s*[=:]\s*)\S+")



def redact_url(url: str) -> str:
    """``url`` with every password replaced by ``***`` (userinfo and query options).

    Works on malformed URLs too, and errs towards hiding more: everything
    between ``://`` and the LAST ``@`` counts as userinfo, so a password holding
    an unencoded ``/``, ``?`` or ``@`` is still hidden whole.
    """
    text = _redact_query(url)
    head, sep, rest = text.partition("://")
    if not sep:
        return text
    at = rest.rfind("@")
    if at < 0:
        return text
    userinfo, hostpart = rest[:at], rest[at + 1 :]
    user, colon, _password = userinfo.partition(":")
    return f"{head}://{user}{colon}{MASK if colon else ''}@{hostpart}"


def _redact_query(url: str) -> str:
    def mask(match: re.Match[str]) -> str:
        key = match.group(2)
        return match.group(0) if not _SECRET_KEY.search(key) else f"{match.group(1)}{key}={MASK}"

    return re.sub(r"([?&;])([^=&;#?]*)=([^&;#]*)", mask, url)


def secret_fragments(url: str) -> list[str]:
    """Every piece of ``url`` that ``redact_url`` hides, raw and percent-decoded."""
    pieces: list[str] = []
    for match in re.finditer(r"[?&;]([^=&;#?]*)=([^&;#]*)", url):
        if _SECRET_KEY.search(match.group(1)):
            pieces.append(match.group(2))
    _, sep, rest = url.partition("://")
    if sep and "@" in rest:
        pieces.append(rest[: rest.rfind("@")].partition(":")[2])
    pieces += [unquote(p) for p in pieces]
    return [p for p in pieces if p]


def redact_message(message: str) -> str:
    """Credentials out of an error message: a URL's userinfo, ``password=...`` and the like."""
    message = _URL_USERINFO.sub(rf"\1{MASK}@", message)
    return _SECRET_ASSIGNMENT.sub(rf"\1\2{MASK}", message)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Defence in depth: no known secret reaches a terminal, whatever a library put in a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
