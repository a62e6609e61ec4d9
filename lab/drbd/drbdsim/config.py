"""A subset parser of drbd.conf (drbd-utils 9.22 syntax) and drbdadm's ``dump`` printer.

Supported: ``include`` (globs, relative to the including file), ``global``, ``common``,
``resource`` with ``device``/``disk``/``meta-disk`` (resource level, ``on`` level, ``volume``
sections), ``on HOST... { address [af] ip:port; node-id N; }``, ``connection-mesh { hosts ...; }``,
``connection { host ...; }`` and the option sections ``options``, ``net``, ``disk``,
``startup``, ``handlers`` (kept as ordered name/value pairs).
"""
# ruff: noqa: PTH117, PTH118, PTH120, PTH123, PTH207
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

from dataclasses import dataclass, field
import glob
import os
import re

DEFAULT_CONFIG = "/etc/drbd.conf"
OPTION_SECTIONS = ("options", "net", "disk", "startup", "handlers", "proxy")


class ConfigError(Exception):
    """A configuration file problem, with drbdadm-like text."""


@dataclass
class Token:
    """One token with its position (for error messages and ``# defined at``)."""

    text: str
    quoted: bool
    file: str
    line: int


@dataclass
class Volume:
    """A volume definition (explicit ``volume N {}`` or the implicit volume 0)."""

    vnr: int
    implicit: bool = True
    device: str | None = None
    minor: int | None = None
    disk: str | None = None
    meta_disk: str | None = None
    meta_index: str | None = None
    disk_options: list[tuple[str, str | None]] = field(default_factory=list)
    parsed_device: bool = False
    parsed_disk: bool = False
    parsed_meta_disk: bool = False


@dataclass
class Address:
    """An endpoint ``af addr:port``."""

    af: str
    addr: str
    port: str

    def __str__(self) -> str:
        """``ipv4:1.2.3.4:7788`` as drbdsetup prints paths."""
        return f"{self.af}:{self.addr}:{self.port}"


@dataclass
class Host:
    """An ``on NAME {}`` section."""

    names: list[str]
    node_id: str | None = None
    address: Address | None = None
    volumes: dict[int, Volume] = field(default_factory=dict)
    res_options: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Mesh:
    """A ``connection-mesh {}`` section."""

    hosts: list[str]
    net_options: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class ConnSection:
    """An explicit ``connection [name] {}`` section (host pairs only)."""

    name: str | None
    hosts: list[tuple[str, Address | None]]
    net_options: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Resource:
    """A parsed ``resource NAME {}``."""

    name: str
    config_file: str
    start_line: int
    volumes: dict[int, Volume] = field(default_factory=dict)
    hosts: list[Host] = field(default_factory=list)
    meshes: list[Mesh] = field(default_factory=list)
    connections: list[ConnSection] = field(default_factory=list)
    sections: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    common: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)

    def section(self, name: str) -> list[tuple[str, str | None]]:
        """The options of one section (empty list when absent)."""
        return self.sections.setdefault(name, [])

    def option(self, section: str, name: str, default: str | None = None) -> str | None:
        """The last value of ``name`` in ``section`` or ``default``."""
        value = default
        for key, val in [*self.common.get(section, []), *self.sections.get(section, [])]:
            if key == name:
                value = val if val is not None else "yes"
        return value

    def host(self, hostname: str) -> Host | None:
        """The ``on`` section naming ``hostname``."""
        for host in self.hosts:
            if hostname in host.names:
                return host
        return None


@dataclass
class Config:
    """The whole configuration."""

    path: str
    global_options: list[tuple[str, str | None]] = field(default_factory=list)
    common: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)


# -- tokenizer ----------------------------------------------------------------------------

_TOKEN = re.compile(r'\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};"#]+)')


def tokenize(text: str, path: str) -> list[Token]:
    """Split a drbd.conf file into tokens (words, quoted strings, braces, semicolons)."""
    tokens: list[Token] = []
    pos = 0
    line = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ConfigError(f"{path}:{line}: Parse error: unexpected character")
        if m.group(1) is not None:
            value = re.sub(r"\\(.)", r"\1", m.group(1))
            tokens.append(Token(value, True, path, line))
        elif m.group(2) is not None:
            tokens.append(Token(m.group(2), False, path, line))
        elif m.group(3) is not None:
            tokens.append(Token(m.group(3), False, path, line))
        line += m.group(0).count("\n")
        pos = m.end()
    return tokens


