"""Partitions definitions (static, time-window, multi-dimensional) and lazy key resolution."""

from arco.partitions.definition import SINGLE_DIMENSION, JsonValue, PartitionsDefinition
from arco.partitions.multi import DELIMITER, MultiPartitionsDefinition
from arco.partitions.resolution import Resolution
from arco.partitions.serde import partitions_def_from_dict
from arco.partitions.static import StaticPartitionsDefinition
from arco.partitions.time_window import (
    DEFAULT_DATE_FORMAT,
    DEFAULT_HOURLY_FORMAT,
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindow,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

__all__ = [
    "DEFAULT_DATE_FORMAT",
    "DEFAULT_HOURLY_FORMAT",
    "DELIMITER",
    "SINGLE_DIMENSION",
    "DailyPartitionsDefinition",
    "HourlyPartitionsDefinition",
    "JsonValue",
    "MonthlyPartitionsDefinition",
    "MultiPartitionsDefinition",
    "PartitionsDefinition",
    "Resolution",
    "StaticPartitionsDefinition",
    "TimeWindow",
    "TimeWindowPartitionsDefinition",
    "WeeklyPartitionsDefinition",
    "partitions_def_from_dict",
]
