"""Kill the service (SIGKILL) in the middle of a batch, restart it: no message twice, none lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from notifications.standins import MailCatcher
from tdu_dev.testing.contacts import contact_upserted
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts import journeys as j
from tdu_shared.envelope import new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing
from tdu_shared.topics import JOURNEYS_EVENTS, Topics

pytestmark = pytest.mark.integration

SEEKERS = 40


async def wait_for(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def sms_received(url: str) -> list[dict[str, str]]:
    return list(httpx.get(f"{url}/received", timeout=5).json())


async def test_killing_the_service_mid_batch_sends_nothing_twice_and_loses_nothing(
    service_env: dict[str, str], kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    catcher = MailCatcher(port=free_port(), delay_s=0.05).start()
    sms_port, http_port = free_port(), free_port()
    sms_url = f"http://127.0.0.1:{sms_port}"
    standin = ServiceProcess(
        "notifications",
        ["sms-standin", "--port", str(sms_port), "--record-file", str(tmp_path / "sms.jsonl")],
        {},
        tmp_path / "sms.log",
    ).start()
    env = {
        **service_env,
        "HTTP_PORT": str(http_port),
        "SMTP_PORT": str(catcher.port),
        "SMS_API_BASE_URL": sms_url,
        "QUIET_START": "00:00",
        "QUIET_END": "00:00",
        "DELIVERY_LEASE_S": "2",
        "DISPATCH_BATCH": "8",
        "DISPATCH_POLL_S": "0.3",
    }
    service = ServiceProcess("notifications", ["serve"], env, tmp_path / "service.log", port=http_port)
    try:
        service.start()
        async with EventPublisher(kafka_bootstrap, topics) as publisher:
            await publisher.publish_many(
                [
                    contact_upserted(
                        f"S-{n}", j.Role.SEEKER, f"s{n}@example.org", phone=f"+336{n:08d}", consent_sms=True
                    )
                    for n in range(SEEKERS)
                ]
            )
            await asyncio.sleep(1)
            await publisher.publish_many(
                [
                    Outgoing(
                        JOURNEYS_EVENTS,
                        f"J-{n}",
                        new_envelope(
                            j.ApplicationSubmitted(
                                journey_id=f"J-{n}",
                                offer_id="O-1",
                                seeker_id=f"S-{n}",
                                from_state=None,
                                to_state=j.JourneyState.APPLIED,
                                actor_role=j.Role.SEEKER,
                                offer_title="Soudeur",
                            ),
                            producer="journeys",
                            region="44",
                            basin="4410",
                        ),
                    )
                    for n in range(SEEKERS)
                ]
            )
        await wait_for(lambda: len(catcher.messages) >= 10, 60)
        service.kill()
        sent_before_kill = len(catcher.messages)
        assert sent_before_kill < SEEKERS, "the kill came after the batch: nothing was in flight"

        service.start()
        await wait_for(lambda: len(catcher.messages) >= SEEKERS and len(sms_received(sms_url)) >= SEEKERS, 60)
        await asyncio.sleep(3)  # longer than the lease: anything taken back after the kill has been handled

        mails = Counter(m.rcpt_to[0] for m in catcher.messages)
        assert mails == Counter({f"s{n}@example.org": 1 for n in range(SEEKERS)})
        assert len({m.message_id for m in catcher.messages}) == SEEKERS
        # a message accepted by the relay but not yet recorded as sent when the process died is sent again
        # with the same Message-ID (the relay drops it); at most one batch can be in that state
        assert len(catcher.duplicates) <= 8
        texts = Counter(s["recipient"] for s in sms_received(sms_url))
        assert texts == Counter({f"336{n:08d}": 1 for n in range(SEEKERS)})
    finally:
        service.stop()
        standin.stop()
        catcher.stop()
        print(
            f"mails before kill: {sent_before_kill if 'sent_before_kill' in locals() else '?'}; "
            f"duplicates dropped by Message-ID: {len(catcher.duplicates)}"
        )
