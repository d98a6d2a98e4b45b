"""What users import to declare a project (re-exported from ``arco``)."""

from arco.partitions import (
    DailyPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)
from arco.sdk.assets import (
    AllPartitionMapping,
    AssetDep,
    AssetsDefinition,
    Backoff,
    FreshnessPolicy,
    IdentityPartitionMapping,
    MaterializeResult,
    PartitionMapping,
    RetryPolicy,
    asset,
)
from arco.sdk.context import AssetExecutionContext, build_asset_context
from arco.sdk.definitions import CodeLocation, Definitions
from arco.sdk.schedules import DefaultScheduleStatus, ScheduleDefinition
from arco.sdk.sensor_context import SensorEvaluationContext, SensorMessage, build_sensor_context
from arco.sdk.sensors import (
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorResult,
    SkipReason,
    push_sensor,
    sensor,
)

__all__ = [
    "AllPartitionMapping",
    "AssetDep",
    "AssetExecutionContext",
    "AssetsDefinition",
    "Backoff",
    "CodeLocation",
    "DailyPartitionsDefinition",
    "DefaultScheduleStatus",
    "DefaultSensorStatus",
    "Definitions",
    "FreshnessPolicy",
    "HourlyPartitionsDefinition",
    "IdentityPartitionMapping",
    "MaterializeResult",
    "MonthlyPartitionsDefinition",
    "MultiPartitionsDefinition",
    "PartitionMapping",
    "PartitionsDefinition",
    "RetryPolicy",
    "RunRequest",
    "ScheduleDefinition",
    "SensorDefinition",
    "SensorEvaluationContext",
    "SensorMessage",
    "SensorResult",
    "SkipReason",
    "StaticPartitionsDefinition",
    "TimeWindowPartitionsDefinition",
    "WeeklyPartitionsDefinition",
    "asset",
    "build_asset_context",
    "build_sensor_context",
    "push_sensor",
    "sensor",
]
