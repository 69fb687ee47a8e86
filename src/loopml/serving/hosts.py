"""Which ``Host`` headers the endpoint answers (a defence against DNS rebinding).

An endpoint bound to a loopback address answers only requests that name a loopback host
(``localhost``, ``127.x.x.x``, ``[::1]``, with or without a port) or a name given with
``--allowed-host``. A web page on another site that rebinds its own name to 127.0.0.1 still
sends its own name as ``Host``, so its requests are refused. Bound to any other address, the
endpoint checks ``Host`` only when ``--allowed-host`` names are given.
"""

from __future__ import annotations

import ipaddress
import re

from loopml.core.errors import InvalidInput

_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_PORT_RE = re.compile(r"[0-9]{1,5}")


def is_loopback(name: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``); nothing resolved."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_allowed(name: str) -> str:
    """An ``--allowed-host`` value as compared with request hosts: lower case, IPv6 without
    brackets; a scheme, port, path or wildcard is refused with the form to use."""
    text = name.strip().lower()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if len(text) > 253 or not _NAME_RE.fullmatch(text):
        raise InvalidInput(
            f"--allowed-host {name!r} is not a host name or address; give the name clients use, "
            "without scheme, port or path, e.g. --allowed-host api.example.com"
        )
    return text


def host_of(header: str) -> str | None:
    """The host part of a ``Host`` header value (lower case, IPv6 without brackets), or None
    when the value is not ``host`` or ``host:port``."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest and not (rest[0] == ":" and _PORT_RE.fullmatch(rest[1:])):
            return None
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            return None
    host, sep, port = value.rpartition(":")
    if not sep:
        host = value
    elif not _PORT_RE.fullmatch(port):
        return None
    return host or None


class HostCheck:
    """Decides on a raw ``Host`` header; the values it has accepted are remembered, so a
    request pays one set lookup."""

    def __init__(self, bind_host: str, allowed: tuple[str, ...]) -> None:
        self.enabled = is_loopback(bind_host.strip("[]")) or bool(allowed)
        self.allowed = frozenset(allowed)
        self._accepted: set[bytes] = set()

    def allows(self, header: bytes | None) -> bool:
        if not self.enabled:
            return True
        if header in self._accepted:
            return True
        host = host_of(header.decode("latin-1")) if header else None
        ok = host is not None and (is_loopback(host) or host in self.allowed)
        if ok and header is not None and len(self._accepted) < 1024:
            self._accepted.add(header)
        return ok

    def describe(self) -> str:
        """The hosts answered, for error messages."""
        names = ["localhost", "127.0.0.1", "[::1]", *sorted(self.allowed)]
        return ", ".join(names)
