"""One attempt of one asset: which one (TaskInvocation), how it ended (AttemptResult),
and running the asset function itself (the same code in a subprocess, a thread or inline).
"""

from __future__ import annotations

import json
import traceback
from dataclasses import asdict, dataclass, field
from typing import IO

from arco.errors import NotFoundError
from arco.events.execution import TaskError, TaskOutcome
from arco.sdk.assets import MaterializeResult, MetadataValue, normalize_metadata
from arco.sdk.context import AssetExecutionContext, compute_logger
from arco.sdk.definitions import Definitions

REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class TaskInvocation:
    """Which attempt of which task to run."""

    run_id: str
    task_key: str
    asset_key: str
    partition_key: str | None
    attempt: int
    attempt_id: str


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended, as TaskFinished will report it."""

    outcome: TaskOutcome
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    error: TaskError | None = None
    code_version: str | None = None

    def to_json(self) -> str:
        body = asdict(self)
        body["error"] = None if self.error is None else self.error.model_dump(mode="json")
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str) -> AttemptResult:
        body = json.loads(text)
        error = body.get("error")
        return cls(
            outcome=body["outcome"],
            metadata=dict(body.get("metadata") or {}),
            error=None if error is None else TaskError.model_validate(error),
            code_version=body.get("code_version"),
        )


def cancelled(reason: str, code_version: str | None = None) -> AttemptResult:
    return AttemptResult("cancelled", {}, TaskError(kind="Cancelled", message=reason), code_version)


def run_asset(
    definitions: Definitions, invocation: TaskInvocation, log_stream: IO[str]
) -> AttemptResult:
    """Run the asset function in this thread; an exception is a failed attempt."""
    try:
        definition = definitions.get_asset(invocation.asset_key)
    except NotFoundError as error:
        return AttemptResult("failed", error=TaskError(kind="NotFoundError", message=error.message))
    context = AssetExecutionContext(
        run_id=invocation.run_id,
        asset_key=invocation.asset_key,
        partition_key=invocation.partition_key,
        attempt=invocation.attempt,
        task_key=invocation.task_key,
        partitions_def=definition.partitions_def,
        log=compute_logger(invocation.asset_key, log_stream),
    )
    try:
        value = definition(context) if definition.takes_context else definition()
    except (Exception, SystemExit) as error:
        formatted = "".join(traceback.format_exception(error))
        log_stream.write(formatted)  # the compute log shows it next to the asset's output
        log_stream.flush()
        return AttemptResult(
            "failed",
            error=TaskError(kind=type(error).__name__, message=str(error), traceback=formatted),
            code_version=definition.code_version,
        )
    return AttemptResult("succeeded", _metadata(value, context), None, definition.code_version)


def _metadata(value: object, context: AssetExecutionContext) -> dict[str, MetadataValue]:
    if isinstance(value, MaterializeResult):
        return value.normalized_metadata()
    if isinstance(value, dict):
        return normalize_metadata(value)
    if value is not None:
        context.log.warning(
            "the asset returned a %s; Arco stores no outputs, only metadata"
            " (return a dict or MaterializeResult(metadata=...))",
            type(value).__name__,
        )
    return {}
