"""Run-key conflicts: a run key requested again with another fingerprint."""

from __future__ import annotations

from fastapi import APIRouter, Request

from arco.api.errors import ERROR_RESPONSES
from arco.api.params import Paging, ReadScope, Window
from arco.api.schemas.conflicts import ConflictPage
from arco.api.state import api_state
from arco.fold.tables import RUN_KEY_CONFLICTS
from arco.storage.reader import Query

router = APIRouter(prefix="/conflicts", tags=["conflicts"], responses=ERROR_RESPONSES)


@router.get("", summary="List run-key conflicts, newest first")
def list_conflicts(
    request: Request, scope: ReadScope, page: Paging, window: Window
) -> ConflictPage:
    query = Query(ranges={"detected_at": window.bounds()}, order_by="detected_at", descending=True)
    result = api_state(request).reader.page(
        RUN_KEY_CONFLICTS, scope, query, cursor=page.cursor, limit=page.limit
    )
    return ConflictPage.of(result)
