#!/usr/bin/env bash
# lab.sh - the project's lab: a real Corosync 3 (knet) + Pacemaker 2.1 cluster of 2 (or 3) nodes,
# one real OpenSSH server per node and the DRBD 9 stand-in from lab/drbd/, on ONE Debian 12
# machine. Each node has its own network, mount, UTS, IPC and PID namespaces and a private /dev.
# Run it through scripts/lab. See lab/README.md.
#
#   up [--nodes 2|3] [--bare] [--with-home-assistant]
#                         build network + nodes, first-time DRBD setup, start the stacks, load the
#                         CIB, wait until healthy (idempotent: on a running lab it repairs it)
#   down [--purge]        kill everything the lab started; remove netns, veths, bridge, loop
#                         devices, mounts and state (--purge also deletes the keys)
#   status                network, processes per node, cluster and DRBD state
#   state [--json]        compact cluster + DRBD state (JSON for tests)
#   env [--json]          shell-quoted variables: nodes, addresses, VIP, key paths, host keys
#   exec NODE CMD...      run CMD inside NODE (its namespaces, clean environment)
#   ssh NODE [CMD...]     real ssh from the host (NODE may be ha-0, ha-1, ha-2 or vip)
#   wait COND [ARGS] [--on NODE] [--timeout S]   prints the seconds waited. COND:
#                         healthy | cluster-healthy | group-on NODE | online NODE | offline NODE |
#                         quorate NODE | stack-down NODE | no-failures | idle | drbd-connected | drbd-uptodate |
#                         drbd-disk NODE STATE | drbd-role NODE ROLE | split-brain | ssh NODE | app
#   crash NODE            power off: NIC down, SIGKILL of the node's PID 1, kernel leftovers cleaned
#   boot NODE             power on: fresh /run, /dev, /tmp; sshd, corosync, pacemaker
#   kill-stack NODE       kill -9 corosync + pacemaker daemons (sshd and DRBD survive)
#   start-stack NODE      start corosync + pacemaker
#   stop-stack NODE       graceful pacemaker + corosync stop
#   isolate NODE / heal NODE      unplug / replug NODE's cable at the bridge
#   fail-disk NODE / repair-disk NODE   the DRBD backing disk fails / is repaired (re-attached)
#   recover               make the lab healthy again: heal, boot, repair, resolve a DRBD split
#                         brain (the non-Primary side discards its data), clean up, wait healthy
#   configure             (re)load the resource configuration (crm configure load update)
#   pids NODE [REGEX]     host PIDs of the processes in NODE's PID namespace (comm filter)
#
# Addresses: 198.18.0.0/24 (RFC 2544 benchmarking range) on the bridge halab-br0 198.18.0.1,
# ha-0 198.18.0.30, ha-1 .31, ha-2 .32, VIP 198.18.0.10. No default route inside the
# namespaces and no forwarding, so nothing leaves this machine.
set -euo pipefail
umask 022
# Close every file descriptor this script inherited (except stdio and bash's own script fd):
# the nodes' PID 1 and daemons started from here must not keep a caller's files open, e.g. a
# lock taken with `flock FILE scripts/lab ...`, which would then be held for the lab's lifetime.
for _fd in /proc/$$/fd/*; do
    _fd=${_fd##*/}
    [[ $_fd =~ ^[0-9]+$ && $_fd -gt 2 && $_fd -lt 255 ]] && eval "exec $_fd>&-" 2>/dev/null
done
unset _fd

LAB_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SELF="$LAB_DIR/lab.sh"
REPO=$(cd "$LAB_DIR/.." && pwd)
STATE=${HALAB_STATE:-/var/lib/halab}
KEYS=${HALAB_KEYS:-$LAB_DIR/keys}
PY=/usr/bin/python3
STATE_PY="$LAB_DIR/lab_state.py"
SIM="$LAB_DIR/drbd"
APP="$LAB_DIR/app"
PREFIX=halab
BR=$PREFIX-br0
NET=198.18.0
HOST_IP=$NET.1
VIP=$NET.10
RES=home-assistant
MNT=/mnt/home-assistant
GROUP=g_home-assistant
ALL_NODES=(ha-0 ha-1 ha-2)
SAFE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CLEAN_ENV=(env -i "PATH=$SAFE_PATH" HOME=/root LANG=C.UTF-8 "TERM=${TERM:-dumb}" USER=root LOGNAME=root)
APT_PACKAGES=(corosync pacemaker pacemaker-cli-utils resource-agents crmsh openssh-server
    iproute2 e2fsprogs psmisc drbd-utils util-linux procps kmod python3)

# Settings, fixed by the first 'up' (stored in $STATE/settings until 'down'):
NODE_COUNT=2
MODE=cluster                              # cluster | bare | hass
DC_DEADTIME=${HALAB_DC_DEADTIME-2s}       # empty: Pacemaker's 20 s on the first election
TOKEN=${HALAB_TOKEN-1000}                 # corosync totem.token (ms); empty: corosync's 3000
NO_DRBD=${HALAB_NO_DRBD:-0}               # 1: ocf:pacemaker:Stateful + Dummy stand-ins
DISK_MB=${HALAB_DISK_MB:-256}
DRBD_PING_INT=${HALAB_DRBD_PING_INT-2}    # DRBD net ping-int (s); empty: DRBD's 10 s
# shellcheck disable=SC1091
[[ -r $STATE/settings ]] && source "$STATE/settings"

