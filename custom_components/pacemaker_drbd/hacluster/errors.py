"""One exception tree for everything the core can raise.

Every error the core raises derives from :class:`HAClusterError`. The CLI maps each class to a
one-line message and its own exit code (``exit_code``); the Home Assistant layer maps them to
translated exceptions.
"""

from __future__ import annotations


class HAClusterError(Exception):
    """Base class of every error raised by the core."""

    exit_code = 1


class ClusterConnectionError(HAClusterError):
    """A node could not be reached (refused, unreachable, connection lost)."""

    exit_code = 3


class ClusterTimeoutError(ClusterConnectionError):
    """Connecting to a node or running a command on it took too long."""

    exit_code = 4


class AuthenticationError(HAClusterError):
    """The node refused our credentials."""

    exit_code = 5


class HostKeyError(HAClusterError):
    """The node's host key is not the one pinned for it (possible man in the middle)."""

    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        host: str = "",
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        """Carry the expected and the presented SHA256 fingerprints."""
        super().__init__(message)
        self.host = host
        self.expected = expected
        self.actual = actual


class CommandError(HAClusterError):
    """A command ran but failed."""

    exit_code = 7

    def __init__(
        self, message: str, *, command: str = "", exit_status: int | None = None, stderr: str = ""
    ) -> None:
        """Keep what ran and how it ended."""
        super().__init__(message)
        self.command = command
        self.exit_status = exit_status
        self.stderr = stderr


class PermissionDeniedError(CommandError):
    """A command was refused for lack of privileges (crm_mon needs root or haclient)."""

    exit_code = 8


class NotAClusterNodeError(CommandError):
    """The host has no cluster tools (crm_mon missing or the stack not installed)."""

    exit_code = 9


class ParseError(HAClusterError):
    """A command's output could not be understood."""

    exit_code = 10

    def __init__(self, message: str, *, command: str = "") -> None:
        """Name the command whose output was malformed."""
        super().__init__(f"{command}: {message}" if command else message)
        self.command = command


class UnsupportedVersionError(HAClusterError):
    """A tool's version or output format is one we do not support."""

    exit_code = 11


class InvalidNameError(HAClusterError, ValueError):
    """A node, resource or DRBD resource name failed validation."""

    exit_code = 12


class InterlockError(HAClusterError):
    """A risky action was refused by a safety interlock (see ``reasons``)."""

    exit_code = 13

    def __init__(self, message: str, *, reasons: tuple[object, ...] = ()) -> None:
        """Keep the machine-readable reasons next to the message."""
        super().__init__(message)
        self.reasons = reasons


class ActionFailedError(HAClusterError):
    """An action was accepted but the cluster did not reach the expected state."""

    exit_code = 14


class ConfigError(HAClusterError, ValueError):
    """A provisioning description is invalid (the message names the field)."""

    exit_code = 15
