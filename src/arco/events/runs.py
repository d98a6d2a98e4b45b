"""RunRequested: the one way any automation asks for a run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from arco.events.payload import Payload, hashed
from arco.events.selectors import PartitionSelector
from arco.events.sources import SourceRef


class RunRequested(Payload):
    """A request for the run named by ``run_key``.

    ``run_id`` is computed by the emitter from the run key and the tenant secret
    (the secret never enters the ledger); the fold indexes the key and creates the
    run only the first time, recording a conflict when a later request for the
    same key asks for something else (another fingerprint).
    """

    type: Literal["RunRequested"] = "RunRequested"
    run_key: str = Field(min_length=1)
    run_id: str
    request_fingerprint: str
    asset_selection: tuple[str, ...]
    partition_selection: PartitionSelector | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    source: SourceRef

    def idempotency_key(self) -> str:
        return f"runreq:{self.run_key}:{hashed(self.request_fingerprint)}"