def _expand_includes(path: str, seen: set[str]) -> list[Token]:
    real = os.path.realpath(path)
    if real in seen:
        return []
    seen.add(real)
    with open(path, encoding="utf-8") as fh:
        tokens = tokenize(fh.read(), path)
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.text == "include" and not tok.quoted and i + 2 < len(tokens):
            pattern = tokens[i + 1].text
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.dirname(path), pattern)
            for inc in sorted(glob.glob(pattern)):
                out.extend(_expand_includes(inc, seen))
            i += 3  # include, name, ;
            continue
        out.append(tok)
        i += 1
    return out


# -- parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1] if self.tokens else Token("", False, "?", 0)
            raise ConfigError(f"{last.file}:{last.line}: Parse error: unexpected end of file")
        self.i += 1
        return tok

    def expect(self, text: str) -> Token:
        tok = self.next()
        if tok.text != text or tok.quoted:
            raise ConfigError(
                f"{tok.file}:{tok.line}: Parse error: '{text}' expected,\n\tbut got '{tok.text}'"
            )
        return tok

    def words_until_semicolon(self) -> list[Token]:
        out: list[Token] = []
        while True:
            tok = self.next()
            if tok.text == ";" and not tok.quoted:
                return out
            if tok.text in "{}" and not tok.quoted:
                raise ConfigError(f"{tok.file}:{tok.line}: Parse error: ';' expected")
            out.append(tok)

    def options_block(self) -> list[tuple[str, str | None]]:
        self.expect("{")
        opts: list[tuple[str, str | None]] = []
        while True:
            tok = self.next()
            if tok.text == "}" and not tok.quoted:
                return opts
            words = self.words_until_semicolon()
            value = " ".join(w.text for w in words) if words else None
            opts.append((tok.text, value))

    def skip_block(self) -> None:
        depth = 0
        while True:
            tok = self.next()
            if tok.quoted:
                continue
            if tok.text == "{":
                depth += 1
            elif tok.text == "}":
                depth -= 1
                if depth == 0:
                    return

    def parse(self, cfg: Config) -> None:
        while self.peek() is not None:
            tok = self.next()
            if tok.text == "global":
                cfg.global_options.extend(self.options_block())
            elif tok.text == "common":
                self.expect("{")
                while True:
                    sec = self.next()
                    if sec.text == "}":
                        break
                    cfg.common.setdefault(sec.text, []).extend(self.options_block())
            elif tok.text == "resource":
                name = self.next()
                res = Resource(name.text, tok.file, tok.line)
                self.resource_body(res)
                if res.name in cfg.resources:
                    raise ConfigError(
                        f"{tok.file}:{tok.line}: in resource {res.name}:\n"
                        f"\tresource {res.name} already defined"
                    )
                cfg.resources[res.name] = res
            elif tok.text == "skip":
                if self.peek() is not None and self.peek().text != "{":  # type: ignore[union-attr]
                    self.next()
                self.skip_block()
            else:
                raise ConfigError(f"{tok.file}:{tok.line}: Parse error: unexpected '{tok.text}'")

    def volume_item(self, tok: Token, vol: Volume) -> bool:
        """Parse device/disk/meta-disk into ``vol``; False when ``tok`` is something else."""
        if tok.text == "device":
            words = [w.text for w in self.words_until_semicolon()]
            if words and words[0] != "minor":
                vol.device = words[0]
                words = words[1:]
            if len(words) >= 2 and words[0] == "minor":
                vol.minor = int(words[1])
            if vol.minor is None and vol.device:
                m = re.match(r"^(?:/dev/)?drbd(\d+)$", vol.device)
                if m:
                    vol.minor = int(m.group(1))
            vol.parsed_device = True
            return True
        if tok.text == "disk":
            nxt = self.peek()
            if nxt is not None and nxt.text == "{" and not nxt.quoted:
                vol.disk_options.extend(self.options_block())
                return True
            toks = self.words_until_semicolon()
            vol.disk = toks[0].text if toks else None
            vol.parsed_disk = True
            return True
        if tok.text in ("meta-disk", "flexible-meta-disk"):
            words = [w.text for w in self.words_until_semicolon()]
            vol.meta_disk = words[0] if words else "internal"
            if vol.meta_disk == "internal":
                vol.meta_index = "internal"
            elif len(words) >= 4 and words[1] == "[":
                vol.meta_index = words[2]
            else:
                vol.meta_index = "flexible"
            vol.parsed_meta_disk = True
            return True
        return False

    def volume_block(self, vols: dict[int, Volume]) -> None:
        vnr = int(self.next().text)
        vol = vols.setdefault(vnr, Volume(vnr))
        vol.implicit = False
        self.expect("{")
        while True:
            tok = self.next()
            if tok.text == "}":
                return
            if not self.volume_item(tok, vol):
                raise ConfigError(f"{tok.file}:{tok.line}: Parse error: unexpected '{tok.text}'")

    def resource_body(self, res: Resource) -> None:
        self.expect("{")
        while True:
            tok = self.next()
            if tok.text == "}":
                return
            nxt = self.peek()
            if tok.text == "disk" and nxt is not None and nxt.text == "{" and not nxt.quoted:
                res.section("disk").extend(self.options_block())
                continue
            if tok.text in ("device", "disk", "meta-disk", "flexible-meta-disk"):
                self.volume_item(tok, res.volumes.setdefault(0, Volume(0)))
                continue
            if tok.text == "volume":
                self.volume_block(res.volumes)
            elif tok.text == "on":
                names = []
                while self.peek() is not None and self.peek().text != "{":  # type: ignore[union-attr]
                    names.append(self.next().text)
                res.hosts.append(self.host_body(names))
            elif tok.text == "connection-mesh":
                self.expect("{")
                mesh = Mesh([])
                while True:
                    t = self.next()
                    if t.text == "}":
                        break
                    if t.text == "hosts":
                        mesh.hosts.extend(w.text for w in self.words_until_semicolon())
                    elif t.text == "net":
                        mesh.net_options.extend(self.options_block())
                    else:
                        self.words_until_semicolon()
                res.meshes.append(mesh)
            elif tok.text == "connection":
                name = None
                if self.peek() is not None and self.peek().text != "{":  # type: ignore[union-attr]
                    name = self.next().text
                res.connections.append(self.connection_body(name))
            elif tok.text in OPTION_SECTIONS:
                res.section(tok.text).extend(self.options_block())
            elif tok.text == "template-file":
                self.words_until_semicolon()
            elif tok.text in ("floating", "stacked-on-top-of"):
                while self.peek() is not None and self.peek().text != "{":  # type: ignore[union-attr]
                    self.next()
                self.skip_block()
            else:
                raise ConfigError(
                    f"{tok.file}:{tok.line}: Parse error: unexpected '{tok.text}' "
                    f"in resource {res.name}"
                )

    def host_body(self, names: list[str]) -> Host:
        host = Host(names)
        self.expect("{")
        while True:
            tok = self.next()
            if tok.text == "}":
                return host
            if tok.text == "node-id":
                host.node_id = self.words_until_semicolon()[0].text
            elif tok.text == "address":
                host.address = parse_address([w.text for w in self.words_until_semicolon()])
            elif tok.text == "volume":
                self.volume_block(host.volumes)
            elif tok.text == "options":
                host.res_options.extend(self.options_block())
            elif tok.text in ("device", "disk", "meta-disk", "flexible-meta-disk"):
                vol = host.volumes.setdefault(0, Volume(0))
                self.volume_item(tok, vol)
            else:
                self.words_until_semicolon()

    def connection_body(self, name: str | None) -> ConnSection:
        conn = ConnSection(name, [])
        self.expect("{")
        while True:
            tok = self.next()
            if tok.text == "}":
                return conn
            if tok.text == "host":
                words = [w.text for w in self.words_until_semicolon()]
                addr = (
                    parse_address(words[2:]) if len(words) > 2 and words[1] == "address" else None
                )
                conn.hosts.append((words[0], addr))
            elif tok.text == "net":
                conn.net_options.extend(self.options_block())
            elif tok.text in ("disk", "path", "volume"):
                if tok.text == "volume":
                    self.next()
                self.skip_block()
            else:
                self.words_until_semicolon()


