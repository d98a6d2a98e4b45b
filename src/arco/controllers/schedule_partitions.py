"""Which partition keys a scheduled tick targets (pure): its time window by offset, static whole.

A tick requests one run, so every key it needs goes into one explicit KeysSelector resolved
at the tick's own instant (never at ``now``): the snapshot names the same keys however late
the tick is decided or read.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from arco.events import KeysSelector
from arco.events.schedules import ScheduledPartitions
from arco.partitions import (
    MultiPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
    partitions_def_from_dict,
)


def scheduled_partition_selection(
    scheduled: ScheduledPartitions | None, at: datetime
) -> KeysSelector | None:
    """The keys a tick at ``at`` targets: its time window(s) by offset, static dimensions whole.

    Raises InvalidPartitionRangeError when that window does not exist (before the first
    partition or after the end).
    """
    if scheduled is None:
        return None
    definition = partitions_def_from_dict(scheduled.partitions_def)
    if isinstance(definition, MultiPartitionsDefinition):
        parts = [_dimension_keys(d, scheduled.offset, at) for _, d in definition.dimensions]
        keys = tuple(
            definition.join_key(dict(zip(definition.dimension_names, combo, strict=True)))
            for combo in itertools.product(*parts)
        )
        return KeysSelector(keys=keys)
    return KeysSelector(keys=tuple(_dimension_keys(definition, scheduled.offset, at)))


def _dimension_keys(definition: PartitionsDefinition, offset: int, at: datetime) -> list[str]:
    if isinstance(definition, TimeWindowPartitionsDefinition):
        # The definition's last partition at the tick is index size(at) - 1 (offset -1).
        return [definition.key_at(definition.count(at) + offset)]
    return list(definition.iter_keys(0, at))
