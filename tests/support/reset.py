"""Empty a migrated test database between hypothesis examples."""

from __future__ import annotations

from sqlalchemy import Engine, delete, update

from arco.storage.schema import api_requests, events, idempotency_keys, projections, watermarks


def reset_database(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in (events, idempotency_keys, api_requests, *projections.values()):
            connection.execute(delete(table))
        connection.execute(update(watermarks).values(event_offset=0))
