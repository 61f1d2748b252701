"""The verified caller, as every service sees it once the credential is checked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tdu_shared.contracts.journeys import Role


class Unauthorized(Exception):
    """No credential, or one that cannot be trusted (malformed, forged, expired, revoked): HTTP 401."""


class Forbidden(Exception):
    """A trusted caller asking for something outside their role, region or basins: HTTP 403."""


@dataclass(frozen=True)
class Principal:
    """Who calls: taken from a verified credential, never from a header the caller writes.

    ``subject`` is the person's opaque id (seekers, employers, providers), the operator's e-mail, or the
    partner's short name. ``basins`` None means every basin of ``region``.
    """

    role: Role | None
    subject: str
    region: str
    basins: frozenset[str] | None = None
    capabilities: frozenset[str] = field(default_factory=frozenset)
    email: str | None = None
    key_id: str | None = None
    """The partner key used, if any (for the audit of what it did)."""

    @property
    def anonymous(self) -> bool:
        return self.role is None

    def covers(self, basin: str | None) -> bool:
        """The caller may read and act on things of this basin (a region-wide caller: every basin)."""
        return self.basins is None or (basin is not None and basin in self.basins)

    def require_basin(self, basin: str | None) -> None:
        if not self.covers(basin):
            raise Forbidden(f"hors de votre périmètre : bassin {basin or 'inconnu'}")

    def may(self, capability: str, on: str | None = None) -> bool:
        """The caller holds ``capability`` (or ``capability:on``, for a capability given for one thing)."""
        return capability in self.capabilities or (
            on is not None and f"{capability}:{on}" in self.capabilities
        )

    def only_basin(self, asked: str | None) -> str | None:
        """The basin a list or a count should be limited to: the one asked, checked; else the caller's
        single basin; None (no limit) only for a region-wide caller."""
        if asked is not None:
            self.require_basin(asked)
            return asked
        if self.basins is None:
            return None
        if len(self.basins) == 1:
            return next(iter(self.basins))
        raise Forbidden(f"précisez le bassin (basin) : votre accès couvre {', '.join(sorted(self.basins))}")


ANONYMOUS = Principal(role=None, subject="anonymous", region="", basins=frozenset())


def basins_of(values: Iterable[str]) -> frozenset[str] | None:
    """Basins as credentials carry them: an empty list means every basin of the region."""
    chosen = frozenset(values)
    return chosen or None
