"""Who the client is: the immediate peer, or what trusted proxies say about it.

A forwarding header is only as trustworthy as whoever wrote its last entry.
So the header is read only when the immediate peer is a trusted proxy, and
then right to left: each entry was appended by the hop to its right, and the
walk stops at the first address that is not a trusted proxy. Everything to
the left of it was written by the client and is never looked at, so a client
cannot choose its own address (slowapi trusts the header blindly, and every
client behind nginx shares one bucket: laurentS/slowapi #255, #306).

An entry that does not parse (garbage, ``unknown``, an obfuscated RFC 7239
node) ends the walk too: the client is then the last hop that could be
vouched for. That errs towards sharing a bucket, never towards a key the
client picked. Only one header is read (the one the proxies are configured
to write): reading both would let a client use the one its proxy passes
through untouched.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Literal, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
FORWARDED_HEADERS: tuple[str, ...] = ("x-forwarded-for", "forwarded")

UNIX = "unix"  # in trusted_proxies: trust a peer with no IP address (a unix socket)
MAX_HOPS = 32  # entries looked at, right to left; a longer chain of trusted proxies is not believed


class TrustedProxies:
    """A set of proxy addresses and networks (``"10.0.0.0/8"``, ``"127.0.0.1"``, ``"::1"``, ``"unix"``)."""

    __slots__ = ("networks", "unix")

    def __init__(self, entries: Iterable[str | IPAddress | IPNetwork] = ()) -> None:
        if isinstance(entries, (str, bytes)):
            entries = [entries]  # one address, not its characters
        networks: list[IPNetwork] = []
        self.unix = False
        for entry in entries:
            if entry == UNIX:
                self.unix = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry))  # strict: "10.0.0.1/8" is refused, not guessed
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network ({exc}); "
                    f'use e.g. "10.0.0.0/8", "127.0.0.1", "::1" or "{UNIX}"'
                ) from None
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks) or self.unix

    def __repr__(self) -> str:
        names = [str(n) for n in self.networks] + ([UNIX] if self.unix else [])
        return f"TrustedProxies({names!r})"

    def trusts(self, address: IPAddress | None) -> bool:
        """``address`` None is a peer without an IP address (a unix socket)."""
        if address is None:
            return self.unix
        return any(address in network for network in self.networks)


@functools.lru_cache(maxsize=4096)  # pure; peers and clients repeat (ipaddress parsing is the costly part)
def parse_address(text: str) -> IPAddress | None:
    """An IP address as forwarding headers and servers write it, or None.

    Accepts ``1.2.3.4``, ``1.2.3.4:80``, ``::1``, ``[::1]``, ``[::1]:80``;
    an IPv4-mapped IPv6 address is its IPv4 address (dual-stack sockets).
    """
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and not _is_port(text[end + 1 :])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has at least two colons
        text, port = text.split(":")
        if not _is_port(":" + port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    return len(text) >= 2 and text[0] == ":" and text[1:].isascii() and text[1:].isdigit() and len(text) <= 6


def _x_forwarded_for(values: list[str]) -> list[str]:
    """The last MAX_HOPS entries (rightmost last) of the comma-separated header(s)."""
    joined = ",".join(values)
    return joined.rsplit(",", MAX_HOPS)[-MAX_HOPS:]


def _forwarded_for(values: list[str]) -> list[str]:
    """The ``for=`` node of each RFC 7239 element, rightmost last; ``""`` for an element without one.

    Commas and semicolons inside quoted strings do not split. A header that
    ends inside a quoted string is malformed as a whole and yields nothing:
    a client's unbalanced quote would otherwise swallow the element its proxy
    appended (``for=9.9.9.9;x="`` + ``, for=<real address>``) and choose the key.
    """
    elements = _split_outside_quotes(",".join(values), ",")
    if elements is None:
        return []
    nodes: list[str] = []
    for element in elements:
        node = ""
        for pair in _split_outside_quotes(element, ";") or ():
            name, sep, value = pair.partition("=")
            if sep and name.strip().lower() == "for":
                node = _unquote(value.strip())
        nodes.append(node)
    return nodes[-MAX_HOPS:]


def _split_outside_quotes(text: str, sep: str) -> list[str] | None:
    """``text`` split at ``sep`` outside quoted strings; None if it ends inside one."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or escaped:
        return None
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    """A token, or a quoted-string without its quotes and escapes; ``""`` when it is neither."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner, out, escaped = value[1:-1], [], False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    if '"' in value:
        return ""
    return value


def client_address(
    peer: str | None,
    header_values: list[str],
    trusted: TrustedProxies,
    header: ForwardedHeader = "x-forwarded-for",
) -> str | None:
    """The client's address as a normalised string (``"203.0.113.7"``, ``"2001:db8::1"``).

    ``peer`` is the immediate peer's address (None or unparsable: a unix
    socket). ``header_values`` are the values of ``header`` in the request,
    in order. Returns None only when the peer has no IP address and is not
    trusted, or nothing it forwarded could be vouched for.
    """
    current = parse_address(peer) if peer else None
    if not trusted.trusts(current) or not header_values:
        return None if current is None else str(current)
    entries = _x_forwarded_for(header_values) if header == "x-forwarded-for" else _forwarded_for(header_values)
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break  # unparsable: keep the last hop we can vouch for
        current = address
        if not trusted.trusts(address):
            break  # the first untrusted hop is the client
    return None if current is None else str(current)


def check_header(header: str) -> ForwardedHeader:
    name = header.lower() if isinstance(header, str) else header
    if name not in FORWARDED_HEADERS:
        raise ValueError(f"forwarded_header must be one of {', '.join(FORWARDED_HEADERS)} (got {header!r})")
    return name  # type: ignore[return-value]
