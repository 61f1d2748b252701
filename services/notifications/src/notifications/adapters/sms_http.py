"""SMS through an HTTP API shaped like Brevo's transactional SMS API.

POST {base_url}/v3/transactionalSMS/sms, header ``api-key``, JSON {sender, recipient, content, type, tag}:
201 with {messageId}; 400 = permanent failure; 429 and 5xx = transient. After a crash, the SMS already
accepted under a delivery's tag are counted with GET {base_url}/v3/transactionalSMS/statistics/events?tags=.
"""

from __future__ import annotations

import httpx

from notifications.ports import PermanentFailure, TransientFailure


class HttpSmsSender:
    def __init__(self, base_url: str, api_key: str, sender: str, *, timeout_s: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"api-key": api_key, "accept": "application/json"},
        )
        self._sender = sender

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, recipient: str, content: str, tag: str) -> str:
        body = {
            "sender": self._sender,
            "recipient": recipient.lstrip("+"),
            "content": content,
            "type": "transactional",
            "tag": tag,
        }
        try:
            response = await self._client.post("/v3/transactionalSMS/sms", json=body)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"SMS provider unreachable: {exc!r}") from exc
        if response.status_code in (200, 201):
            return str(response.json().get("messageId", ""))
        error = f"SMS provider answered {response.status_code}: {response.text[:300]}"
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientFailure(error)
        raise PermanentFailure(error)

    async def accepted_with_tag(self, tag: str) -> int:
        try:
            response = await self._client.get(
                "/v3/transactionalSMS/statistics/events", params={"tags": tag, "event": "sent", "limit": 100}
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TransientFailure(f"cannot ask the SMS provider what it accepted: {exc!r}") from exc
        return len(response.json().get("events", []))
