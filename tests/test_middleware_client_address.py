"""The client-address rule in isolation: trusted proxies, right-to-left walks, hostile headers."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from limiter.client_address import MAX_HOPS, TrustedProxies, client_address, parse_address

TRUSTED = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
PROXY = "10.0.0.1"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("1.2.3.4:8080", "1.2.3.4"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),  # normalised, so one client has one key
        ("1.2.3.4:", None),
        ("1.2.3.4:99999999", None),
        ("1.2.3.4:８０", None),  # non-ASCII digits are not a port
        ("[::1]x", None),
        ("[::1", None),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("1.2.3", None),
    ],
)
def test_parse_address(text: str, address: str | None) -> None:
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address


def test_an_untrusted_peer_is_the_client_whatever_it_sends() -> None:
    assert client_address("198.51.100.1", ["203.0.113.9"], TRUSTED) == "198.51.100.1"
    assert client_address("198.51.100.1", ["for=203.0.113.9"], TRUSTED, "forwarded") == "198.51.100.1"
    assert client_address("198.51.100.1", ["203.0.113.9"], TrustedProxies()) == "198.51.100.1"


def test_a_trusted_peer_walks_right_to_left_to_the_first_untrusted_hop() -> None:
    assert client_address(PROXY, ["203.0.113.9, 198.51.100.2, 10.9.9.9"], TRUSTED) == "198.51.100.2"
    assert client_address(PROXY, ["203.0.113.9", "198.51.100.2"], TRUSTED) == "198.51.100.2"  # two fields, one list
    assert client_address(PROXY, ["10.1.1.1, 10.2.2.2"], TRUSTED) == "10.1.1.1"  # all trusted: the leftmost
    assert client_address(PROXY, [], TRUSTED) == PROXY


def test_an_unparsable_entry_keeps_the_last_hop_that_can_be_vouched_for() -> None:
    assert client_address(PROXY, ["203.0.113.9, junk"], TRUSTED) == PROXY
    assert client_address(PROXY, ["junk, 10.2.2.2"], TRUSTED) == "10.2.2.2"
    assert client_address(PROXY, ["198.51.100.2, unknown, 10.2.2.2"], TRUSTED) == "10.2.2.2"


def test_the_walk_looks_at_most_max_hops_entries() -> None:
    chain = ", ".join(["198.51.100.9"] + ["10.0.0.5"] * (MAX_HOPS + 5))
    assert client_address(PROXY, [chain], TRUSTED) == "10.0.0.5"  # never reaches the far left


def test_unix_socket_peers() -> None:
    assert client_address(None, ["198.51.100.3"], TRUSTED) is None
    assert client_address(None, ["198.51.100.3"], TrustedProxies(["unix"])) == "198.51.100.3"
    assert client_address("", ["198.51.100.3"], TrustedProxies(["unix"])) == "198.51.100.3"
    assert client_address(None, [], TrustedProxies(["unix"])) is None


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("for=198.51.100.4", "198.51.100.4"),
        ('For="198.51.100.4:80";Proto=https', "198.51.100.4"),
        ('for="[2001:db8::7]:4711", for=10.0.0.3', "2001:db8::7"),
        ('for=203.0.113.9;x="a,b;c", for=198.51.100.5', "198.51.100.5"),  # separators inside quotes
        ('for="\\1\\9\\8.51.100.6"', "198.51.100.6"),  # quoted-pair escapes
        ('for=9.9.9.9;x=", for=198.51.100.7', PROXY),  # an open quote: the whole header is malformed
        ('for=9.9.9.9;x="\\', PROXY),
        ("for=_gazonk, for=198.51.100.8", "198.51.100.8"),
        ("for=198.51.100.8, for=_gazonk", PROXY),  # obfuscated: cannot be vouched for
        ("by=10.0.0.9", PROXY),
        ('for="198.51.100.9"x', PROXY),
    ],
)
def test_forwarded(header: str, client: str) -> None:
    assert client_address(PROXY, [header], TRUSTED, "forwarded") == client


def test_a_client_cannot_choose_its_key_through_forwarded_quotes() -> None:
    # Failed before the fix: a quote-aware split across the whole header let the
    # client's open quote swallow the element its proxy appended, so the client's
    # own "for=9.9.9.9" was read as the last hop.
    assert client_address(PROXY, ['for=9.9.9.9;x="', "for=198.51.100.10"], TRUSTED, "forwarded") != "9.9.9.9"


def test_bad_trusted_proxies_are_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.1/8' is not an IP address or network"):
        TrustedProxies(["10.0.0.1/8"])  # host bits set: a typo, not guessed
    with pytest.raises(ValueError, match="'localhost'"):
        TrustedProxies(["localhost"])
    assert TrustedProxies("127.0.0.1").trusts(ipaddress.ip_address("127.0.0.1"))  # one string is one entry
    assert not TrustedProxies()


CLIENT_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=200)
REAL = st.ip_addresses(v=4, network="198.51.100.0/24").map(str) | st.ip_addresses(v=6, network="2001:db8::/32").map(str)


@given(header=CLIENT_TEXT, peer=REAL)
def test_an_untrusted_peer_never_gets_another_key(header: str, peer: str) -> None:
    assert client_address(peer, [header], TRUSTED) == str(ipaddress.ip_address(peer))
    assert client_address(peer, [header], TRUSTED, "forwarded") == str(ipaddress.ip_address(peer))


@given(spoof=CLIENT_TEXT, real=REAL)
def test_what_a_client_writes_never_overrides_what_its_proxy_appends(spoof: str, real: str) -> None:
    expected = str(ipaddress.ip_address(real))
    assert client_address(PROXY, [f"{spoof}, {real}"], TRUSTED) == expected
    node = f'"[{real}]"' if ":" in real else real
    # Forwarded: the proxy's element, or (a malformed header) the proxy itself; never the client's text.
    assert client_address(PROXY, [f"{spoof}, for={node}"], TRUSTED, "forwarded") in (expected, PROXY)
    if '"' not in spoof and "\\" not in spoof:
        assert client_address(PROXY, [f"{spoof}, for={node}"], TRUSTED, "forwarded") == expected
