"""/ready's verdict: one slow answer does not take a service out of rotation, a dependency gone does."""

from __future__ import annotations

import asyncio

from tdu_shared.http import Readiness


async def test_a_dependency_that_answered_is_not_ready_only_once_it_has_failed_for_the_grace() -> None:
    answers = [True]

    async def store() -> bool:
        return answers[-1]

    readiness = Readiness({"store": store}, timeout_s=0.2, grace_s=0.3)
    assert await readiness.probe() == {"store": True}
    answers.append(False)
    assert await readiness.probe() == {"store": True}  # one failed answer: still in rotation
    await asyncio.sleep(0.35)
    assert await readiness.probe() == {"store": False}  # failing for longer than the grace
    answers.append(True)
    assert await readiness.probe() == {"store": True}


async def test_a_dependency_that_never_answered_or_hangs_is_not_ready() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(10)
        return True

    async def refuses() -> bool:
        raise ConnectionError("refused")

    readiness = Readiness({"broker": hangs, "store": refuses}, timeout_s=0.1, grace_s=5)
    assert await readiness.probe() == {"broker": False, "store": False}
