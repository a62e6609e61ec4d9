"""DRBD 9 state names, their order, and the kernel's state-change error codes and texts."""

from __future__ import annotations

# Disk states in kernel order (enum drbd_disk_state): comparisons use this order.
DISK_ORDER = (
    "Diskless",
    "Attaching",
    "Detaching",
    "Failed",
    "Negotiating",
    "Inconsistent",
    "Outdated",
    "DUnknown",
    "Consistent",
    "UpToDate",
)
DISK_RANK = {name: i for i, name in enumerate(DISK_ORDER)}

# Connection states (enum drbd_conn_state).
CONN_ORDER = (
    "StandAlone",
    "Disconnecting",
    "Unconnected",
    "Timeout",
    "BrokenPipe",
    "NetworkFailure",
    "ProtocolError",
    "TearDown",
    "Connecting",
    "Connected",
)

# Replication states (enum drbd_repl_state), "Off" first.
REPL_ORDER = (
    "Off",
    "Established",
    "StartingSyncS",
    "StartingSyncT",
    "WFBitMapS",
    "WFBitMapT",
    "WFSyncUUID",
    "SyncSource",
    "SyncTarget",
    "VerifyS",
    "VerifyT",
    "PausedSyncS",
    "PausedSyncT",
    "Ahead",
    "Behind",
)
REPL_RANK = {name: i for i, name in enumerate(REPL_ORDER)}
SYNC_STATES = ("SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT")

# State change results (enum drbd_state_rv) and the texts of drbd_strings.c.
SS_TWO_PRIMARIES = -1
SS_NO_UP_TO_DATE_DISK = -2
SS_NO_LOCAL_DISK = -4
SS_NO_REMOTE_DISK = -5
SS_CONNECTED_OUTDATES = -6
SS_PRIMARY_NOP = -7
SS_RESYNC_RUNNING = -8
SS_ALREADY_STANDALONE = -9
SS_CW_FAILED_BY_PEER = -10
SS_IS_DISKLESS = -11
SS_DEVICE_IN_USE = -12
SS_NO_NET_CONFIG = -13
SS_NO_VERIFY_ALG = -14
SS_NEED_CONNECTION = -15
SS_LOWER_THAN_OUTDATED = -16
SS_NOT_SUPPORTED = -17
SS_IN_TRANSIENT_STATE = -18
SS_CONCURRENT_ST_CHG = -19
SS_O_VOL_PEER_PRI = -20
SS_INTERRUPTED = -21
SS_PRIMARY_READER = -22
SS_TIMEOUT = -23
SS_WEAKLY_CONNECTED = -24
SS_NO_QUORUM = -25
SS_ATTACH_NO_BITMAP = -26
SS_HANDSHAKE_DISCONNECT = -27
SS_HANDSHAKE_RETRY = -28

STATE_ERRORS = {
    SS_TWO_PRIMARIES: "Multiple primaries not allowed by config",
    SS_NO_UP_TO_DATE_DISK: "Need access to UpToDate data",
    SS_NO_LOCAL_DISK: "Can not resync without local disk",
    SS_NO_REMOTE_DISK: "Can not resync without remote disk",
    SS_CONNECTED_OUTDATES: "Refusing to be Outdated while Connected",
    SS_PRIMARY_NOP: "Refusing to be Primary while peer is not outdated",
    SS_RESYNC_RUNNING: "Can not start OV/resync since it is already active",
    SS_ALREADY_STANDALONE: "Can not disconnect a StandAlone device",
    SS_CW_FAILED_BY_PEER: "State change was refused by peer node",
    SS_IS_DISKLESS: "Device is diskless, the requested operation requires a disk",
    SS_DEVICE_IN_USE: "Device is held open by someone",
    SS_NO_NET_CONFIG: "Have no net/connection configuration",
    SS_NO_VERIFY_ALG: "Need a verify algorithm to start online verify",
    SS_NEED_CONNECTION: "Need a connection to start verify or resync",
    SS_LOWER_THAN_OUTDATED: "Disk state is lower than outdated",
    SS_NOT_SUPPORTED: "Peer does not support protocol",
    SS_IN_TRANSIENT_STATE: "In transient state, retry after next state change",
    SS_CONCURRENT_ST_CHG: "Concurrent state changes detected and aborted",
    SS_O_VOL_PEER_PRI: "Other vol primary on peer not allowed by config",
    SS_INTERRUPTED: "Interrupted state change",
    SS_PRIMARY_READER: "Peer may not become primary while device is opened read-only",
    SS_TIMEOUT: "Timeout in operation",
    SS_WEAKLY_CONNECTED: "Primary nodes must be strongly connected among each other",
    SS_NO_QUORUM: "No quorum",
    SS_ATTACH_NO_BITMAP: "Can not attach because no bitmap slot is available",
    SS_HANDSHAKE_DISCONNECT: "Refused by peer (handshake disconnect)",
    SS_HANDSHAKE_RETRY: "Refused by peer (handshake retry)",
}


def state_exit_code(rv: int) -> int:
    """drbdsetup's exit code for a failed state change (check_error in drbdsetup.c)."""
    if rv == SS_NO_UP_TO_DATE_DISK:
        return 17
    if rv == SS_LOWER_THAN_OUTDATED:
        return 5
    if rv == SS_NO_LOCAL_DISK:
        return 16
    return 11


# Configuration errors (enum drbd_ret_code) used by the sim, with drbdsetup's texts.
ERR_LOCAL_ADDR = 102
ERR_OPEN_DISK = 104
ERR_DISK_CONFIGURED = 124
ERR_NET_CONFIGURED = 125
ERR_DISCARD_IMPOSSIBLE = 123
ERR_MINOR_INVALID = 127
ERR_NO_DISK = 138
ERR_MD_INVALID = 119
ERR_IO_MD_DISK = 118
ERR_RES_NOT_KNOWN = 158
ERR_MINOR_OR_VOLUME_EXISTS = 161
ERR_INVALID_REQUEST = 162

CONFIG_ERRORS = {
    ERR_LOCAL_ADDR: "Local address(port) already in use.",
    ERR_OPEN_DISK: "Can not open backing device.",
    ERR_DISK_CONFIGURED: "Device is attached to a disk (use detach first)",
    ERR_NET_CONFIGURED: "Device has a net-config (use disconnect first)",
    ERR_DISCARD_IMPOSSIBLE: "--discard-my-data not allowed when primary.",
    ERR_MINOR_INVALID: "Device minor not allocated",
    ERR_NO_DISK: "Device does not have a disk-config",
    ERR_IO_MD_DISK: "IO error(s) occurred during initial access to meta-data.\n",
    ERR_MD_INVALID: (
        "No valid meta-data signature found.\n\n"
        "\t==> Use 'drbdadm create-md res' to initialize meta-data area. <==\n"
    ),
    ERR_RES_NOT_KNOWN: "Unknown resource",
    ERR_MINOR_OR_VOLUME_EXISTS: "Minor or volume exists already (delete it first)",
    ERR_INVALID_REQUEST: "Invalid configuration request",
}

UUID_JUST_CREATED = 4
UUID_PRIMARY = 1
KERNEL_VERSION = "9.2.12"
API_VERSION = 2
PROTO_VERSION = 122
