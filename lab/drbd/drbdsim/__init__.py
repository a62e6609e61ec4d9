"""DRBD 9 stand-in for the namespace lab (simulated kernel part, real user-space formats).

Runs with Debian's ``/usr/bin/python3`` (3.11) and the standard library only. See
``lab/drbd/README.md`` for the design and the fidelity table.
"""

__all__: list[str] = []