def parse_address(words: list[str]) -> Address:
    """``[af] ip:port`` -> Address (port 7788 when missing)."""
    af = "ipv4"
    if len(words) >= 2:
        af, spec = words[0], words[1]
    else:
        spec = words[0] if words else ""
    addr, _, port = spec.rpartition(":")
    if not addr:
        addr, port = spec, "7788"
    return Address(af, addr, port)


def load(path: str = DEFAULT_CONFIG) -> Config:
    """Parse ``path`` and everything it includes."""
    tokens = _expand_includes(path, set())
    cfg = Config(path)
    _Parser(tokens).parse(cfg)
    for res in cfg.resources.values():
        res.common = cfg.common
    return cfg


# -- runtime view for one host ------------------------------------------------------------


@dataclass
class PeerView:
    """A peer of this host in one resource."""

    name: str
    node_id: int
    address: Address
    net: list[tuple[str, str | None]]


@dataclass
class VolumeView:
    """Effective device/disk/meta-disk of one volume on this host."""

    vnr: int
    device: str
    minor: int
    disk: str
    meta_disk: str


@dataclass
class ResourceView:
    """What one host needs to run a resource."""

    res: Resource
    hostname: str
    node_id: int
    address: Address
    volumes: list[VolumeView]
    peers: list[PeerView]

    def net_option(self, peer: PeerView, name: str, default: str | None = None) -> str | None:
        """Effective net option for ``peer`` (resource net, then mesh/connection net)."""
        value = self.res.option("net", name, default)
        for key, val in peer.net:
            if key == name:
                value = val if val is not None else "yes"
        return value


