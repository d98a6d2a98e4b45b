"""What an asset function receives: the run, the partition, the attempt and a logger.

``context.log`` writes timestamped lines to the task's compute log (the same file
as the asset's stderr), so ``arco runs logs`` shows them next to ``print`` output.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import IO

from arco.errors import InvalidDefinitionError
from arco.events.execution import task_key_for
from arco.partitions import PartitionsDefinition, TimeWindow, TimeWindowPartitionsDefinition

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"


def compute_logger(asset_key: str, stream: IO[str]) -> logging.Logger:
    """A logger of one task writing to ``stream``; unregistered, so tasks never share one."""
    logger = logging.Logger(f"arco.asset.{asset_key}", level=logging.DEBUG)
    handler = logging.StreamHandler(stream)
    formatter = logging.Formatter(LOG_FORMAT)
    formatter.default_msec_format = "%s.%03d"
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return logger


@dataclass
class AssetExecutionContext:
    """The run, partition and attempt an asset function is materializing."""

    run_id: str
    asset_key: str
    partition_key: str | None = None
    attempt: int = 1
    task_key: str = ""
    partitions_def: PartitionsDefinition | None = None
    log: logging.Logger = field(default_factory=lambda: compute_logger("unnamed", sys.stderr))

    @property
    def has_partition_key(self) -> bool:
        return self.partition_key is not None

    @property
    def retry_number(self) -> int:
        """0 on the first attempt, as in Dagster."""
        return self.attempt - 1

    @property
    def partition_time_window(self) -> TimeWindow:
        """The UTC ``[start, end)`` of a time-window partition."""
        definition = self.partitions_def
        if self.partition_key is None or not isinstance(definition, TimeWindowPartitionsDefinition):
            raise InvalidDefinitionError(
                f"asset {self.asset_key!r} has no time-window partition in this run",
                field="partitions_def",
                value=self.asset_key,
                allowed="an asset partitioned by a time-window definition",
            )
        return definition.window(self.partition_key)


def build_asset_context(
    *,
    partition_key: str | None = None,
    partitions_def: PartitionsDefinition | None = None,
    run_id: str = "run_test",
    asset_key: str = "test_asset",
    attempt: int = 1,
    stream: IO[str] | None = None,
) -> AssetExecutionContext:
    """A context for calling an asset function directly in a unit test."""
    return AssetExecutionContext(
        run_id=run_id,
        asset_key=asset_key,
        partition_key=partition_key,
        attempt=attempt,
        task_key=task_key_for(asset_key, partition_key),
        partitions_def=partitions_def,
        log=compute_logger(asset_key, stream or sys.stderr),
    )
