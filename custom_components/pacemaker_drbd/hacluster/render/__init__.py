"""Renderers: cluster description -> corosync.conf, the DRBD resource file and the CIB.

Every renderer is a pure function of a :class:`~hacluster.provision.config.ClusterConfig`:
the same description always gives byte-identical text (stable order, trailing newline, no
timestamps).
"""

from __future__ import annotations

from .cib import CibModel, build_cib, render_cib_crm, render_cib_xml
from .corosync import COROSYNC_LOGFILE, render_corosync_conf
from .drbd import drbd_resource_path, render_drbd_resource

__all__ = [
    "COROSYNC_LOGFILE",
    "CibModel",
    "build_cib",
    "drbd_resource_path",
    "render_cib_crm",
    "render_cib_xml",
    "render_corosync_conf",
    "render_drbd_resource",
]
