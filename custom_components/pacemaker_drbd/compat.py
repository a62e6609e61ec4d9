"""What differs between the Home Assistant versions this integration supports (2025.4 to 2026.10).

* Schemas: Home Assistant 2026 validates with ``probatio`` (API-compatible with voluptuous);
  older versions only have voluptuous. The runtime takes probatio when it exists; the type checker
  follows the Python version (Home Assistant 2026 needs Python 3.14).
* ``BinarySensorDeviceClass`` lives in ``binary_sensor.const`` on 2026 (re-exported implicitly).
* Repair flow steps return ``RepairsFlowResult`` on 2026, a plain ``FlowResult`` before.
* Device info links a device to its hub with ``via_device_id`` (a device registry id) on 2026,
  with ``via_device`` (identifiers) before; ``via_device`` is deprecated on 2026.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import DeviceInfo

if TYPE_CHECKING and sys.version_info >= (3, 14):  # pragma: no cover - type checking only
    from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
    from homeassistant.components.repairs import RepairsFlowResult
    import probatio as vol
else:
    from homeassistant.components.binary_sensor import BinarySensorDeviceClass
    from homeassistant.data_entry_flow import FlowResult as RepairsFlowResult

    try:
        import probatio as vol  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # Home Assistant before 2026
        import voluptuous as vol  # type: ignore[no-redef, unused-ignore]

VIA_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__
"""True when DeviceInfo links to the hub by device registry id (Home Assistant 2026+)."""

__all__ = ["VIA_DEVICE_ID", "BinarySensorDeviceClass", "RepairsFlowResult", "vol"]
