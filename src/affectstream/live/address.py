"""HOST:PORT strings as the live outputs take them (`127.0.0.1:9000`, `[::1]:9000`, `:9000`)."""
from __future__ import annotations

import ipaddress

from ..errors import AffectStreamError

LOOPBACK = "127.0.0.1"  # servers listen here unless a user names another host


def parse_address(text: str, default_host: str = LOOPBACK) -> tuple[str, int]:
    """(host, port) from `HOST:PORT`; a missing host is `default_host`; port 0: any free one."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep:
        host, port = "", host  # a bare port
    host = host.strip("[]") or default_host  # [::1]:9000
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise AffectStreamError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9000)")
    return host, number


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