def resolve(res: Resource, hostname: str) -> ResourceView:
    """The resource as seen from ``hostname``; ConfigError when the host is not part of it."""
    me = res.host(hostname)
    if me is None or me.node_id is None or me.address is None:
        raise ConfigError(f"'{res.name}' not defined in your config (for this host).")
    volumes = []
    vnrs = sorted(set(res.volumes) | set(me.volumes))
    for vnr in vnrs:
        base = res.volumes.get(vnr, Volume(vnr))
        over = me.volumes.get(vnr, Volume(vnr))
        device = over.device or base.device or f"/dev/drbd{over.minor or base.minor or 0}"
        minor = over.minor if over.minor is not None else base.minor
        if minor is None:
            minor = 0
        disk = over.disk or base.disk or "none"
        meta = over.meta_disk or base.meta_disk or "internal"
        volumes.append(VolumeView(vnr, device, minor, disk, meta))
    peer_names: list[tuple[str, list[tuple[str, str | None]], Address | None]] = []
    for mesh in res.meshes:
        if hostname in mesh.hosts:
            peer_names.extend((h, mesh.net_options, None) for h in mesh.hosts if h != hostname)
    for conn in res.connections:
        names = [h for h, _ in conn.hosts]
        if hostname in names:
            peer_names.extend((h, conn.net_options, a) for h, a in conn.hosts if h != hostname)
    if not peer_names and len(res.hosts) == 2:
        other = res.hosts[1] if res.hosts[0] is me else res.hosts[0]
        peer_names.append((other.names[0], [], None))
    peers = []
    seen = set()
    for name, net, addr in peer_names:
        if name in seen:
            continue
        seen.add(name)
        host = res.host(name)
        if host is None or host.node_id is None:
            raise ConfigError(f"{res.config_file}: in resource {res.name}: unknown host {name}")
        address = addr or host.address
        if address is None:
            raise ConfigError(f"{res.config_file}: in resource {res.name}: no address for {name}")
        peers.append(PeerView(name, int(host.node_id), address, list(net)))
    return ResourceView(res, hostname, int(me.node_id), me.address, volumes, peers)


# -- drbdadm dump -------------------------------------------------------------------------

_SAFE = re.compile(r"^[A-Za-z0-9_./:,+=@%~\-\[\]]+$")


