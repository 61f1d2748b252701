from datetime import UTC, datetime, timedelta

import pytest

from tdu_shared.clock import FixedClock, SystemClock


def test_the_system_clock_is_aware_and_moves() -> None:
    first = SystemClock().now()
    assert first.tzinfo is UTC and SystemClock().now() >= first


def test_a_fixed_clock_moves_only_when_told_or_by_its_tick() -> None:
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    clock = FixedClock(start)
    assert clock.now() == clock.now() == start
    clock.advance(minutes=2)
    assert clock.now() == start + timedelta(minutes=2)
    ticking = FixedClock(start, tick=timedelta(seconds=1))
    assert [ticking.now(), ticking.now()] == [start + timedelta(seconds=1), start + timedelta(seconds=2)]
    assert FixedClock.as_of(start.date()).now() == start.replace(hour=12)
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2027, 1, 4))