log()   { printf '%s [lab] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die()   { log "ERROR: $*"; exit 1; }
now()   { date +%s.%N; }
quiet() {   # run a command; show its output only when it fails
    local out rc=0
    out=$("$@" </dev/null 2>&1) || rc=$?
    [[ $rc == 0 ]] || printf '%s\n' "$out" >&2
    return $rc
}
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

set_nodes() { NODES=("${ALL_NODES[@]:0:$NODE_COUNT}"); }
set_nodes
node_index() { echo "${1##*-}"; }
node_ip()  { echo "$NET.$((30 + $(node_index "$1")))"; }
is_node() {
    local n
    for n in "${NODES[@]}"; do [[ $n == "${1:-}" ]] && return 0; done
    die "unknown node '${1:-}' (the lab has: ${NODES[*]})"
}
netns() { echo "$PREFIX-$1"; }            # halab-ha-0
hveth() { echo "$PREFIX-${1//-/}"; }      # halab-ha0  (host/bridge side)
pveth() { echo "$PREFIX-${1//-/}p"; }     # halab-ha0p (renamed eth0 inside the netns)
ndir()  { echo "$STATE/$1"; }
lab_state() {
    local IFS=,
    "$PY" "$STATE_PY" --state "$STATE" --nodes "${NODES[*]}" $([[ $NO_DRBD == 1 ]] && echo --no-drbd) "$@"
}
uses_drbd() { [[ $NO_DRBD != 1 && $MODE != bare ]]; }

# ---------------------------------------------------------------- processes --
# Host PID of the node's PID 1 ("lab.sh _init NODE", NSpid ... 1). Found through /proc and
# verified, so we never signal anything that is not ours.
init_pid() {
    local n=$1 f p
    f=$(ndir "$n")/init.pid
    [[ -r $f ]] || return 1
    p=$(<"$f")
    [[ $p =~ ^[0-9]+$ ]] || return 1
    { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -- " _init $n *$" || return 1
    awk '/^NSpid:/{exit !($NF==1 && NF>2)}' "/proc/$p/status" 2>/dev/null || return 1
    echo "$p"
}
find_init_pid() {   # without the pid file (state removed by hand, ...)
    local n=$1 d
    for d in /proc/[0-9]*; do
        { tr "\0" " " <"$d/cmdline"; } 2>/dev/null | grep -q -- "$SELF _init $n *$" || continue
        awk '/^NSpid:/{exit !($NF==1 && NF>2)}' "$d/status" 2>/dev/null || continue
        echo "${d#/proc/}"; return 0
    done
    return 1
}
node_alive() { init_pid "$1" >/dev/null; }
node_pids() {       # host PIDs of all processes in the node's PID namespace (comm regex filter)
    local n=$1 re=${2:-.} p want
    p=$(init_pid "$n") || return 0
    want=$(ps -o pidns= -p "$p" | tr -d ' ')
    [[ -n $want ]] || return 0
    ps -e -o pid=,pidns=,comm= | awk -v ns="$want" -v re="$re" '$2 == ns && $3 ~ re {print $1}'
    return 0
}
STACK_RE='^(corosync|pacemaker)'
nx() {              # run a command inside a node with a clean environment
    local n=$1 p; shift
    p=$(init_pid "$n") || die "$n is not running (scripts/lab boot $n)"
    ( cd / && exec 9<&- && "${CLEAN_ENV[@]}" nsenter -t "$p" -m -u -i -n -p -- "$@" )
}
kill_init() {       # SIGKILL a node's PID 1: the kernel kills every process in its PID namespace
    local p=$1 i fuse
    # the node's FUSE connections (the DRBD simulator's): a process blocked in a request of
    # a dead FUSE daemon cannot be killed; aborting the connection releases it (safety net)
    fuse=$(awk '/ - fuse\.drbdsim /{split($3, mm, ":"); print mm[2]}' "/proc/$p/mountinfo" 2>/dev/null || true)
    kill -KILL "$p" 2>/dev/null || true
    for i in $(seq 250); do [[ -d /proc/$p ]] || return 0; sleep 0.02; done
    if [[ -n $fuse ]]; then
        log "PID $p still present after 5 s: aborting its FUSE connections ($fuse)"
        fuse_abort $fuse
    fi
    for i in $(seq 500); do [[ -d /proc/$p ]] || return 0; sleep 0.02; done
    log "warning: PID $p still present after 15 s"
}
fuse_abort() {      # echo 1 > /sys/fs/fuse/connections/N/abort (fusectl mounted privately if needed)
    local n
    if [[ -d /sys/fs/fuse/connections ]] && mountpoint -q /sys/fs/fuse/connections; then
        for n in "$@"; do echo 1 >"/sys/fs/fuse/connections/$n/abort" 2>/dev/null || true; done
    else
        unshare --mount --propagation private sh -c '
            mount -t fusectl fusectl /sys/fs/fuse/connections || exit 0
            for n in "$@"; do echo 1 >"/sys/fs/fuse/connections/$n/abort" 2>/dev/null; done' sh "$@" || true
    fi
}

# ------------------------------------------------------------------ checks --
preflight() {
    [[ $(id -u) == 0 ]] || die "must run as root (it creates network namespaces, veths and loop devices)"
    unshare --net --mount --uts --ipc --pid --fork true 2>/dev/null ||
        die "cannot create namespaces here (unshare --net --mount --uts --ipc --pid failed)"
    local conflict
    conflict=$("$PY" - "$BR" <<'EOF'
import ipaddress, json, subprocess, sys
lab = ipaddress.ip_network("198.18.0.0/24")
br = sys.argv[1]
out = []
for a in json.loads(subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout or "[]"):
    for i in a.get("addr_info", []):
        net = ipaddress.ip_network(f"{i['local']}/{i['prefixlen']}", strict=False)
        if a["ifname"] != br and net.overlaps(lab):
            out.append(f"{i['local']}/{i['prefixlen']} on {a['ifname']}")
for r in json.loads(subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True).stdout or "[]"):
    if r.get("dst") in (None, "default"):
        continue
    net = ipaddress.ip_network(r["dst"] if "/" in r["dst"] else r["dst"] + "/32", strict=False)
    if r.get("dev") != br and net.overlaps(lab):
        out.append(f"route {r['dst']} dev {r.get('dev')}")
print("; ".join(out))
EOF
)
    [[ -z $conflict ]] || die "198.18.0.0/24 is already used on this host ($conflict); refusing to touch it"
}

ensure_packages() {
    local want=("${APT_PACKAGES[@]}") missing=() p guard=0
    if [[ -r $SIM/packages ]]; then
        while read -r p; do [[ -n $p && $p != \#* ]] && want+=("$p"); done <"$SIM/packages"
    fi
    for p in "${want[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    [[ ${#missing[@]} == 0 ]] && return 0
    log "installing Debian packages: ${missing[*]}"
    # no daemon may start on the host: a policy-rc.d that forbids it, for the install only
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# halab: temporary, removed after the install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d; guard=1
    fi
    local rc=0
    { apt-get -qq -o DPkg::Lock::Timeout=300 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=300 \
          install --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
    [[ $guard == 1 ]] && rm -f /usr/sbin/policy-rc.d
    [[ $rc == 0 ]] || die "apt-get install ${missing[*]} failed"
}

sim_present() {
    [[ -x $SIM/bin/drbdadm && -x $SIM/bin/drbdsetup && -x $SIM/ocf/drbd ]]
}

# ------------------------------------------------------------------- network --
# The lab's names (halab-*) are machine-wide: the bridge's alias records which state dir owns
# them, so a command run with another HALAB_STATE cannot tear down or mix with a running lab.
owner_check() {
    local owner
    [[ -e /sys/class/net/$BR ]] || return 0
    owner=$(cat "/sys/class/net/$BR/ifalias" 2>/dev/null || true)
    [[ -z $owner || $owner == "$STATE" ]] ||
        die "the lab on this machine belongs to HALAB_STATE=$owner (this command uses $STATE)"
}
net_up() {
    if ! ip link show "$BR" &>/dev/null; then
        ip link add "$BR" type bridge stp_state 0 forward_delay 0
        ip link set "$BR" alias "$STATE"
        sysctl -qw "net.ipv6.conf.$BR.disable_ipv6=1" || true
        ip addr add "$HOST_IP/24" dev "$BR"
        ip link set "$BR" up
    fi
    local n ns
    for n in "${NODES[@]}"; do
        ns=$(netns "$n")
        [[ -e /run/netns/$ns ]] || ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null || true
        if ! ip link show "$(hveth "$n")" &>/dev/null; then
            ip link add "$(hveth "$n")" type veth peer name "$(pveth "$n")"
            sysctl -qw "net.ipv6.conf.$(hveth "$n").disable_ipv6=1" || true
            ip link set "$(pveth "$n")" netns "$ns"
            ip -n "$ns" link set "$(pveth "$n")" name eth0
            ip link set "$(hveth "$n")" master "$BR" up
        fi
        ip -n "$ns" link set lo up
    done
}
nic_up() {   # (re)apply the node's address, drop leftovers such as the VIP
    local n=$1 ns; ns=$(netns "$n")
    ip -n "$ns" addr flush dev eth0
    ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
    ip -n "$ns" link set eth0 up
}
net_down() {
    local n ns
    for n in "${ALL_NODES[@]}"; do
        ns=$(netns "$n")
        ip link show "$(hveth "$n")" &>/dev/null && ip link del "$(hveth "$n")"
        if [[ -e /run/netns/$ns ]]; then
            local left; left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
            [[ -n $left ]] && log "warning: processes not started by the lab remain in $ns: $left(not signalled)"
            ip netns del "$ns"
        fi
    done
    ip link show "$BR" &>/dev/null && ip link del "$BR"
    return 0
}
link_is_down() { ! ip -o link show "$(hveth "$1")" 2>/dev/null | grep -q '[<,]UP[,>]'; }

# ---------------------------------------------------------------- keys --
keys_prepare() {
    install -d -m 700 "$KEYS"
    [[ -f $KEYS/.gitignore ]] || echo '*' >"$KEYS/.gitignore"
    [[ -f $KEYS/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C halab-client -f "$KEYS/id_ed25519"
    # the key the nodes use to ssh to each other (crmsh 'crm cluster ... --all')
    [[ -f $KEYS/node_id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C halab-node -f "$KEYS/node_id_ed25519"
    local n hosts="" tmp
    tmp=$(mktemp "$KEYS/known_hosts.XXXXXX")
    for n in "${ALL_NODES[@]}"; do
        install -d -m 700 "$KEYS/hostkeys/$n"
        [[ -f $KEYS/hostkeys/$n/ssh_host_ed25519_key ]] ||
            ssh-keygen -q -t ed25519 -N '' -C "$n" -f "$KEYS/hostkeys/$n/ssh_host_ed25519_key"
        # the VIP moves between nodes, so it legitimately has every node's host key
        echo "$n,$(node_ip "$n"),$VIP,ha-vip $(cut -d' ' -f1,2 "$KEYS/hostkeys/$n/ssh_host_ed25519_key.pub")" >>"$tmp"
        hosts+="Host $n
    HostName $(node_ip "$n")
"
    done
    chmod 644 "$tmp"; mv "$tmp" "$KEYS/known_hosts"
    cat >"$KEYS/ssh_config.tmp" <<EOF
# generated by lab/lab.sh: ssh -F $KEYS/ssh_config ha-0
${hosts}Host ha-vip vip
    HostName $VIP
Host ha-0 ha-1 ha-2 ha-vip vip $NET.*
    User root
    IdentityFile $KEYS/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $KEYS/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    ConnectTimeout 5
    ServerAliveInterval 2
    ServerAliveCountMax 3
    BatchMode yes
    LogLevel ERROR
EOF
    mv "$KEYS/ssh_config.tmp" "$KEYS/ssh_config"
}

# ---------------------------------------------------------------- configs --
corosync_conf() {
    local n
    echo "# generated by lab/lab.sh"
    cat <<EOF
totem {
    version: 2
    cluster_name: ha_cluster
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
    ip_version: ipv4${TOKEN:+
    token: $TOKEN}
}
nodelist {
EOF
    for n in "${NODES[@]}"; do
        cat <<EOF
    node {
        ring0_addr: $(node_ip "$n")
        name: $n
        nodeid: $(( $(node_index "$n") + 1 ))
    }
EOF
    done
    cat <<EOF
}
quorum {
    provider: corosync_votequorum$([[ $NODE_COUNT == 2 ]] && printf '\n    two_node: 1')
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
    to_stderr: no
    timestamp: hires
}
EOF
}

drbd_res() {
    local n
    cat <<EOF
# generated by lab/lab.sh
resource $RES {
    device /dev/drbd0;
    disk /dev/vdb;
    meta-disk internal;
    net {
        protocol C;${DRBD_PING_INT:+
        ping-int $DRBD_PING_INT;}
    }
EOF
    for n in "${NODES[@]}"; do
        cat <<EOF
    on $n {
        address $(node_ip "$n"):7788;
        node-id $(node_index "$n");
    }
EOF
    done
    cat <<EOF
    connection-mesh {
        hosts ${NODES[*]};
    }
}
EOF
}

cib_crm() {
    local n
    for n in "${NODES[@]}"; do echo "node $(( $(node_index "$n") + 1 )): $n"; done
    if [[ $NO_DRBD == 1 ]]; then
        cat <<EOF
primitive p_drbd_home-assistant ocf:pacemaker:Stateful \\
    op monitor interval=29s role=Promoted \\
    op monitor interval=31s role=Unpromoted
primitive p_fs_home-assistant ocf:heartbeat:Dummy \\
    op monitor interval=20s
EOF
    else
        cat <<EOF
primitive p_drbd_home-assistant ocf:linbit:drbd \\
    params drbd_resource=$RES \\
    op monitor interval=29s role=Promoted \\
    op monitor interval=31s role=Unpromoted \\
    op start timeout=240s interval=0 \\
    op stop timeout=100s interval=0 \\
    op promote timeout=90s interval=0 \\
    op demote timeout=90s interval=0
primitive p_fs_home-assistant ocf:heartbeat:Filesystem \\
    params device=/dev/drbd0 directory=$MNT fstype=ext4 \\
    op start timeout=60s interval=0 \\
    op stop timeout=60s interval=0 \\
    op monitor interval=20s timeout=40s
EOF
    fi
    cat <<EOF
primitive p_ip_home-assistant ocf:heartbeat:IPaddr2 \\
    params ip=$VIP cidr_netmask=24 nic=eth0 \\
    op monitor interval=10s
EOF
    if [[ $MODE == hass ]]; then
        cat <<EOF
primitive p_docker_home-assistant ocf:halab:hass \\
    params hass="$REPO/.venv/bin/hass" config=$MNT/config \\
    op start timeout=240s interval=0 \\
    op stop timeout=120s interval=0 \\
    op monitor interval=15s timeout=30s
EOF
    else
        cat <<EOF
primitive p_docker_home-assistant ocf:halab:app \\
    params daemon="$APP/appd.py" directory=$MNT port=8123 \\
    op start timeout=30s interval=0 \\
    op stop timeout=30s interval=0 \\
    op monitor interval=10s timeout=20s
EOF
    fi
    cat <<EOF
group $GROUP p_fs_home-assistant p_ip_home-assistant p_docker_home-assistant
clone ms_drbd_home-assistant p_drbd_home-assistant \\
    meta promotable=true promoted-max=1 promoted-node-max=1 clone-max=$NODE_COUNT clone-node-max=1 notify=true
colocation c_home-assistant_on_drbd inf: $GROUP ms_drbd_home-assistant:Promoted
order o_drbd_before_home-assistant Mandatory: ms_drbd_home-assistant:promote $GROUP:start
property cib-bootstrap-options: \\
    stonith-enabled=false \\
    cluster-name=ha_cluster${DC_DEADTIME:+ \\
    dc-deadtime=$DC_DEADTIME}
rsc_defaults rsc-options: \\
    resource-stickiness=100
EOF
}

# An empty CIB that carries only dc-deadtime, so the first DC election does not wait 20 s.
seed_cib() {
    local d=$1
    [[ -n $DC_DEADTIME ]] || return 0
    [[ -e $d/var/lib/pacemaker/cib/cib.xml ]] && return 0
    cat >"$d/var/lib/pacemaker/cib/cib.xml" <<EOF
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="$DC_DEADTIME"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
EOF
    chown hacluster:haclient "$d/var/lib/pacemaker/cib/cib.xml"
    chmod 600 "$d/var/lib/pacemaker/cib/cib.xml"
}

# Mount points the nodes need that Debian does not ship on this host: created here, recorded,
# and removed again by 'down' (only when still empty).
ensure_mountpoint() {
    local p=$1
    [[ -d $p ]] && return 0
    mkdir -p "$p"
    echo "$p" >>"$STATE/created-mountpoints"
}

# A path under /root on the host (repo, venv's Python, keys) stays visible inside the node even
# though the node gets its own /root: bind it into the node's root dir (at _init time).
root_paths() {
    local p py
    for p in "$REPO" "$KEYS" "$STATE"; do [[ $p == /root/* ]] && echo "$p"; done
    if [[ -x $REPO/.venv/bin/python ]]; then
        py=$(readlink -f "$REPO/.venv/bin/python")
        p=$(dirname "$(dirname "$py")")
        [[ $p == /root/* ]] && echo "$p"
    fi
    return 0
}

# The same for paths under /tmp, which each node replaces with its own tmpfs.
tmp_paths() {
    local p
    for p in "$REPO" "$KEYS" "$STATE"; do [[ $p == /tmp/* ]] && echo "$p"; done
    return 0
}

disk_attach() {     # the node's DRBD backing disk: sparse file + host loop device
    local n=$1 d dev
    d=$(ndir "$n")
    [[ -f $d/disk.img ]] || truncate -s "${DISK_MB}M" "$d/disk.img"
    if [[ -r $d/disk.loop ]]; then
        dev=$(<"$d/disk.loop")
        [[ $(cat "/sys/block/${dev#/dev/}/loop/backing_file" 2>/dev/null) == "$d/disk.img" ]] && return 0
    fi
    dev=$(losetup --find --show "$d/disk.img")
    # a stale read-only flag on a reused loop minor would make the disk read-only
    blockdev --setrw "$dev" 2>/dev/null || true
    echo "$dev" >"$d/disk.loop"
}
disk_detach() {
    local n=$1 d dev
    d=$(ndir "$n")
    [[ -r $d/disk.loop ]] || return 0
    dev=$(<"$d/disk.loop")
    if [[ $(cat "/sys/block/${dev#/dev/}/loop/backing_file" 2>/dev/null) == "$d/disk.img" ]]; then
        losetup -d "$dev" 2>/dev/null || log "warning: losetup -d $dev failed"
    fi
    rm -f "$d/disk.loop"
}
# Loop devices the DRBD simulator attached inside a node (listed in host/loops): after a crash
# the kernel keeps them; detach the ones that still point to the recorded file.
kernel_cleanup() {
    local n=$1 d dev file cur
    d=$(ndir "$n")
    [[ -s $d/host/loops ]] || return 0
    while read -r dev file; do
        [[ $dev == /dev/loop* && -n $file ]] || continue
        cur=$(cat "/sys/block/${dev#/dev/}/loop/backing_file" 2>/dev/null) || continue
        [[ $cur == "$file" || $cur == "$file (deleted)" ]] || continue
        losetup -d "$dev" 2>/dev/null || log "warning: losetup -d $dev failed"
    done <"$d/host/loops"
    : >"$d/host/loops"
}

node_prepare() {
    local n=$1 d f
    d=$(ndir "$n")
    install -d -m 755 "$STATE" "$d" "$d/etc" "$d/etc/corosync" "$d/etc/corosync/uidgid.d" \
        "$d/var/lib/corosync" "$d/var/log" "$d/var/log/corosync" "$d/var/log/crmsh" "$d/ssh" \
        "$d/var/lib/pacemaker" "$d/etc/drbd.d" "$d/host" "$d/sbin" "$d/mnt" "$d/mnt/home-assistant"
    install -d -m 700 "$d/root" "$d/root/.ssh" "$d/var/lib/drbd"
    install -d -m 750 -o hacluster -g haclient "$d"/var/lib/pacemaker/{cib,pengine,blackbox,cores}
    install -d -m 2770 -o hacluster -g haclient "$d/var/log/pacemaker" "$d/var/log/pacemaker/bundles"
    touch "$d/host/loops"
    if [[ ! -f $STATE/authkey ]]; then
        dd if=/dev/urandom of="$STATE/authkey.tmp" bs=256 count=1 status=none
        chmod 400 "$STATE/authkey.tmp"; mv "$STATE/authkey.tmp" "$STATE/authkey"
    fi
    install -m 400 "$STATE/authkey" "$d/etc/corosync/authkey"
    printf '#!/bin/sh\n# systemctl stand-in inside halab nodes (see lab/lab.sh)\nexec %q _systemctl "$@"\n' \
        "$SELF" >"$STATE/systemctl-shim"
    chmod 755 "$STATE/systemctl-shim"
    if [[ $MODE != bare ]]; then corosync_conf >"$d/etc/corosync/corosync.conf"; else rm -f "$d/etc/corosync/corosync.conf"; fi
    { grep -Ev "(^|[[:space:]])(ha-[0-9]|ha-vip)([[:space:]]|$)" /etc/hosts || true
      for f in "${NODES[@]}"; do echo "$(node_ip "$f") $f"; done
      echo "$VIP ha-vip"; } >"$d/etc/hosts"
    echo "$n" >"$d/etc/hostname"
    cat "$KEYS/id_ed25519.pub" "$KEYS/node_id_ed25519.pub" >"$d/root/.ssh/authorized_keys"
    chmod 600 "$d/root/.ssh/authorized_keys"
    install -m 600 "$KEYS/node_id_ed25519" "$d/root/.ssh/id_ed25519"
    install -m 644 "$KEYS/node_id_ed25519.pub" "$d/root/.ssh/id_ed25519.pub"
    install -m 644 "$KEYS/known_hosts" "$d/root/.ssh/known_hosts"
    install -m 600 "$KEYS/hostkeys/$n/ssh_host_ed25519_key" "$d/ssh/ssh_host_ed25519_key"
    install -m 644 "$KEYS/hostkeys/$n/ssh_host_ed25519_key.pub" "$d/ssh/ssh_host_ed25519_key.pub"
    [[ $MODE != bare ]] && seed_cib "$d"
    # DRBD configuration as an admin writes it (the simulator reads these files)
    printf '# generated by lab/lab.sh\ninclude "drbd.d/global_common.conf";\ninclude "drbd.d/*.res";\n' >"$d/etc/drbd.conf"
    if [[ -r /etc/drbd.d/global_common.conf ]]; then
        cp /etc/drbd.d/global_common.conf "$d/etc/drbd.d/global_common.conf"
    else
        printf 'global {\n\tusage-count no;\n}\ncommon {\n}\n' >"$d/etc/drbd.d/global_common.conf"
    fi
    if [[ $MODE != bare ]]; then drbd_res >"$d/etc/drbd.d/$RES.res"; else rm -f "$d/etc/drbd.d/$RES.res"; fi
    # /usr/local/sbin inside the node: the simulator's programs first on every PATH
    find "$d/sbin" -mindepth 1 -maxdepth 1 -type l -delete
    if [[ -d $SIM/bin && $NO_DRBD != 1 ]]; then
        for f in "$SIM"/bin/*; do [[ -f $f && -x $f ]] && ln -sfn "$f" "$d/sbin/$(basename "$f")"; done
    fi
    disk_attach "$n"
    cat >"$d/ssh/sshd_config" <<EOF
# generated by lab/lab.sh for $n (runs inside the node's namespaces)
Port 22
AddressFamily inet
ListenAddress 0.0.0.0
HostKey $d/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
X11Forwarding no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
SetEnv PATH=$SAFE_PATH
Subsystem sftp internal-sftp
EOF
}

# ---------------------------------------------------------------------- node --
# A private /dev: only the devices a node needs, its own devpts, its backing disk as /dev/vdb.
node_dev() {
    local n=$1 d loop mm
    d=$(ndir "$n")
    mount -t tmpfs -o mode=0755,size=8m,nosuid "$PREFIX-dev-$n" /dev
    mknod -m 666 /dev/null c 1 3;    mknod -m 666 /dev/zero c 1 5
    mknod -m 666 /dev/full c 1 7;    mknod -m 666 /dev/random c 1 8
    mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
    mknod -m 666 /dev/fuse c 10 229; mknod -m 660 /dev/loop-control c 10 237
    chgrp disk /dev/loop-control 2>/dev/null || true
    ln -s /proc/self/fd /dev/fd
    ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
    mkdir -m 755 /dev/pts
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec "$PREFIX-pts-$n" /dev/pts
    ln -s pts/ptmx /dev/ptmx
    mkdir -m 1777 /dev/shm
    mount -t tmpfs -o mode=1777,size=512m,nosuid,nodev "$PREFIX-shm-$n" /dev/shm
    loop=$(<"$d/disk.loop")
    mm=$(<"/sys/block/${loop#/dev/}/dev")
    mknod -m 660 /dev/vdb b "${mm%:*}" "${mm#*:}"
    chgrp disk /dev/vdb 2>/dev/null || true
}

# PID 1 inside the node: private mounts, hostname, sshd, then reap orphans forever.
cmd__init() {
    local n=$1 d f p
    d=$(ndir "$n")
    hostname "$n"
    mount --make-rprivate /
    mount -t tmpfs -o mode=0755,size=64m,nosuid,nodev "$PREFIX-run-$n" /run
    install -d -m 755 /run/sshd /run/lock /run/resource-agents /run/crm /run/pacemaker /run/halab /run/halab/host
    mount --bind "$d/host" /run/halab/host
    node_dev "$n"
    # the repository, keys or state may live under the host's /tmp (a clone in /tmp): keep
    # them visible under the node's own /tmp (held in /run while /tmp is replaced)
    local keep=() i
    mapfile -t keep < <(tmp_paths)
    for i in "${!keep[@]}"; do
        mkdir -p "/run/halab/keep/$i"
        mount --bind "${keep[i]}" "/run/halab/keep/$i"
    done
    mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev "$PREFIX-tmp-$n" /tmp
    for i in "${!keep[@]}"; do
        mkdir -p "${keep[i]}"
        mount --move "/run/halab/keep/$i" "${keep[i]}"
    done
    for p in $(root_paths); do          # keep host paths under /root visible (see root_paths)
        mkdir -p "$d/root${p#/root}"
        mount --bind "$p" "$d/root${p#/root}"
    done
    mount --bind "$d/etc/corosync" /etc/corosync
    mount --bind "$d/var/lib/corosync" /var/lib/corosync
    mount --bind "$d/var/lib/pacemaker" /var/lib/pacemaker
    mount --bind "$d/var/log" /var/log
    mount --bind "$d/etc/hosts" /etc/hosts
    mount --bind "$d/etc/hostname" /etc/hostname
    mount --rbind "$d/root" /root
    mount --bind "$d/mnt" /mnt
    mount --bind "$d/etc/drbd.d" /etc/drbd.d
    mount --bind "$d/etc/drbd.conf" /etc/drbd.conf
    mount --bind "$d/var/lib/drbd" /var/lib/drbd
    mount --bind "$APP/ocf" /usr/lib/ocf/resource.d/halab
    if [[ $NO_DRBD != 1 ]] && sim_present; then
        mount --bind "$SIM/ocf" /usr/lib/ocf/resource.d/linbit
        mount --bind "$d/sbin" /usr/local/sbin
        for f in "$SIM"/bin/*; do        # absolute paths (/usr/sbin/drbdadm, /usr/bin/dmesg) too
            [[ -f $f && -x $f ]] || continue
            for p in /usr/sbin /usr/bin /sbin /bin; do
                [[ -L $p ]] && continue   # merged /usr: /sbin -> usr/sbin
                if [[ -f $p/$(basename "$f") ]]; then mount --bind "$f" "$p/$(basename "$f")"; fi
            done
        done
    fi
    if [[ -e /usr/bin/systemctl ]]; then mount --bind "$STATE/systemctl-shim" /usr/bin/systemctl; fi
    if [[ $NO_DRBD != 1 && -x $SIM/boot ]]; then
        env -i "PATH=$SAFE_PATH" HOME=/root LANG=C.UTF-8 "HALAB_NODE=$n" "$SIM/boot" </dev/null ||
            echo "$(date +%T.%3N) [$n] warning: $SIM/boot failed"
    fi
    env -i "PATH=$SAFE_PATH" HOME=/root LANG=C.UTF-8 /usr/sbin/sshd -f "$d/ssh/sshd_config" -E /var/log/sshd.log
    echo "$(date +%T.%3N) [$n] init up, sshd started"
    trap 'exit 0' TERM INT
    while :; do sleep 86400 & wait $! || true; done   # bash reaps re-parented orphans
}

node_boot() {
    local n=$1 ns d t p i
    ns=$(netns "$n"); d=$(ndir "$n")
    node_alive "$n" && return 0
    t=$(now)
    nic_up "$n"
    # setsid (not a group leader here, so no fork) -> ip netns exec (no fork) -> unshare, whose
    # forked child is the node's PID 1
    setsid ip netns exec "$ns" unshare --mount --uts --ipc --pid --fork --kill-child=KILL \
        --mount-proc --propagation private -- "$SELF" _init "$n" </dev/null >>"$d/init.log" 2>&1 9<&- &
    local bg=$!
    for i in $(seq 400); do
        for p in $(pgrep -P "$bg" 2>/dev/null); do
            echo "$p" >"$d/init.pid"
            node_alive "$n" && break 2
        done
        sleep 0.025
    done
    node_alive "$n" || { p=$(find_init_pid "$n") && echo "$p" >"$d/init.pid"; }
    node_alive "$n" || die "$n: init did not start (see $d/init.log)"
    for i in $(seq 200); do nx "$n" test -s /run/sshd.pid 2>/dev/null && break; sleep 0.05; done
    log "$n booted (init pid $(init_pid "$n"), $(since "$t")s)"
}

boot_all() {    # boot every node that is off, in parallel
    local n pids=() p rc=0
    for n in "${NODES[@]}"; do node_alive "$n" || { node_boot "$n" & pids+=($!); }; done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    [[ $rc == 0 ]] || die "booting failed"
}
stack_start() { [[ $MODE == bare ]] && return 0; nx "$1" "$SELF" _systemctl start pacemaker.service; }
stack_stop()  { nx "$1" "$SELF" _systemctl stop corosync.service; }
stack_start_all() {     # in parallel
    local n pids=() rc=0 p
    for n in "${NODES[@]}"; do
        node_alive "$n" || continue
        stack_start "$n" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}
stack_kill() {
    local pids
    pids=$(node_pids "$1" "$STACK_RE")
    # shellcheck disable=SC2086
    [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
}

node_crash() {
    local n=$1 p
    # NIC first: no FIN/RST leaves the node, TCP peers see a silent hang as with a power cut
    [[ -e /run/netns/$(netns "$n") ]] && ip -n "$(netns "$n")" link set eth0 down 2>/dev/null || true
    if p=$(init_pid "$n") || p=$(find_init_pid "$n"); then kill_init "$p"; fi
    rm -f "$(ndir "$n")/init.pid"
    kernel_cleanup "$n"
}

node_isolate() { ip link set "$(hveth "$1")" down; }
node_heal()    { ip link set "$(hveth "$1")" up; }

disk_fail() {
    local d; d=$(ndir "$1")
    [[ -d $d/host ]] || die "$1 has no state (is the lab up?)"
    date -Is >"$d/host/disk-failed"
}
disk_repair() {
    local n=$1 d; d=$(ndir "$n")
    rm -f "$d/host/disk-failed"
    if node_alive "$n" && uses_drbd && nx "$n" drbdsetup status "$RES" >/dev/null 2>&1; then
        nx "$n" drbdadm adjust "$RES" || log "warning: drbdadm adjust $RES on $n failed"
    fi
}

# ----------------------------------------------- systemctl stand-in (in-node) --
# There is no systemd inside the nodes, but crmsh ('crm cluster start|stop|restart|status')
# drives services through systemctl, locally and over ssh: /usr/bin/systemctl is bind-mounted
# with a shim (inside the nodes only) that calls these functions.
in_active() {
    case ${1%.service} in
        corosync) pidof corosync >/dev/null;;
        pacemaker) pidof pacemakerd >/dev/null;;
        ssh|sshd) pidof sshd >/dev/null;;
        *) return 1;;
    esac
}
in_start() {
    local i
    case ${1%.service} in
        corosync)
            [[ -e /etc/corosync/corosync.conf ]] || { echo "corosync: no /etc/corosync/corosync.conf" >&2; return 1; }
            in_active corosync && return 0
            corosync
            for i in $(seq 100); do corosync-cfgtool -s &>/dev/null && return 0; sleep 0.1; done
            return 1;;
        pacemaker)
            in_start corosync || return 1
            in_active pacemaker && return 0
            # pacemakerd never daemonizes; setsid -f re-parents it to the node's PID 1
            setsid -f sh -c 'exec /usr/sbin/pacemakerd >>/var/log/pacemaker/pacemakerd.out 2>&1 </dev/null';;
        ssh|sshd) in_active sshd || /usr/sbin/sshd -f "$STATE/$(hostname)/ssh/sshd_config" -E /var/log/sshd.log;;
        *) return 1;;
    esac
}
in_stop() {
    local i
    case ${1%.service} in
        pacemaker)
            in_active pacemaker || return 0
            pacemakerd --shutdown >/dev/null 2>&1 || true
            for i in $(seq 1200); do in_active pacemaker || return 0; sleep 0.1; done
            return 1;;
        corosync)
            in_stop pacemaker || return 1
            in_active corosync || return 0
            corosync-cfgtool -H >/dev/null 2>&1 || true
            for i in $(seq 100); do in_active corosync || return 0; sleep 0.1; done
            return 1;;
        *) return 1;;
    esac
}
cmd__systemctl() {
    local verb="" a u rc=0 units=()
    if [[ ${1:-} == show ]]; then   # crmsh: systemctl show -p UnitFileState -p ActiveState X
        local props=() value=0 unit=${!#} st sub
        shift
        while [[ $# -gt 0 ]]; do
            case $1 in -p|--property) props+=("$2"); shift 2;; --value) value=1; shift;; *) shift;; esac
        done
        if in_active "$unit"; then st=active; sub=running; else st=inactive; sub=dead; fi
        for a in "${props[@]}"; do
            case $a in UnitFileState) u=enabled;; ActiveState) u=$st;; SubState) u=$sub;; *) u="";; esac
            if [[ $value == 1 ]]; then echo "$u"; else echo "$a=$u"; fi
        done
        return 0
    fi
    for a in "$@"; do
        case $a in -*) ;; *) if [[ -z $verb ]]; then verb=$a; else units+=("$a"); fi;; esac
    done
    case $verb in
        list-unit-files) printf '%s enabled\n' corosync.service pacemaker.service ssh.service; return 0;;
        daemon-reload|reset-failed|"") return 0;;
    esac
    for u in "${units[@]}"; do
        case $verb in
            is-active) if in_active "$u"; then echo active; else echo inactive; rc=3; fi;;
            is-enabled) case ${u%.service} in corosync|pacemaker|ssh|sshd) echo enabled;; *) echo disabled; rc=1;; esac;;
            status) if in_active "$u"; then echo "$u: active (halab shim)"; else echo "$u: inactive (halab shim)"; rc=3; fi;;
            start) in_start "$u" || rc=1;;
            stop) in_stop "$u" || rc=1;;
            restart) { in_stop "$u" && in_start "$u"; } || rc=1;;
            enable|disable) ;;
            *) echo "halab systemctl shim: '$verb' not supported" >&2; rc=1;;
        esac
    done
    return $rc
}

# ------------------------------------------------------------------ DRBD --
drbd_first_setup() {    # what an admin does once on real DRBD, before Pacemaker takes over
    local first=${NODES[0]} n t
    t=$(now)
    # a previous 'up' may have failed half-way: start from resources that are down
    for n in "${NODES[@]}"; do nx "$n" drbdadm down "$RES" </dev/null >/dev/null 2>&1 || true; done
    for n in "${NODES[@]}"; do quiet nx "$n" drbdadm create-md --force "$RES" || die "create-md on $n failed"; done
    for n in "${NODES[@]}"; do nx "$n" drbdadm up "$RES" </dev/null || die "drbdadm up on $n failed"; done
    lab_state wait drbd-connected --timeout 30 >/dev/null || die "DRBD did not connect"
    nx "$first" drbdadm new-current-uuid --clear-bitmap "$RES" </dev/null || die "new-current-uuid failed"
    lab_state wait drbd-uptodate --timeout 30 >/dev/null || die "DRBD did not become UpToDate"
    nx "$first" drbdadm primary "$RES" </dev/null || die "drbdadm primary failed"
    nx "$first" mkfs.ext4 -q -F /dev/drbd0 </dev/null || die "mkfs.ext4 /dev/drbd0 failed"
    if [[ $MODE == hass ]]; then
        nx "$first" mount -t ext4 /dev/drbd0 "$MNT" || die "mount /dev/drbd0 failed"
        hass_seed "$first"
        nx "$first" umount "$MNT" || die "umount $MNT failed"
    fi
    nx "$first" drbdadm secondary "$RES" </dev/null || die "drbdadm secondary failed"
    for n in "${NODES[@]}"; do nx "$n" drbdadm down "$RES" </dev/null || die "drbdadm down on $n failed"; done
    touch "$STATE/drbd.done"
    log "DRBD initialised (create-md, up, new-current-uuid --clear-bitmap, mkfs.ext4): $(since "$t")s"
}

# Home Assistant's config dir on the replicated disk: onboarding done, an owner user and a
# long-lived access token (lab/app/ha_seed.py, run with the project's venv: it needs bcrypt
# and PyJWT, which Home Assistant brings).
hass_seed() {
    local n=$1 tmp
    [[ -x $REPO/.venv/bin/hass ]] || die "$REPO/.venv/bin/hass missing (scripts/setup creates the venv)"
    tmp="$STATE/ha-seed"
    rm -rf "$tmp"; install -d -m 700 "$tmp"
    "$REPO/.venv/bin/python" "$APP/ha_seed.py" --config "$tmp/config" --env "$STATE/ha.env" \
        --url "http://$VIP:8123" || die "ha_seed.py failed"
    if [[ -d $REPO/lab/ha-config ]]; then cp -a "$REPO/lab/ha-config/." "$tmp/config/"; fi
    nx "$n" cp -a "$tmp/config" "$MNT/config"
    rm -rf "$tmp"
}

# Resolve a DRBD split brain the documented way: the side(s) that are not Primary discard
# their data, the other side reconnects.
drbd_fix() {
    local line kind n plan
    plan=$(lab_state json | "$PY" -c '
import json, sys
doc = json.load(sys.stdin)
views = {n: v for n, v in doc["drbd"].items() if v["up"]}
crm = doc["crm"] or {}
alone = [n for n, v in views.items() if any(s == "StandAlone" for s in v["connections"].values())]
if alone:
    prim = [n for n, v in views.items() if v["role"] == "Primary"]
    keep = prim[0] if len(prim) == 1 else (crm.get("group_node") or sorted(views)[0])
    for n in sorted(views):
        if n != keep and (n in alone or views[n]["connections"]):
            print("victim", n)
    if keep in alone:
        print("survivor", keep)
')
    while read -r kind n; do
        [[ -n $kind ]] || continue
        case $kind in
            victim)
                log "split brain: $n discards its data"
                nx "$n" drbdadm disconnect "$RES" </dev/null >/dev/null 2>&1 || true
                nx "$n" drbdadm secondary "$RES" </dev/null || true
                nx "$n" drbdadm connect --discard-my-data "$RES" </dev/null || log "warning: connect --discard-my-data on $n failed";;
            survivor)
                nx "$n" drbdadm disconnect "$RES" </dev/null >/dev/null 2>&1 || true
                nx "$n" drbdadm connect "$RES" </dev/null || log "warning: drbdadm connect on $n failed";;
        esac
    done <<<"$plan"
}

# ------------------------------------------------------------------ cluster --
cib_load() {
    local q=$1 rc=0
    cib_crm >"$STATE/cib.crm"
    # 'load update', not 'load replace': replace also wipes the DC-maintained properties
    # dc-version/cluster-infrastructure, and crm_mon shows "Stack: unknown" until the next election
    nx "$q" crm configure load update "$STATE/cib.crm" >"$STATE/cib.log" 2>&1 || rc=$?
    # crmsh's noise without fencing ("Blind faith: not fencing unseen nodes") only on failure
    [[ $rc == 0 ]] || { cat "$STATE/cib.log" >&2; die "crm configure load update failed"; }
}
pick_node() {   # first node whose pacemaker runs
    local n
    for n in "${NODES[@]}"; do [[ -n $(node_pids "$n" '^pacemaker-based') ]] && { echo "$n"; return 0; }; done
    return 1
}

lab_recover() { # make a running lab healthy; also the tail of 'up'
    local n q t d i fresh=0 healthy_timeout=${1:-120}
    t=$(now)
    for n in "${NODES[@]}"; do link_is_down "$n" && { log "heal $n"; node_heal "$n"; }; done
    for n in "${NODES[@]}"; do
        d=$(ndir "$n")
        [[ -e $d/host/disk-failed ]] && { log "repair disk of $n"; rm -f "$d/host/disk-failed"; }
        node_alive "$n" || node_prepare "$n"
    done
    boot_all
    if [[ $MODE == bare ]]; then
        for n in "${NODES[@]}"; do lab_state wait ssh "$n" --timeout 30 >/dev/null || die "ssh on $n does not answer"; done
        return 0
    fi
    stack_start_all || die "starting corosync/pacemaker failed"
    log "stacks running ($(since "$t")s)"
    q=${NODES[0]}
    for n in "${NODES[@]}"; do
        lab_state wait online "$n" --on "$q" --timeout 120 >/dev/null || die "$n did not join the cluster"
    done
    log "all nodes online in pacemaker ($(since "$t")s)"
    # load the configuration only once every node has joined: loaded earlier, it can be lost
    # when the DC syncs a peer's newer (seeded) CIB during the join
    if ! nx "$q" cibadmin -Q -o resources 2>/dev/null | grep -q "id=\"$GROUP\""; then
        cib_load "$q"
        log "configuration loaded ($(since "$t")s)"
        fresh=1
    fi
    if [[ $fresh == 0 ]] && ! { lab_state check healthy --quiet && lab_state check no-failures --quiet; }; then
        # leftovers of tests: standby, maintenance, move constraints, failures
        for n in "${NODES[@]}"; do
            nx "$q" crm_attribute --node "$n" --name standby --delete >/dev/null 2>&1 || true
            nx "$q" crm_attribute --node "$n" --name standby --lifetime reboot --delete >/dev/null 2>&1 || true
            nx "$q" crm_attribute --node "$n" --name maintenance --delete >/dev/null 2>&1 || true
        done
        nx "$q" crm_attribute --type crm_config --name maintenance-mode --delete >/dev/null 2>&1 || true
        nx "$q" crm_resource --clear --resource "$GROUP" >/dev/null 2>&1 || true
        nx "$q" crm_resource --clear --resource ms_drbd_home-assistant >/dev/null 2>&1 || true
        if uses_drbd; then
            # let Pacemaker finish (e.g. the multiple-active recovery after a healed split)
            lab_state wait idle --timeout 60 >/dev/null || true
            for n in "${NODES[@]}"; do
                # a repaired disk: re-attach (adjust) where the resource is up but Diskless
                if lab_state check drbd-disk "$n" Diskless --quiet; then nx "$n" drbdadm adjust "$RES" </dev/null || true; fi
            done
            drbd_fix
        fi
        nx "$q" crm_resource --cleanup >/dev/null 2>&1 || true
    fi
    lab_state wait healthy --timeout "$healthy_timeout" >/dev/null || {
        lab_state show >&2 || true
        die "the lab did not become healthy"
    }
    log "healthy after $(since "$t")s"
}

# ------------------------------------------------------------------ commands --
write_settings() {
    printf 'NODE_COUNT=%q\nMODE=%q\nDC_DEADTIME=%q\nTOKEN=%q\nNO_DRBD=%q\nDISK_MB=%q\nDRBD_PING_INT=%q\n' \
        "$NODE_COUNT" "$MODE" "$DC_DEADTIME" "$TOKEN" "$NO_DRBD" "$DISK_MB" "$DRBD_PING_INT" >"$STATE/settings.tmp"
    mv "$STATE/settings.tmp" "$STATE/settings"
}

cmd_up() {
    local t0 n want_nodes=2 want_mode=cluster
    t0=$(now)
    while [[ $# -gt 0 ]]; do
        case $1 in
            --nodes) want_nodes=${2:-}; shift 2;;
            --nodes=*) want_nodes=${1#*=}; shift;;
            --bare) want_mode=bare; shift;;
            --with-home-assistant) want_mode=hass; shift;;
            *) die "up: unknown argument '$1'";;
        esac
    done
    [[ $want_nodes == 2 || $want_nodes == 3 ]] || die "up: --nodes must be 2 or 3"
    preflight
    owner_check
    ensure_packages
    lock
    if [[ -r $STATE/settings ]]; then
        [[ $NODE_COUNT == "$want_nodes" && $MODE == "$want_mode" ]] ||
            die "the lab is up with $NODE_COUNT nodes in mode '$MODE'; run 'scripts/lab down' first"
    else
        NODE_COUNT=$want_nodes; MODE=$want_mode; set_nodes
        if [[ $MODE != bare && $NO_DRBD != 1 ]] && ! sim_present; then
            die "the DRBD simulator is missing ($SIM/bin/drbdadm, drbdsetup, ocf/drbd); HALAB_NO_DRBD=1 runs the Stateful stand-in"
        fi
        install -d -m 755 "$STATE"
        write_settings
    fi
    log "up: $NODE_COUNT nodes, mode $MODE$([[ $NO_DRBD == 1 ]] && echo ', no DRBD (Stateful stand-in)'), token ${TOKEN:-3000} ms"
    keys_prepare
    net_up
    ensure_mountpoint /var/lib/drbd
    ensure_mountpoint /usr/lib/ocf/resource.d/halab
    [[ $NO_DRBD != 1 ]] && ensure_mountpoint /usr/lib/ocf/resource.d/linbit
    for n in "${NODES[@]}"; do node_prepare "$n"; done
    boot_all
    if uses_drbd && [[ ! -e $STATE/drbd.done ]]; then
        # corosync + pacemaker come up (and elect a DC) while DRBD is set up; the configuration
        # that makes Pacemaker touch DRBD is loaded afterwards (lab_recover)
        local sp; stack_start_all >/dev/null & sp=$!
        drbd_first_setup
        wait "$sp" || die "starting corosync/pacemaker failed"
    fi
    if [[ $MODE == hass && $NO_DRBD == 1 && ! -e $STATE/hass.done ]]; then
        for n in "${NODES[@]}"; do hass_seed "$n"; done   # not replicated without DRBD
        touch "$STATE/hass.done"
    fi
    lab_recover 180
    local pids=() p
    for n in "${NODES[@]}"; do ssh -F "$KEYS/ssh_config" "$n" true </dev/null & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || die "ssh to a node failed"; done
    log "UP: ${NODES[*]} ($MODE), $(since "$t0")s; ssh -F $KEYS/ssh_config ha-0"
}

cmd_down() {
    local n p purge=0 mp
    [[ ${1:-} == --purge ]] && purge=1
    [[ $(id -u) == 0 ]] || die "must run as root"
    owner_check
    for n in "${ALL_NODES[@]}"; do
        if p=$(init_pid "$n") || p=$(find_init_pid "$n"); then kill_init "$p"; fi
        kernel_cleanup "$n"
        disk_detach "$n"
    done
    net_down
    if [[ -r $STATE/created-mountpoints ]]; then
        tac "$STATE/created-mountpoints" | while read -r mp; do
            [[ -n $mp ]] && ! mountpoint -q "$mp" && rmdir "$mp" 2>/dev/null || true
        done
    fi
    rm -rf "$STATE"
    [[ $purge == 1 ]] && rm -rf "$KEYS"
    log "down: lab removed$([[ $purge == 1 ]] && echo ' (keys purged)')"
}

cmd_status() {
    local n pids
    echo "== network"
    ip -br addr show "$BR" 2>/dev/null || echo "bridge $BR absent"
    if [[ ! -r $STATE/settings ]]; then echo "== the lab is down"; return 0; fi
    echo "== settings: $NODE_COUNT nodes, mode $MODE, token ${TOKEN:-3000} ms, dc-deadtime ${DC_DEADTIME:-20s}$([[ $NO_DRBD == 1 ]] && echo ', no DRBD')"
    for n in "${NODES[@]}"; do
        echo "== $n ($(netns "$n"), $(node_ip "$n"), disk $(cat "$(ndir "$n")/disk.loop" 2>/dev/null || echo -))$(link_is_down "$n" && echo ' ISOLATED')$([[ -e $(ndir "$n")/host/disk-failed ]] && echo ' DISK-FAILED')"
        if ! node_alive "$n"; then echo "   powered off"; continue; fi
        pids=$(node_pids "$n")
        # shellcheck disable=SC2086
        ps -o pid=,rss=,comm= -p $(echo $pids | tr ' ' ,) | sed 's/^/   /'
        nx "$n" ip -br -4 addr show dev eth0 | sed 's/^/   /'
    done
    echo "== state"
    lab_state show || true
}

cmd_env() {
    local json=0 n v hk
    [[ ${1:-} == --json ]] && json=1
    if [[ ! -f $KEYS/id_ed25519 || ! -f $KEYS/known_hosts ]]; then keys_prepare >/dev/null; fi
    {
        printf 'HALAB_DIR=%q\n' "$LAB_DIR"
        printf 'HALAB_STATE=%q\n' "$STATE"
        printf 'HALAB_KEYS=%q\n' "$KEYS"
        printf 'HALAB_UP=%q\n' "$([[ -r $STATE/settings ]] && echo 1 || echo 0)"
        printf 'HALAB_MODE=%q\n' "$MODE"
        printf 'HALAB_DRBD=%q\n' "$([[ $NO_DRBD == 1 ]] && echo 0 || echo 1)"
        printf 'HALAB_NODE_COUNT=%q\n' "$NODE_COUNT"
        printf 'HALAB_NODES=%q\n' "${NODES[*]}"
        v=""; for n in "${NODES[@]}"; do v+="${v:+ }$(node_ip "$n")"; done
        printf 'HALAB_ADDRS=%q\n' "$v"
        for n in "${NODES[@]}"; do
            hk=$(cut -d' ' -f1,2 "$KEYS/hostkeys/$n/ssh_host_ed25519_key.pub")
            printf 'HALAB_IP_%s=%q\n' "${n//-/_}" "$(node_ip "$n")"
            printf 'HALAB_HOSTKEY_%s=%q\n' "${n//-/_}" "$hk"
        done
        printf 'HALAB_NETWORK=%q\nHALAB_BRIDGE=%q\nHALAB_HOST_IP=%q\n' "$NET.0/24" "$BR" "$HOST_IP"
        printf 'HALAB_VIP=%q\nHALAB_VIP_CIDR=%q\n' "$VIP" "$VIP/24"
        printf 'HALAB_SSH_USER=root\nHALAB_SSH_PORT=22\n'
        printf 'HALAB_SSH_KEY=%q\n' "$KEYS/id_ed25519"
        printf 'HALAB_SSH_PUBKEY=%q\n' "$(cat "$KEYS/id_ed25519.pub")"
        printf 'HALAB_KNOWN_HOSTS=%q\n' "$KEYS/known_hosts"
        printf 'HALAB_SSH_CONFIG=%q\n' "$KEYS/ssh_config"
        printf 'HALAB_CLUSTER_NAME=ha_cluster\nHALAB_GROUP=%q\nHALAB_PROMOTABLE=ms_drbd_home-assistant\n' "$GROUP"
        printf 'HALAB_DRBD_RESOURCE=%q\nHALAB_DRBD_DEVICE=/dev/drbd0\nHALAB_MOUNT=%q\n' "$RES" "$MNT"
        printf 'HALAB_APP_URL=%q\n' "http://$VIP:8123"
        if [[ -r $STATE/ha.env ]]; then cat "$STATE/ha.env"; fi
    } | if [[ $json == 1 ]]; then
        "$PY" -c '
import json, shlex, sys
out = {}
for line in sys.stdin:
    k, _, v = line.rstrip("\n").partition("=")
    out[k] = shlex.split(v)[0] if v else ""
print(json.dumps(out, indent=2, sort_keys=True))'
    else cat; fi
}

cmd_wait() {
    local args=() on=() timeout=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --on) on=(--on "$2"); shift 2;;
            --timeout) timeout=(--timeout "$2"); shift 2;;
            *) args+=("$1"); shift;;
        esac
    done
    [[ ${#args[@]} -gt 0 ]] || die "wait: missing condition"
    lab_state "${on[@]}" "${timeout[@]}" wait "${args[@]}"
}

lock() {   # serialize lab changes (parallel test workers); fd 9 is closed in every child
    exec 9<"$SELF"
    flock -w 600 9 || die "another scripts/lab holds the lock"
}
need_up() { [[ -r $STATE/settings ]] || die "the lab is not up (scripts/lab up)"; }

main() {
    local cmd=${1:-}; shift || true
    case $cmd in
        crash|boot|kill-stack|start-stack|stop-stack|configure|isolate|heal|fail-disk|repair-disk|recover)
            [[ $(id -u) == 0 ]] || die "must run as root"
            need_up; [[ $cmd != recover && $cmd != configure ]] && is_node "${1:-}"
            lock;;
        exec|ssh|pids|state|wait) [[ $cmd == ssh ]] || [[ $(id -u) == 0 ]] || die "must run as root";;
    esac
    case $cmd in
        up) cmd_up "$@";;
        down) lock; cmd_down "$@";;
        status) cmd_status;;
        env) cmd_env "$@";;
        state) need_up; if [[ ${1:-} == --json ]]; then lab_state json; else lab_state show; fi;;
        wait) need_up; cmd_wait "$@";;
        exec) need_up; is_node "${1:-}"; nx "$@";;
        ssh)
            local n=${1:-}; shift || true
            [[ $n == vip || $n == ha-vip ]] || is_node "$n"
            exec ssh -F "$KEYS/ssh_config" "$n" "$@";;
        kill-stack) stack_kill "$1";;
        start-stack) stack_start "$1";;
        stop-stack) stack_stop "$1";;
        crash) node_crash "$1";;
        boot) node_alive "$1" || { node_prepare "$1"; node_boot "$1"; }; stack_start "$1";;
        isolate) node_isolate "$1";;
        heal) node_heal "$1";;
        fail-disk) disk_fail "$1";;
        repair-disk) disk_repair "$1";;
        recover) lab_recover "${1:-120}";;
        configure) cib_load "$(pick_node)";;
        pids) need_up; is_node "${1:-}"; node_pids "$@";;
        _init) cmd__init "$@";;
        _systemctl) cmd__systemctl "$@";;
        ""|-h|--help|help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//'; [[ -n $cmd ]];;
        *) log "unknown command '$cmd' (scripts/lab help)"; exit 2;;
    esac
}
main "$@"
