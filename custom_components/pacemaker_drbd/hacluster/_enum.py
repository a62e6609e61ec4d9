"""Tolerant enum parsing: unknown values become ``unknown`` and are logged once."""

from __future__ import annotations

from enum import StrEnum
import logging

_LOGGER = logging.getLogger(__package__)
_SEEN: set[tuple[str, str]] = set()


def parse_enum[E: StrEnum](cls: type[E], value: str | None, *, default: str = "unknown") -> E:
    """Return the member of ``cls`` whose value is ``value``.

    Values we do not know map to the member whose value is ``default`` (every tolerant enum has
    an ``UNKNOWN = "unknown"`` member) and are logged once per enum and value, so that a newer
    tool version never crashes the integration.
    """
    if value is not None:
        try:
            return cls(value)
        except ValueError:
            key = (cls.__name__, value)
            if key not in _SEEN:
                _SEEN.add(key)
                _LOGGER.warning(
                    "Unknown %s value %r, treating it as %r", cls.__name__, value, default
                )
    return cls(default)
