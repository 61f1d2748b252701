"""Which callback URLs the platform calls on a partner's behalf (no request forgery towards its own network).

A callback URL is https, carries no credentials, and its host resolves only to public addresses: none
loopback, private, link-local (the cloud metadata address 169.254.169.254 included), multicast, reserved,
unspecified or otherwise not global, nor an IPv6 address that embeds one (IPv4-mapped ``::ffff:…``, 6to4,
NAT64). The host is resolved when the subscription is made AND before each delivery, and the request goes
to the address just checked (the name is kept for TLS and ``Host``), so a name that later resolves to an
internal address is refused at that delivery. ``WEBHOOKS_ALLOW_LOOPBACK`` (development and tests only)
lets http:// and loopback addresses through; private addresses stay refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the addresses it resolves to (text)."""

NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL = 2000


class UrlRefused(Exception):
    """A callback URL the platform will not call; ``reason`` says why (French)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``host`` (every family), in its order, once each."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked callback URL and the addresses it resolved to, all allowed."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == default else f"{shown}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL with the host replaced by one of its checked addresses (the connection goes there)."""
        shown = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def address_refusal(text: str, allow_loopback: bool = False) -> str | None:
    """Why the platform will not connect to this address; None when it may."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return f"{text} n'est pas une adresse IP"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(str(embedded), allow_loopback)
            return f"{address} contient l'adresse IPv4 {embedded} : {inner}" if inner else None
        if address.teredo is not None:
            return f"{address} : adresse Teredo (tunnel IPv4) refusée"
    if address.is_loopback:
        return None if allow_loopback else f"{address} est une adresse de bouclage (loopback)"
    if address.is_unspecified:
        return f"{address} est une adresse non spécifiée"
    if address.is_link_local:
        return f"{address} est une adresse lien-local (dont les métadonnées du nuage, 169.254.169.254)"
    if address.is_multicast:
        return f"{address} est une adresse multicast"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return f"{address} est une adresse site-local"
    if address.is_private:
        return f"{address} est une adresse privée"
    if address.is_reserved:
        return f"{address} est une adresse réservée"
    if not address.is_global:
        return f"{address} n'est pas une adresse publique"
    return None


def parse(url: str, allow_loopback: bool = False) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an acceptable URL, before any resolution."""
    if len(url) > MAX_URL:
        raise UrlRefused(f"URL trop longue (au plus {MAX_URL} caractères)")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"URL invalide : {exc}") from None
    allowed = ("https", "http") if allow_loopback else ("https",)
    if parts.scheme not in allowed:
        raise UrlRefused("l'URL doit commencer par https://")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("l'URL ne doit pas contenir d'identifiants (utilisateur:mot de passe@)")
    host = parts.hostname or ""
    if not host:
        raise UrlRefused("l'URL ne nomme aucun hôte")
    try:
        host = host.encode("idna").decode("ascii") if not _is_address(host) else host
    except UnicodeError:
        raise UrlRefused(f"nom d'hôte invalide : {host}") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check_callback_url(url: str, *, allow_loopback: bool, resolver: Resolver) -> Target:
    """The URL checked and resolved; :class:`UrlRefused` naming the first reason otherwise."""
    scheme, host, port, path = parse(url, allow_loopback)
    if _is_address(host):
        addresses: Sequence[str] = [host]
    else:
        try:
            addresses = await resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused(f"le nom {host} ne se résout pas ({exc})") from None
        if not addresses:
            raise UrlRefused(f"le nom {host} ne se résout en aucune adresse")
    for address in addresses:
        refused = address_refusal(address, allow_loopback)
        if refused:
            what = refused if address == host else f"{host} se résout en {refused}"
            raise UrlRefused(f"adresse refusée : {what}")
    return Target(url, scheme, host, port, path, tuple(addresses))
