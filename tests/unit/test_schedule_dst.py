"""Daylight saving through the controller (DESIGN §5): the scheduled instants of real ticks.

Each case creates a schedule, runs controller passes across a transition and reads the
triggered ticks back from the folded projection.  The same instants must come out whether the
daemon wakes exactly at ``next_due``, every few minutes, or once after a long outage.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from arco.events.schedules import ScheduledPartitions
from arco.partitions import HourlyPartitionsDefinition
from support.schedules import Simulation, at, spec

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"

# (cron, zone, created, until, expected local instants of the triggered ticks)
CASES = [
    pytest.param(
        "30 2 * * *",
        NY,
        "2024-03-09T00:00-05:00",
        "2024-03-11T12:00-04:00",
        ["2024-03-09T02:30:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
        id="new-york-daily-spring-forward-fires-at-the-jump",
    ),
    pytest.param(
        "30 1 * * *",
        NY,
        "2024-11-02T00:00-04:00",
        "2024-11-04T12:00-05:00",
        ["2024-11-02T01:30:00-04:00", "2024-11-03T01:30:00-05:00", "2024-11-04T01:30:00-05:00"],
        id="new-york-daily-fall-back-fires-once-at-the-later-occurrence",
    ),
    pytest.param(
        "30 * * * *",
        NY,
        "2024-03-10T00:00-05:00",
        "2024-03-10T04:45-04:00",
        [
            "2024-03-10T00:30:00-05:00",
            "2024-03-10T01:30:00-05:00",
            "2024-03-10T03:30:00-04:00",
            "2024-03-10T04:30:00-04:00",
        ],
        id="new-york-hourly-spring-forward-skips-the-missing-hour",
    ),
    pytest.param(
        "30 * * * *",
        NY,
        "2024-11-03T00:00-04:00",
        "2024-11-03T02:45-05:00",
        [
            "2024-11-03T00:30:00-04:00",
            "2024-11-03T01:30:00-04:00",
            "2024-11-03T01:30:00-05:00",
            "2024-11-03T02:30:00-05:00",
        ],
        id="new-york-hourly-fall-back-fires-in-both-copies",
    ),
    pytest.param(
        "30 1 * * *",
        LONDON,
        "2024-03-30T00:00+00:00",
        "2024-04-01T12:00+01:00",
        ["2024-03-30T01:30:00+00:00", "2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"],
        id="london-daily-spring-forward",
    ),
    pytest.param(
        "30 1 * * *",
        LONDON,
        "2024-10-26T00:00+01:00",
        "2024-10-28T12:00+00:00",
        ["2024-10-26T01:30:00+01:00", "2024-10-27T01:30:00+00:00", "2024-10-28T01:30:00+00:00"],
        id="london-daily-fall-back",
    ),
    pytest.param(
        "15 * * * *",
        LONDON,
        "2024-03-31T00:00+00:00",
        "2024-03-31T03:30+01:00",
        ["2024-03-31T00:15:00+00:00", "2024-03-31T02:15:00+01:00", "2024-03-31T03:15:00+01:00"],
        id="london-hourly-spring-forward",
    ),
    pytest.param(
        "15 * * * *",
        LONDON,
        "2024-10-27T00:00+01:00",
        "2024-10-27T02:30+00:00",
        [
            "2024-10-27T00:15:00+01:00",
            "2024-10-27T01:15:00+01:00",
            "2024-10-27T01:15:00+00:00",
            "2024-10-27T02:15:00+00:00",
        ],
        id="london-hourly-fall-back",
    ),
    # Lord Howe moves by 30 minutes: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
    pytest.param(
        "15 2 * * *",
        LORD_HOWE,
        "2024-10-05T00:00+10:30",
        "2024-10-07T12:00+11:00",
        ["2024-10-05T02:15:00+10:30", "2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"],
        id="lord-howe-daily-half-hour-gap-fires-at-the-jump",
    ),
    pytest.param(
        "45 1 * * *",
        LORD_HOWE,
        "2024-04-06T00:00+11:00",
        "2024-04-08T12:00+10:30",
        ["2024-04-06T01:45:00+11:00", "2024-04-07T01:45:00+10:30", "2024-04-08T01:45:00+10:30"],
        id="lord-howe-daily-half-hour-overlap-fires-at-the-later-occurrence",
    ),
    pytest.param(
        "15 * * * *",
        LORD_HOWE,
        "2024-10-06T00:00+10:30",
        "2024-10-06T04:00+11:00",
        ["2024-10-06T00:15:00+10:30", "2024-10-06T01:15:00+10:30", "2024-10-06T03:15:00+11:00"],
        id="lord-howe-hourly-skips-the-missing-quarter-past-two",
    ),
    pytest.param(
        "45 * * * *",
        LORD_HOWE,
        "2024-10-06T00:00+10:30",
        "2024-10-06T03:50+11:00",
        [
            "2024-10-06T00:45:00+10:30",
            "2024-10-06T01:45:00+10:30",
            "2024-10-06T02:45:00+11:00",
            "2024-10-06T03:45:00+11:00",
        ],
        id="lord-howe-hourly-keeps-a-minute-that-survives-the-jump",
    ),
    pytest.param(
        "45 * * * *",
        LORD_HOWE,
        "2024-04-07T00:00+11:00",
        "2024-04-07T03:00+10:30",
        [
            "2024-04-07T00:45:00+11:00",
            "2024-04-07T01:45:00+11:00",
            "2024-04-07T01:45:00+10:30",
            "2024-04-07T02:45:00+10:30",
        ],
        id="lord-howe-hourly-fires-in-both-copies-of-the-repeated-half-hour",
    ),
]


def simulate(cron: str, tz: str, created: str, until: str, mode: str) -> list[str]:
    sim = Simulation()
    # A window wide enough that the one-late-pass mode drops nothing for lateness.
    wide = {"max_catchup_ticks": 100, "catchup_window_minutes": 10 * 1440}
    sim.create(spec(cron=cron, timezone=tz, **wide), created)
    start, end = at(created), at(until)
    if mode == "next_due":
        sim.run(start, end)
    elif mode == "every_7_minutes":
        sim.run(start, end, every=timedelta(minutes=7))
    else:  # the daemon was down the whole time: one pass catches everything up
        sim.step(end)
    assert len(sim.runs()) == len(sim.ticks("triggered"))
    return sim.triggered_instants(tz)


@pytest.mark.parametrize("mode", ["next_due", "every_7_minutes", "one_late_pass"])
@pytest.mark.parametrize(("cron", "tz", "created", "until", "expected"), CASES)
def test_scheduled_instants_across_dst(
    cron: str, tz: str, created: str, until: str, expected: list[str], mode: str
) -> None:
    assert simulate(cron, tz, created, until, mode) == expected


def test_run_keys_of_the_repeated_hour_are_distinct() -> None:
    sim = Simulation()
    sim.create(spec(cron="30 * * * *", timezone=NY), "2024-11-03T00:00-04:00")
    sim.run(at("2024-11-03T00:00-04:00"), at("2024-11-03T02:45-05:00"))
    keys = [t["run_key"] for t in sim.ticks("triggered")]
    assert len(keys) == len(set(keys)) == 4
    assert len(sim.runs()) == 4


def test_next_due_lands_on_the_jump_instant_of_a_daily_tick() -> None:
    sim = Simulation()
    sim.create(spec(cron="30 2 * * *", timezone=NY), "2024-03-09T12:00-05:00")
    assert sim.step(at("2024-03-09T12:00-05:00")) == at("2024-03-10T03:00-04:00")


def test_the_two_copies_of_the_repeated_hour_target_different_partitions() -> None:
    hourly = HourlyPartitionsDefinition(start_date="2024-11-01-00:00", timezone=NY)
    scheduled = ScheduledPartitions(partitions_def=dict(hourly.to_dict()))
    sim = Simulation()
    sim.create(spec(cron="0 * * * *", timezone=NY, partitions=scheduled), "2024-11-03T00:30-04:00")
    sim.run(at("2024-11-03T00:30-04:00"), at("2024-11-03T02:30-05:00"))
    keys = [t["snapshot"]["partition_selection"]["keys"] for t in sim.ticks("triggered")]  # type: ignore[index]
    assert keys == [["2024-11-03-00:00"], ["2024-11-03-01:00"], ["2024-11-03-01:00-0500"]]
