"""Webhook requests: one POST to the address the callback URL was just checked to resolve to.

The connection goes to one of those addresses, in the resolver's order (the next one only when a connection
could not be made), and the name stays the TLS server name and the ``Host``: the name cannot be made to
resolve elsewhere between the check and the request. Redirects are never followed (a 3xx
is a failure), no proxy from the environment is used, nothing of the answer but its status is read, and
the whole exchange has ``timeout_s`` to finish. No connection is kept: two partners' hosts on one address
never share a TLS connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from notifications.webhooks.dispatcher import Answer
from notifications.webhooks.urls import Target


class HttpWebhookSender:
    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=0),
        )

    async def post(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST to the first of the checked addresses that takes the connection (the next one is tried only
        when a connection could not be made: nothing was sent)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                for number, address in enumerate(target.addresses, start=1):
                    request = self._client.build_request(
                        "POST",
                        target.url_for(address),
                        content=body,
                        headers={**headers, "Host": target.host_header},
                        extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
                    )
                    try:
                        response = await self._client.send(request, stream=True)
                    except httpx.ConnectError:
                        if number == len(target.addresses):
                            raise
                        continue
                    await response.aclose()
                    break
        except TimeoutError:
            return Answer(False, f"pas de réponse en {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return Answer(False, f"échec de la connexion ({type(exc).__name__})")
        status = response.status_code
        if 200 <= status < 300:
            return Answer(True, f"HTTP {status}")
        if 300 <= status < 400:
            return Answer(False, f"HTTP {status} (redirection non suivie)")
        return Answer(False, f"HTTP {status}")

    async def close(self) -> None:
        await self._client.aclose()
