"""Who is calling, and what they may do: credentials, the partner key ring, the access policy.

- :mod:`.principal`: the verified caller (role, subject, region, basins, capabilities).
- :mod:`.tokens`: short-lived signed session credentials (seekers, employers, providers, operators).
- :mod:`.keys`: partner API keys, learnt by every service from the ``access.keys`` topic.
- :mod:`.policy`: the table of who may call which operation, enforced by one dependency.
"""

from tdu_shared.access.principal import ANONYMOUS, Forbidden, Principal, Unauthorized

__all__ = ["ANONYMOUS", "Forbidden", "Principal", "Unauthorized"]
