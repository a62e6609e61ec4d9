"""hacluster: read and steer a Pacemaker + Corosync + DRBD cluster over SSH.

This package never imports Home Assistant; the integration and the ``hacluster`` command share it.
It only uses relative imports inside itself, so it works both as the top-level package
``hacluster`` and as ``custom_components.pacemaker_drbd.hacluster``.
"""

from __future__ import annotations

__version__ = "0.1.0"
