"""``[metrics]``: where ``tbdash metrics`` listens, how many buckets get their own series, how often it polls."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import Field, field_validator

from dashboard.settings.redis import Section

DEFAULT_LISTEN = "127.0.0.1:9464"  # loopback: the exporter has no authentication of its own
DEFAULT_TOP_N = 100


class ListenAddress(NamedTuple):
    host: str
    port: int  # 0: any free port (the exporter prints the one it got)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> ListenAddress:
    """``HOST:PORT`` or ``[IPv6]:PORT``; raises ValueError saying what is wrong."""
    item = text.strip()
    if item.startswith("["):
        host, bracket, tail = item[1:].partition("]")
        if not bracket or not tail.startswith(":"):
            raise ValueError(f"{text!r} is not HOST:PORT; write an IPv6 address as [::1]:9464")
        port_text = tail[1:]
    elif item.count(":") > 1:
        raise ValueError(f"{text!r}: an IPv6 address needs brackets, e.g. [::1]:9464")
    else:
        host, colon, port_text = item.partition(":")
        if not colon and host.isdigit():
            raise ValueError(f"{text!r} is a port without a host; write HOST:PORT, e.g. 127.0.0.1:{host}")
        if not colon:
            raise ValueError(f"{text!r} has no port; write HOST:PORT, e.g. {host}:9464")
    if not host:
        raise ValueError(f"{text!r} has no host; write 0.0.0.0:PORT to listen on every interface")
    if any(c.isspace() or c in "/?#@[]" for c in host):
        raise ValueError(f"bad host {host!r} in {text!r}")
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise ValueError(f"port {port_text!r} is not a number from 0 to 65535 (0: any free port)")
    return ListenAddress(host, int(port_text))


class MetricsSettings(Section):
    """``[metrics]``: the Prometheus exporter (``tbdash metrics``)."""

    listen: str = DEFAULT_LISTEN
    # Buckets exported with a user label (the most denials first); the rest only in the aggregates.
    top_n: int = Field(default=DEFAULT_TOP_N, ge=1, le=10_000)
    poll_interval: float = Field(default=5.0, ge=0.1, le=3600)

    @field_validator("listen")
    @classmethod
    def _listen(cls, listen: str) -> str:
        parse_listen(listen)
        return listen

    @property
    def address(self) -> ListenAddress:
        return parse_listen(self.listen)