def esc(value: str) -> str:
    """Quote a value the way drbdadm's esc() does when it needs quoting."""
    if value and _SAFE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Dumper:
    def __init__(self) -> None:
        self.indent = 0
        self.out: list[str] = []

    def printI(self, text: str) -> None:  # noqa: N802 - mirrors drbdadm_dump.c
        self.out.append(" " * (4 * self.indent) + text)

    def printA(self, name: str, value: str) -> None:  # noqa: N802
        width = 24 - 4 * self.indent
        self.out.append(" " * (4 * self.indent) + f"{name:<{width}} {value:>3};\n")

    def options(self, name: str, opts: list[tuple[str, str | None]]) -> None:
        if not opts:
            return
        self.printI(f"{name} {{\n")
        self.indent += 1
        for key, val in opts:
            if val is None:
                self.printI(f"{key};\n")
            else:
                self.printA(key, esc(val))
        self.indent -= 1
        self.printI("}\n")

    def address(self, name: str, addr: Address, postfix: str) -> None:
        if addr.af == "ipv6":
            self.printI(f"{name:<16} {addr.af} [{addr.addr}]:{addr.port}{postfix}")
        else:
            self.printI(f"{name:<16} {addr.af} {addr.addr}:{addr.port}{postfix}")

    def volume(self, vol: Volume) -> None:
        if not vol.implicit:
            self.printI(f"volume {vol.vnr} {{\n")
            self.indent += 1
        self.options("disk", vol.disk_options)
        if vol.parsed_device:
            pad = " " * max(0, 19 - 4 * self.indent)
            dev = f"{esc(vol.device)} " if vol.device else ""
            self.printI(f"device{pad}{dev}minor {vol.minor};\n")
        if vol.parsed_disk:
            self.printA("disk", esc(vol.disk or "none"))
        if vol.parsed_meta_disk and vol.meta_disk:
            if vol.meta_index == "internal":
                self.printA("meta-disk", "internal")
            elif vol.meta_index == "flexible":
                self.printI(f"{'meta-disk':<16} {esc(vol.meta_disk)};\n")
            else:
                self.printI(f"{'meta-disk':<16} {esc(vol.meta_disk)} [{vol.meta_index}];\n")
        if not vol.implicit:
            self.indent -= 1
            self.printI("}\n")

    def host(self, host: Host) -> None:
        self.printI(f"on {' '.join(host.names)} {{\n")
        self.indent += 1
        self.printI(f"node-id {host.node_id};\n")
        self.options("options", host.res_options)
        for vnr in sorted(host.volumes):
            vol = host.volumes[vnr]
            if vol.parsed_device or vol.parsed_disk or vol.parsed_meta_disk:
                self.volume(vol)
        if host.address is not None:
            self.address("address", host.address, ";\n")
        self.indent -= 1
        self.printI("}\n")

    def connection(self, conn: ConnSection) -> None:
        self.printI("connection" + (f" {esc(conn.name)}" if conn.name else "") + " {\n")
        self.indent += 1
        for name, addr in conn.hosts:
            self.printI(f"host {name}")
            if addr is not None:  # drbdadm's dump_address() indents a second time here
                self.address(" address", addr, "")
            self.out.append(";\n")
        self.options("net", conn.net_options)
        self.indent -= 1
        self.printI("}\n")

    def resource(self, res: Resource, hostname: str) -> None:
        self.printI(f"# resource {esc(res.name)} on {hostname}: not ignored, not stacked\n")
        self.printI(f"# defined at {res.config_file}:{res.start_line}\n")
        self.printI(f"resource {esc(res.name)} {{\n")
        self.indent += 1
        for vnr in sorted(res.volumes):
            vol = res.volumes[vnr]
            if vol.parsed_device or vol.parsed_disk or vol.parsed_meta_disk or not vol.implicit:
                self.volume(vol)
        for host in res.hosts:
            self.host(host)
        for conn in res.connections:
            self.connection(conn)
        for mesh in res.meshes:
            self.printI("connection-mesh {\n")
            self.indent += 1
            self.printI("hosts" + "".join(f" {h}" for h in mesh.hosts) + ";\n")
            self.options("net", mesh.net_options)
            self.indent -= 1
            self.printI("}\n")
        for section in OPTION_SECTIONS:
            self.options(section, res.sections.get(section, []))
        self.indent -= 1
        self.out.append("}\n\n")


def dump(cfg: Config, names: list[str], hostname: str) -> str:
    """``drbdadm dump`` text for the named resources (all when ``names`` is empty)."""
    d = _Dumper()
    if not names:
        d.out.append(f"# {cfg.path}\n")
        if cfg.global_options:
            flags = dict(cfg.global_options)
            lines = []
            if "disable-ip-verification" in flags:
                lines.append("disable-ip-verification;\n")
            if "minor-count" in flags:
                lines.append(f"minor-count {flags['minor-count']};\n")
            if "dialog-refresh" in flags and flags["dialog-refresh"] != "1":
                lines.append(f"dialog-refresh {flags['dialog-refresh']};\n")
            if "usage-count" in flags and flags["usage-count"] != "ask":
                lines.append(f"usage-count {flags['usage-count']};\n")
            if lines:
                d.printI("global {\n")
                d.indent += 1
                for line in lines:
                    d.printI(line)
                d.indent -= 1
                d.printI("}\n\n")
        if cfg.common:
            d.printI("common {\n")
            d.indent += 1
            for section in OPTION_SECTIONS:
                d.options(section, cfg.common.get(section, []))
            d.indent -= 1
            d.out.append("}\n\n")
        names = list(cfg.resources)
    for name in names:
        d.resource(cfg.resources[name], hostname)
    return "".join(d.out)
