"""Frozen, typed models of what the cluster tools report, one module per domain.

- :mod:`.pacemaker`: ``crm_mon --output-as=xml`` and ``cibadmin --query``
- :mod:`.drbd`: ``drbdsetup status``, ``events2``, kernel log lines, split-brain verdicts
- :mod:`.corosync`: ``corosync-quorumtool -s`` and ``corosync-cfgtool -s``
"""
