"""The user's project a server loaded: the assets, partitions and sensor code it declares.

A server started without a project (``arco serve`` with neither ``-f`` nor ``-m``) still
serves the ledger; what needs the project answers with a ConflictError (reason
``no_project_loaded``) that says how to load one.  ``definitions`` is whatever the server
holds (``None`` without a project), so callers need not check it first.
"""

from __future__ import annotations

from arco.errors import ConflictError
from arco.sdk.definitions import Definitions
from arco.sdk.sensors import SensorDefinition
from arco.services import ServiceContext
from arco.services import sensors as sensor_service


def loaded_project(definitions: object, field: str) -> Definitions:
    """The project the server loaded, or a ConflictError naming ``field`` and how to load one."""
    if not isinstance(definitions, Definitions):
        raise ConflictError(
            "this server has no project loaded, so it knows no assets or partitions; "
            "start it with the project: arco serve -f definitions.py (or -m module)",
            field=field,
            allowed="a server started with -f FILE or -m MODULE",
            details={"reason": "no_project_loaded"},
        )
    return definitions


def sensor_code(ctx: ServiceContext, definitions: object, sensor_id: str) -> SensorDefinition:
    """The project's code for this sensor, found by its name.

    The sensor is read first, so a sensor of another tenant is NotFound before any
    ConflictError could say something about the project.
    """
    name = str(sensor_service.get(ctx, sensor_id)["name"])
    if not isinstance(definitions, Definitions):
        raise ConflictError(
            "this server has no project loaded, so it cannot run sensor code; "
            "start it with the project that defines the sensor",
            field="sensor_id",
            value=sensor_id,
            details={"sensor": name, "reason": "no_project_loaded"},
        )
    code = definitions.sensors_by_name.get(name)
    if code is None:
        raise ConflictError(
            f"the loaded project defines no sensor named {name!r}",
            field="name",
            value=name,
            allowed=sorted(definitions.sensors_by_name),
            details={"sensor_id": sensor_id, "reason": "no_sensor_code"},
        )
    return code
