/*
 * Pacemaker & DRBD cluster card for Home Assistant (type: custom:pacemaker-drbd-card).
 *
 * Shipped with the pacemaker_drbd integration, which serves this file and adds it to the
 * frontend by itself (frontend.py). Plain JavaScript, no build step, no dependencies.
 *
 * It reads only Home Assistant's entity and device registries and states (the integration's
 * entities, found by platform, config entry and translation key) and calls only the
 * integration's services (standby_node, online_node, failover, cleanup_resource). It never talks
 * to the cluster itself.
 *
 * Config:
 *   type: custom:pacemaker-drbd-card
 *   entry_id: <config entry id of the cluster>   # optional when there is one cluster
 *   title: <header>                              # optional, default: the cluster's name
 *   compact: false                               # optional, one line per node
 *   show_actions: true                           # optional, hide the action buttons
 */

const DOMAIN = "pacemaker_drbd";
const CARD_TYPE = "pacemaker-drbd-card";
const EDITOR_TYPE = "pacemaker-drbd-card-editor";
const VERSION = "0.1.0";
const REPAIRS_PATH = "/config/repairs";

// Translation keys of the integration's entities, by what the card shows.
const CLUSTER_KEYS = new Set([
  "active_node",
  "dc",
  "failed_actions",
  "nodes_online",
  "quorum",
  "stack_running",
  "maintenance_mode",
  "fencing",
  "move_constraint",
  "split_brain",
]);
const NODE_KEYS = new Set(["node_state", "resources_running", "reachable"]);
const DRBD_KEYS = new Set(["drbd_role", "drbd_disk_state"]);
const DRBD_PEER_KEYS = new Set([
  "drbd_connection_state",
  "drbd_peer_disk_state",
  "drbd_replication_state",
  "drbd_resync",
]);
const SYNCING = new Set(["syncsource", "synctarget", "pausedsyncs", "pausedsynct"]);
const NODE_STATE_LEVEL = {
  online: "ok",
  standby: "info",
  maintenance: "warn",
  pending: "info",
  shutdown: "info",
  offline: "error",
  unclean: "error",
  unreachable: "error",
};

const escapeHtml = (value) =>
  String(value ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );

const isKnown = (stateObj) =>
  stateObj !== undefined && stateObj.state !== "unavailable" && stateObj.state !== "unknown";

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "";
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ""}`.trim();
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function navigate(path) {
  window.history.pushState(null, "", path);
  window.dispatchEvent(new CustomEvent("location-changed", { detail: { replace: false } }));
}

// --- finding the cluster's entities ----------------------------------------------------------

/** The config entries of the integration that have entities, [{entry_id, title}]. */
function entriesFromRegistry(hass) {
  const found = new Map();
  for (const entity of Object.values(hass.entities || {})) {
    if (entity.platform !== DOMAIN || !entity.device_id) continue;
    const device = hass.devices?.[entity.device_id];
    for (const entryId of device?.config_entries || []) {
      const known = found.get(entryId);
      // The cluster (hub) device is the one not linked to another: it carries the name.
      if (!known || (!known.named && !device.via_device_id)) {
        const named = !device.via_device_id;
        found.set(entryId, { entry_id: entryId, title: named ? device.name : entryId, named });
      }
    }
  }
  return [...found.values()].map(({ entry_id, title }) => ({ entry_id, title }));
}

/** The identifier our integration gave a device (its unique id part), or undefined. */
function ourIdentifier(device) {
  const pair = (device?.identifiers || []).find((id) => id[0] === DOMAIN);
  return pair ? pair[1] : undefined;
}

/**
 * Collect the entities of one config entry: the cluster device's, each node device's, and the
 * DRBD ones per node, resource and peer. Pure function of hass (plus the registry entries the
 * card fetched for DRBD entities, to learn their resource and peer from the unique id).
 */
function collectCluster(hass, entryId, uniqueIds) {
  const cluster = { device: undefined, byKey: {}, splitBrain: [] };
  const nodes = new Map();
  const drbdEntities = [];
  let count = 0;
  for (const entity of Object.values(hass.entities || {})) {
    if (entity.platform !== DOMAIN || !entity.device_id) continue;
    const device = hass.devices?.[entity.device_id];
    if (!device || !(device.config_entries || []).includes(entryId)) continue;
    const key = entity.translation_key;
    const stateObj = hass.states[entity.entity_id];
    if (!stateObj) continue; // disabled in the registry
    count += 1;
    if (CLUSTER_KEYS.has(key) && !device.via_device_id) {
      cluster.device = device;
      if (key === "split_brain") cluster.splitBrain.push(stateObj);
      else cluster.byKey[key] = stateObj;
      continue;
    }
    if (!device.via_device_id) continue;
    const nodeName = device.name || ourIdentifier(device) || entity.device_id;
    if (!nodes.has(entity.device_id)) {
      nodes.set(entity.device_id, { name: nodeName, device, byKey: {}, drbd: new Map() });
    }
    const node = nodes.get(entity.device_id);
    if (NODE_KEYS.has(key)) node.byKey[key] = stateObj;
    else if (DRBD_KEYS.has(key) || DRBD_PEER_KEYS.has(key)) {
      drbdEntities.push({ entity, node, key, stateObj });
    }
  }
  // Cluster device: the node devices link to it.
  if (!cluster.device) {
    const first = [...nodes.values()][0];
    if (first) cluster.device = hass.devices?.[first.device.via_device_id];
  }
  const names = [...nodes.values()].map((n) => n.name);
  for (const { entity, node, key, stateObj } of drbdEntities) {
    const where = drbdScope(entity, node, key, stateObj, names, uniqueIds);
    if (!node.drbd.has(where.resource)) {
      node.drbd.set(where.resource, { resource: where.resource, byKey: {}, peers: new Map() });
    }
    const res = node.drbd.get(where.resource);
    if (DRBD_KEYS.has(key)) res.byKey[key] = stateObj;
    else {
      const peer = where.peer ?? "";
      if (!res.peers.has(peer)) res.peers.set(peer, { peer, byKey: {} });
      res.peers.get(peer).byKey[key] = stateObj;
    }
  }
  return { cluster, nodes: [...nodes.values()], count, drbdEntityIds: drbdEntities.map((d) => d.entity.entity_id) };
}

/**
 * Which DRBD resource (and peer) an entity is about: its `resource`/`peer` attributes when the
 * integration sets them, else its unique id "<cluster>_<node>_<resource>[_<peer>]_<key>", with
 * the node device's identifier "<cluster>_<node>" as the known prefix.
 */
function drbdScope(entity, node, key, stateObj, nodeNames, uniqueIds) {
  const attrs = stateObj.attributes || {};
  if (attrs.resource !== undefined) {
    return { resource: String(attrs.resource), peer: attrs.peer !== undefined ? String(attrs.peer) : undefined };
  }
  const uniqueId = uniqueIds?.[entity.entity_id];
  const prefix = ourIdentifier(node.device);
  if (uniqueId && prefix && uniqueId.startsWith(`${prefix}_`) && uniqueId.endsWith(`_${key}`)) {
    const middle = uniqueId.slice(prefix.length + 1, uniqueId.length - key.length - 1);
    if (DRBD_PEER_KEYS.has(key)) {
      const peer = nodeNames
        .filter((n) => middle.endsWith(`_${n}`))
        .sort((a, b) => b.length - a.length)[0];
      if (peer) return { resource: middle.slice(0, middle.length - peer.length - 1), peer };
    }
    return { resource: middle, peer: undefined };
  }
  return { resource: "", peer: undefined };
}

// --- the view model ------------------------------------------------------------------------------

function stateText(hass, stateObj) {
  if (!stateObj) return "—";
  if (stateObj.state === "unavailable") return "unavailable";
  if (stateObj.state === "unknown") return "unknown";
  try {
    if (hass.formatEntityState) return hass.formatEntityState(stateObj);
  } catch (_err) {
    /* fall through */
  }
  return stateObj.state;
}

function buildModel(hass, config, uniqueIds) {
  const entries = entriesFromRegistry(hass);
  const entryId = config.entry_id || entries[0]?.entry_id;
  if (!entryId) return { empty: true, reason: "no_entry" };
  const found = collectCluster(hass, entryId, uniqueIds);
  if (!found.count) return { empty: true, reason: "no_entities", entryId };
  const c = found.cluster.byKey;
  const active = c.active_node;
  const activeNode = isKnown(active) ? active.state : null;
  const activeAttrs = active?.attributes || {};
  const application = activeAttrs.resource || null;
  const vips = Array.isArray(activeAttrs.vips) ? activeAttrs.vips : [];
  const vip = activeAttrs.vip || vips.join(", ") || null;
  // Does this Home Assistant run inside the application (its moves restart it)? The
  // integration says so in `self_hosted`; null: not known (an older integration).
  let hostsHomeAssistant =
    typeof activeAttrs.self_hosted === "boolean" ? activeAttrs.self_hosted : null;
  if (hostsHomeAssistant === null && [activeAttrs.vip, ...vips].includes(window.location.hostname)) {
    hostsHomeAssistant = true; // this page came through the application's VIP
  }
  const failed = c.failed_actions;
  const failedList = (failed?.attributes?.failed_actions || []).map((f) => ({
    resource: f.resource,
    node: f.node,
    operation: f.operation,
    reason: f.exit_reason || f.exit_status || "",
  }));
  const splitBrain = found.cluster.splitBrain
    .filter((s) => s.state === "on")
    .map((s) => ({
      entity_id: s.entity_id,
      name: s.attributes.friendly_name,
      nodes: s.attributes.nodes || [],
      evidence: s.attributes.evidence || [],
    }));
  const nodes = found.nodes
    .map((n) => {
      const stateObj = n.byKey.node_state;
      const reachable = n.byKey.reachable;
      const unreachable = reachable !== undefined && reachable.state === "off";
      const clusterState = isKnown(stateObj) ? stateObj.state : null;
      const drbd = [...n.drbd.values()]
        .sort((a, b) => a.resource.localeCompare(b.resource))
        .map((r) => ({
          resource: r.resource,
          role: r.byKey.drbd_role ? stateText(hass, r.byKey.drbd_role) : null,
          roleState: r.byKey.drbd_role?.state,
          disk: r.byKey.drbd_disk_state ? stateText(hass, r.byKey.drbd_disk_state) : null,
          diskState: r.byKey.drbd_disk_state?.state,
          peers: [...r.peers.values()]
            .sort((a, b) => a.peer.localeCompare(b.peer))
            .map((p) => {
              const resync = p.byKey.drbd_resync;
              const replication = p.byKey.drbd_replication_state;
              const percent = isKnown(resync) ? Number(resync.state) : null;
              return {
                peer: p.peer,
                connection: p.byKey.drbd_connection_state
                  ? stateText(hass, p.byKey.drbd_connection_state)
                  : null,
                connectionState: p.byKey.drbd_connection_state?.state,
                peerDiskState: p.byKey.drbd_peer_disk_state?.state,
                replicationState: replication?.state,
                peerDisk: p.byKey.drbd_peer_disk_state
                  ? stateText(hass, p.byKey.drbd_peer_disk_state)
                  : null,
                replication: replication ? stateText(hass, replication) : null,
                syncing:
                  (isKnown(replication) && SYNCING.has(replication.state)) ||
                  (percent !== null && !Number.isNaN(percent) && percent < 100),
                percent: percent !== null && !Number.isNaN(percent) ? percent : null,
                eta: resync?.attributes?.eta_seconds ?? null,
              };
            }),
        }));
      return {
        name: n.name,
        state: clusterState,
        stateText: stateText(hass, stateObj),
        unreachable,
        reachableKnown: reachable !== undefined && isKnown(reachable),
        sshError: reachable?.attributes?.error || null,
        isDc: Boolean(stateObj?.attributes?.is_dc),
        active: activeNode !== null && activeNode === n.name,
        resourcesRunning: isKnown(n.byKey.resources_running) ? n.byKey.resources_running.state : null,
        drbd,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const binary = (key) => (isKnown(c[key]) ? c[key].state === "on" : null);
  const title =
    config.title || found.cluster.device?.name_by_user || found.cluster.device?.name || "Cluster";
  const available = Object.values(c).some(isKnown) || nodes.some((n) => n.state !== null);
  return {
    empty: false,
    entryId,
    title,
    available,
    application,
    activeNode,
    vip,
    hostsHomeAssistant,
    quorum: binary("quorum"),
    fencing: binary("fencing"),
    maintenance: binary("maintenance_mode"),
    moveConstraint: binary("move_constraint"),
    moveConstraints: c.move_constraint?.attributes?.constraints || [],
    stackRunning: binary("stack_running"),
    failedCount: isKnown(failed) ? Number(failed.state) : null,
    failed: failedList,
    splitBrain,
    nodes,
    drbdEntityIds: found.drbdEntityIds,
  };
}

// --- rendering -------------------------------------------------------------------------------------

const STYLE = `
  :host { display: block; }
  ha-card { overflow: hidden; container-type: inline-size; }
  .wrap { padding: 12px 16px 16px; display: flex; flex-direction: column; gap: 12px; }
  header { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
  header h2 { margin: 0; font-size: 1.2em; font-weight: 500; flex: 1 1 auto;
    color: var(--primary-text-color); min-width: 0; overflow: hidden; text-overflow: ellipsis; }
  .chips { display: flex; gap: 6px; flex-wrap: wrap; }
  .chip { display: inline-flex; align-items: center; gap: 4px; font-size: 0.8em; line-height: 1.6;
    padding: 0 8px; border-radius: 10px; white-space: nowrap;
    background: var(--secondary-background-color); color: var(--primary-text-color); }
  .chip.ok { background: color-mix(in srgb, var(--success-color) 18%, transparent); }
  .chip.info { background: color-mix(in srgb, var(--info-color) 18%, transparent); }
  .chip.warn { background: color-mix(in srgb, var(--warning-color) 24%, transparent); }
  .chip.error { background: color-mix(in srgb, var(--error-color) 22%, transparent); }
  .chip.primary { background: var(--primary-color); color: var(--text-primary-color); }
  .banner { border-radius: var(--ha-card-border-radius, 12px); padding: 10px 12px;
    display: flex; flex-direction: column; gap: 4px; color: var(--primary-text-color); }
  .banner.error { background: color-mix(in srgb, var(--error-color) 20%, transparent);
    border: 2px solid var(--error-color); }
  .banner.warn { background: color-mix(in srgb, var(--warning-color) 18%, transparent);
    border: 1px solid var(--warning-color); }
  .banner.info { background: color-mix(in srgb, var(--info-color) 14%, transparent); }
  .banner strong { font-size: 1.05em; }
  .banner a { color: var(--primary-color); font-weight: 500; }
  .split-brain strong { color: var(--error-color); font-size: 1.15em; letter-spacing: 0.02em; }
  .app { display: flex; align-items: center; gap: 8px; flex-wrap: wrap;
    padding: 8px 12px; border-radius: var(--ha-card-border-radius, 12px);
    background: var(--secondary-background-color); color: var(--primary-text-color); }
  .app .what { flex: 1 1 200px; min-width: 0; }
  .app .where { font-weight: 500; }
  .muted { color: var(--secondary-text-color); font-size: 0.9em; }
  .nodes { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 10px; }
  .node { border: 1px solid var(--divider-color); border-radius: var(--ha-card-border-radius, 12px);
    padding: 10px 12px; display: flex; flex-direction: column; gap: 6px; min-width: 0;
    color: var(--primary-text-color); }
  .node.active { border: 2px solid var(--primary-color); }
  .node .top { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; }
  .node .name { font-weight: 500; font-size: 1.05em; flex: 1 1 auto; }
  .drbd { display: flex; flex-direction: column; gap: 4px; font-size: 0.95em; }
  .drbd .peer { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
  .progress { height: 6px; border-radius: 3px; background: var(--divider-color); overflow: hidden; }
  .progress > div { height: 100%; background: var(--primary-color); }
  .sync { display: flex; flex-direction: column; gap: 2px; font-size: 0.85em; }
  .facts { display: flex; flex-wrap: wrap; gap: 6px; }
  .failed { display: flex; flex-direction: column; gap: 6px; }
  .failed .item { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; font-size: 0.9em;
    padding: 6px 10px; border-radius: 8px; color: var(--primary-text-color);
    background: color-mix(in srgb, var(--error-color) 12%, transparent); }
  .failed .item span { flex: 1 1 160px; min-width: 0; overflow-wrap: anywhere; }
  .actions { display: flex; gap: 6px; flex-wrap: wrap; }
  button { font: inherit; font-size: 0.85em; font-weight: 500; cursor: pointer;
    border-radius: 16px; padding: 4px 12px; border: 1px solid var(--primary-color);
    background: transparent; color: var(--primary-color); }
  button:hover { background: color-mix(in srgb, var(--primary-color) 12%, transparent); }
  button.filled { background: var(--primary-color); color: var(--text-primary-color); }
  button.danger { border-color: var(--error-color); background: var(--error-color);
    color: var(--text-primary-color); }
  button:disabled { opacity: 0.5; cursor: default; }
  .compact .node { flex-direction: row; align-items: center; flex-wrap: wrap; padding: 6px 10px; }
  .compact .nodes { grid-template-columns: 1fr; gap: 6px; }
  .compact .drbd { flex-direction: row; flex-wrap: wrap; gap: 6px; }
  .pending { font-size: 0.9em; color: var(--secondary-text-color); }
  dialog { border: none; border-radius: var(--ha-dialog-border-radius, 24px); padding: 0;
    max-width: min(480px, calc(100vw - 32px)); width: 100%;
    background: var(--card-background-color, var(--primary-background-color));
    color: var(--primary-text-color); box-shadow: var(--ha-card-box-shadow, none); }
  dialog::backdrop { background: color-mix(in srgb, var(--primary-text-color) 40%, transparent); }
  dialog .body { padding: 20px 24px 16px; display: flex; flex-direction: column; gap: 12px; }
  dialog h3 { margin: 0; font-size: 1.25em; font-weight: 500; }
  dialog p { margin: 0; line-height: 1.45; }
  dialog ul { margin: 0; padding-left: 20px; line-height: 1.45; }
  dialog .buttons { display: flex; justify-content: flex-end; gap: 8px; flex-wrap: wrap;
    padding: 8px 24px 20px; }
  dialog .buttons button { font-size: 0.95em; padding: 6px 16px; }
  dialog .refused { border-radius: 8px; padding: 10px 12px; border: 1px solid var(--error-color);
    background: color-mix(in srgb, var(--error-color) 14%, transparent); }
  dialog .self { border-radius: 8px; padding: 10px 12px; border: 1px solid var(--warning-color);
    background: color-mix(in srgb, var(--warning-color) 16%, transparent); }
  dialog label { display: flex; gap: 8px; align-items: flex-start; font-size: 0.95em; }
  dialog select { font: inherit; padding: 4px; color: var(--primary-text-color);
    background: var(--secondary-background-color); border: 1px solid var(--divider-color);
    border-radius: 6px; }
  @container (max-width: 420px) {
    .wrap { padding: 10px 12px 12px; gap: 10px; }
    .nodes { grid-template-columns: 1fr; }
    .app { padding: 8px 10px; }
  }
`;

const DISK_LEVEL = {
  uptodate: "ok",
  failed: "error",
  diskless: "error",
  inconsistent: "warn",
  outdated: "warn",
  consistent: "warn",
  dunknown: "warn",
};

function diskLevel(state, peer = false) {
  if (state === undefined || state === "unavailable" || state === "unknown") return "";
  if (peer && state === "diskless") return "warn";
  return DISK_LEVEL[state] || "warn";
}

function chip(text, level = "", extra = "") {
  return `<span class="chip ${level}" ${extra}>${escapeHtml(text)}</span>`;
}

function renderNode(m, node, config) {
  const state = node.unreachable && node.state === null ? "unreachable" : node.state;
  const chips = [];
  chips.push(
    chip(
      node.state ? node.stateText : node.unreachable ? "Unreachable" : "Unavailable",
      NODE_STATE_LEVEL[state] || "",
      `data-field="state" data-state="${escapeHtml(state || "unavailable")}"`,
    ),
  );
  if (node.unreachable && node.state !== null) {
    chips.push(chip("Unreachable over SSH", "error", 'data-field="unreachable"'));
  }
  if (node.active) chips.push(chip("Runs the application", "primary", 'data-field="active"'));
  if (node.isDc) chips.push(chip("DC", "", 'data-field="dc" title="Designated controller"'));
  const drbd = node.drbd
    .map((r) => {
      if (config.compact) {
        const peers = r.peers.map((p) => p.connection).filter(Boolean).join(", ");
        return `<span class="drbd" data-resource="${escapeHtml(r.resource)}">${chip(
          `${r.role ?? "?"} · ${r.disk ?? "?"}${peers ? ` · ${peers}` : ""}`,
          r.diskState === "uptodate" ? "" : "warn",
          'data-field="drbd-compact"',
        )}${r.peers
          .filter((p) => p.syncing && p.percent !== null)
          .map((p) => chip(`resync ${p.percent.toFixed(1)} %`, "info", 'data-field="resync"'))
          .join("")}</span>`;
      }
      const rows = [
        `<span class="muted">DRBD ${escapeHtml(r.resource)}</span>`,
        `<div class="chips">${chip(r.role ?? "—", r.roleState === "primary" ? "info" : "", 'data-field="role"')}${chip(
          r.disk ?? "—",
          diskLevel(r.diskState),
          'data-field="disk" title="Local disk"',
        )}</div>`,
      ];
      for (const p of r.peers) {
        const replication =
          p.replication && !["established", "off"].includes(p.replicationState)
            ? chip(p.replication, "info", 'data-field="replication"')
            : "";
        rows.push(
          `<div class="peer" data-peer="${escapeHtml(p.peer)}"><span class="muted">↔ ${escapeHtml(p.peer || "peer")}</span>${chip(
            p.connection ?? "—",
            p.connectionState === "connected" ? "ok" : p.connectionState === "standalone" ? "error" : "warn",
            'data-field="connection" title="Connection to the peer"',
          )}${p.peerDisk ? chip(`peer ${p.peerDisk}`, diskLevel(p.peerDiskState, true), 'data-field="peer-disk"') : ""}${replication}</div>`,
        );
        if (p.syncing && p.percent === null) {
          rows.push(
            `<div class="sync" data-field="resync"><span class="muted">Resync ${escapeHtml(p.replication || "")} running</span></div>`,
          );
        } else if (p.syncing) {
          const pct = p.percent;
          const eta = formatDuration(p.eta);
          rows.push(
            `<div class="sync" data-field="resync"><div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct}"><div style="width:${Math.min(100, Math.max(0, pct))}%"></div></div><span class="muted">Resync ${escapeHtml(p.replication || "")} ${pct.toFixed(1)} %${eta ? ` · about ${escapeHtml(eta)} left` : ""}</span></div>`,
          );
        }
      }
      return `<div class="drbd" data-resource="${escapeHtml(r.resource)}">${rows.join("")}</div>`;
    })
    .join("");
  const actions = [];
  if (config.show_actions !== false && m.available) {
    if (node.state === "online") {
      actions.push(`<button data-action="standby" data-node="${escapeHtml(node.name)}">Standby</button>`);
    } else if (node.state === "standby") {
      actions.push(`<button data-action="online" data-node="${escapeHtml(node.name)}">Online</button>`);
    }
  }
  const extra =
    !config.compact && node.sshError && node.unreachable
      ? `<span class="muted" data-field="ssh-error">${escapeHtml(node.sshError)}</span>`
      : "";
  return `<div class="node${node.active ? " active" : ""}" data-node="${escapeHtml(node.name)}">
    <div class="top"><span class="name">${escapeHtml(node.name)}</span>${chips.join("")}</div>
    ${drbd}${extra}
    ${actions.length ? `<div class="actions">${actions.join("")}</div>` : ""}
  </div>`;
}

function renderCard(m, config, pending) {
  if (m.empty) {
    const text =
      m.reason === "no_entry"
        ? "No Pacemaker & DRBD cluster is set up. Add one in Settings → Devices & services."
        : "No entities of this cluster were found: is the cluster's integration entry loaded?";
    return `<div class="wrap"><div class="banner info" data-field="empty">${escapeHtml(text)}</div></div>`;
  }
  const parts = [];
  const headerChips = [];
  if (m.quorum !== null) {
    headerChips.push(
      chip(m.quorum ? "Quorum" : "No quorum", m.quorum ? "ok" : "error", 'data-field="quorum"'),
    );
  }
  if (m.fencing !== null) {
    headerChips.push(
      chip(
        m.fencing ? "Fencing on" : "Fencing off",
        m.fencing ? "ok" : "warn",
        `data-field="fencing" title="${m.fencing ? "STONITH is enabled" : "No fencing: a split brain is possible"}"`,
      ),
    );
  }
  parts.push(
    `<header><h2>${escapeHtml(m.title)}</h2><div class="chips">${headerChips.join("")}</div></header>`,
  );
  for (const sb of m.splitBrain) {
    const nodes = sb.nodes.length ? ` between ${sb.nodes.join(" and ")}` : "";
    parts.push(`<div class="banner error split-brain" role="alert" data-field="split-brain">
      <strong>⚠ DRBD split brain${escapeHtml(nodes)}</strong>
      <span>The nodes wrote different data while they were cut off from each other. Nothing is
      repaired automatically: decide which node's data to keep.</span>
      ${sb.evidence.length ? `<span class="muted">${escapeHtml(sb.evidence.slice(0, 3).join(" · "))}</span>` : ""}
      <a href="${REPAIRS_PATH}" data-nav="${REPAIRS_PATH}">Open the repair with the recovery steps</a>
    </div>`);
  }
  if (!m.available) {
    parts.push(
      `<div class="banner warn" data-field="unavailable"><strong>Cluster data unavailable</strong><span>Home Assistant cannot read the cluster right now (no node answers, or the integration is not loaded). The last known facts are not shown.</span></div>`,
    );
  }
  if (m.maintenance) {
    parts.push(
      `<div class="banner warn" data-field="maintenance"><strong>Maintenance mode</strong><span>The cluster does not start, stop or move resources until maintenance mode is switched off.</span></div>`,
    );
  }
  if (m.stackRunning === false) {
    parts.push(
      `<div class="banner error" data-field="stack-down"><strong>Cluster stack not running</strong><span>Corosync/Pacemaker do not run on the node Home Assistant reads.</span></div>`,
    );
  }
  // The application
  if (m.available && (m.application || m.activeNode)) {
    const where = m.activeNode
      ? `runs on <span class="where" data-field="active-node">${escapeHtml(m.activeNode)}</span>`
      : `<span class="where" data-field="active-node">is not running</span>`;
    const vip = m.vip ? ` <span class="muted" data-field="vip">VIP ${escapeHtml(m.vip)}</span>` : "";
    const canFailover =
      config.show_actions !== false &&
      m.activeNode &&
      m.nodes.some((n) => n.name !== m.activeNode && n.state === "online");
    parts.push(`<div class="app" data-field="application">
      <span class="what">${escapeHtml(m.application || "The application")} ${where}${vip}</span>
      ${canFailover ? `<button class="filled" data-action="failover">Fail over</button>` : ""}
    </div>`);
  }
  if (m.moveConstraint) {
    const text = m.moveConstraints
      .map((c) => `${c.kind || "constraint"} ${c.resource}${c.node ? ` on ${c.node}` : ""}`)
      .join(", ");
    parts.push(
      `<div class="banner warn" data-field="move-constraint"><strong>Leftover move constraint</strong><span>${escapeHtml(text || "A temporary move constraint is still in the configuration")}: the cluster cannot move the resource freely. <a href="${REPAIRS_PATH}" data-nav="${REPAIRS_PATH}">Review it in Repairs</a></span></div>`,
    );
  }
  if (pending) {
    parts.push(`<div class="pending" data-field="pending">${escapeHtml(pending.text)}</div>`);
  }
  parts.push(`<div class="nodes">${m.nodes.map((n) => renderNode(m, n, config)).join("")}</div>`);
  if (m.failedCount) {
    const items = m.failed
      .map(
        (f, i) => `<div class="item" data-field="failed-action"><span><b>${escapeHtml(f.resource)}</b> ${escapeHtml(f.operation || "")} failed on ${escapeHtml(f.node || "?")}${f.reason ? `: ${escapeHtml(f.reason)}` : ""}</span>${
          config.show_actions !== false
            ? `<button data-action="cleanup" data-index="${i}">Clean up</button>`
            : ""
        }</div>`,
      )
      .join("");
    parts.push(
      `<div class="failed"><span class="muted">Failed actions: ${m.failedCount}</span>${items}</div>`,
    );
  }
  return `<div class="wrap${config.compact ? " compact" : ""}">${parts.join("")}</div>`;
}

// --- the confirmation dialog -----------------------------------------------------------------------

/** What an action does, for the confirmation dialog (pure; used by the tests too). */
function describeAction(m, action) {
  const app = m.application || "the application";
  const others = m.nodes.filter((n) => n.name !== action.node && n.state === "online");
  const selfMoves = (target) => {
    if (m.hostsHomeAssistant === true) {
      return `Home Assistant itself will restart on ${target || "the other node"}: this page loses its connection for a while and reconnects when Home Assistant runs again there.`;
    }
    if (m.hostsHomeAssistant === null) {
      return `If this Home Assistant runs inside ${app}, it will restart on ${target || "the other node"} and this page reconnects once it is back (the integration does not say whether it runs inside the cluster).`;
    }
    return null;
  };
  if (action.type === "standby") {
    const lines = [`Pacemaker stops or moves every resource on ${action.node}; the node stays in the cluster.`];
    let self = null;
    if (action.node === m.activeNode) {
      const target = others[0]?.name;
      lines.push(
        target
          ? `${app} moves from ${action.node} to ${target}; DRBD on ${target} becomes Primary.`
          : `${app} has no other online node to move to: it stops.`,
      );
      self = selfMoves(target);
    } else if (m.activeNode) {
      lines.push(`${app} keeps running on ${m.activeNode}.`);
    }
    return {
      title: `Put ${action.node} in standby?`,
      lines,
      self,
      confirm: `Put ${action.node} in standby`,
      service: "standby_node",
      data: { node: action.node },
    };
  }
  if (action.type === "online") {
    return {
      title: `Bring ${action.node} online?`,
      lines: [
        `${action.node} may run resources again. Pacemaker decides whether anything moves back; the application normally stays where it runs.`,
      ],
      self: null,
      confirm: `Bring ${action.node} online`,
      service: "online_node",
      data: { node: action.node },
    };
  }
  if (action.type === "failover") {
    const targets = m.nodes.filter((n) => n.name !== m.activeNode && n.state === "online");
    const target = action.target || targets[0]?.name;
    return {
      title: `Fail ${app} over?`,
      lines: [
        `${app} stops on ${m.activeNode} and starts on ${target}: DRBD is demoted on ${m.activeNode} and promoted on ${target}.`,
        "The temporary move constraint is removed once it runs there, so the cluster may move it again later.",
      ],
      self: selfMoves(target),
      confirm: `Fail over to ${target}`,
      service: "failover",
      data: { target },
      targets: targets.map((n) => n.name),
    };
  }
  const f = m.failed[action.index] || {};
  return {
    title: `Clean up ${f.resource}?`,
    lines: [
      `Pacemaker forgets the failed ${f.operation || "operation"} of ${f.resource}${f.node ? ` on ${f.node}` : ""} and its fail count, then checks the resource again; it may start it again there.`,
    ],
    self: null,
    confirm: "Clean up",
    service: "cleanup_resource",
    data: f.node ? { resource: f.resource, node: f.node } : { resource: f.resource },
  };
}

/** After a successful call: a note on the card until the entities show the result. */
function pendingFor(action, d) {
  const expires = Date.now() + 120000;
  const node = (m, name) => (m.empty ? undefined : m.nodes.find((n) => n.name === name));
  if (action.type === "standby") {
    return {
      text: `Waiting for ${action.node} to go into standby…`,
      expires,
      done: (m) => node(m, action.node)?.state === "standby",
    };
  }
  if (action.type === "online") {
    return {
      text: `Waiting for ${action.node} to come online…`,
      expires,
      done: (m) => node(m, action.node)?.state === "online",
    };
  }
  if (action.type === "failover") {
    return {
      text: `Waiting for the application to run on ${d.data.target}…`,
      expires,
      done: (m) => !m.empty && m.activeNode === d.data.target,
    };
  }
  return {
    text: `Cleaning up ${d.data.resource}…`,
    expires: Date.now() + 60000,
    done: (m) => !m.empty && !m.failed.some((f) => f.resource === d.data.resource),
  };
}

// --- the custom elements ---------------------------------------------------------------------------

/*
 * Home Assistant's frontend installs a scoped custom element registry polyfill (it replaces
 * window.customElements and window.HTMLElement) when its app script runs. The integration loads
 * this file with add_extra_js_url, in parallel with that script: the classes are therefore
 * created and defined only once the app's own elements exist, so that they extend the
 * HTMLElement and use the registry the frontend will look them up in.
 */
function defineElements() {
  if (customElements.get(CARD_TYPE)) return;

  // --- the card ----------------------------------------------------------------------------------------

  class PacemakerDrbdCard extends HTMLElement {
    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      this._config = {};
      this._uniqueIds = {};
      this._uniqueIdsFor = "";
      this._rendered = "";
      this._pending = null;
      this._action = null;
      this.shadowRoot.innerHTML = `<style>${STYLE}</style><ha-card><div id="content"></div></ha-card><dialog class="confirm"></dialog>`;
      this.shadowRoot.addEventListener("click", (ev) => this._onClick(ev));
      this._dialog = this.shadowRoot.querySelector("dialog");
      this._dialog.addEventListener("close", () => {
        this._action = null;
      });
    }

    setConfig(config) {
      if (!config || typeof config !== "object") throw new Error("Invalid configuration");
      if (config.entry_id !== undefined && typeof config.entry_id !== "string") {
        throw new Error("entry_id must be a config entry id (text)");
      }
      this._config = { compact: false, show_actions: true, ...config };
      this._rendered = "";
      this._update();
    }

    set hass(hass) {
      this._hass = hass;
      this._update();
    }

    get hass() {
      return this._hass;
    }

    getCardSize() {
      const nodes = this._model && !this._model.empty ? this._model.nodes.length : 2;
      return this._config.compact ? 2 + nodes : 3 + 2 * nodes;
    }

    getGridOptions() {
      return { columns: 12, min_columns: 6, rows: "auto" };
    }

    static getConfigElement() {
      return document.createElement(EDITOR_TYPE);
    }

    static getStubConfig(hass) {
      const entries = hass ? entriesFromRegistry(hass) : [];
      return entries.length ? { entry_id: entries[0].entry_id } : {};
    }

    _update() {
      const hass = this._hass;
      if (!hass) return;
      const model = buildModel(hass, this._config, this._uniqueIds);
      this._model = model;
      if (!model.empty) this._fetchUniqueIds(model.drbdEntityIds);
      if (this._pending && (Date.now() > this._pending.expires || this._pending.done(model))) {
        this._pending = null;
      }
      const html = renderCard(model, this._config, this._pending);
      if (html !== this._rendered) {
        this._rendered = html;
        this.shadowRoot.getElementById("content").innerHTML = html;
      }
    }

    /** The DRBD entities' unique ids (their resource and peer), fetched once per set. */
    _fetchUniqueIds(entityIds) {
      const key = entityIds.slice().sort().join(",");
      if (!entityIds.length || key === this._uniqueIdsFor) return;
      const missing = entityIds.filter((id) => !(id in this._uniqueIds));
      this._uniqueIdsFor = key;
      if (!missing.length || this._hass.states[entityIds[0]]?.attributes?.resource !== undefined) {
        return;
      }
      this._hass
        .callWS({ type: "config/entity_registry/get_entries", entity_ids: missing })
        .then((entries) => {
          for (const [entityId, entry] of Object.entries(entries || {})) {
            if (entry) this._uniqueIds[entityId] = entry.unique_id;
          }
          this._rendered = "";
          this._update();
        })
        .catch(() => {
          this._uniqueIdsFor = ""; // try again on the next update
        });
    }

    _onClick(ev) {
      const nav = ev.target.closest("[data-nav]");
      if (nav) {
        ev.preventDefault();
        navigate(nav.dataset.nav);
        return;
      }
      const button = ev.target.closest("button[data-action]");
      if (!button || button.disabled) return;
      const act = button.dataset.action;
      if (button.closest("dialog")) {
        if (act === "cancel") this._dialog.close();
        else if (act === "confirm") this._run(false);
        else if (act === "force") this._run(true);
        return;
      }
      const action = { type: act, node: button.dataset.node, index: Number(button.dataset.index) };
      this._openDialog(action);
    }

    _openDialog(action) {
      if (!this._model || this._model.empty) return;
      this._action = { ...action, describe: describeAction(this._model, action) };
      this._renderDialog({});
      if (!this._dialog.open) this._dialog.showModal();
    }

    _renderDialog({ busy = false, error = null, refused = false, canForce = false }) {
      const d = this._action.describe;
      const targetSelect =
        d.targets && d.targets.length > 1
          ? `<label>Target node <select data-field="target">${d.targets
              .map((t) => `<option ${t === d.data.target ? "selected" : ""}>${escapeHtml(t)}</option>`)
              .join("")}</select></label>`
          : "";
      const errorBox = error
        ? `<div class="refused" role="alert" data-field="error"><strong>${refused ? "Refused by a safety check" : "The action failed"}</strong><p>${escapeHtml(error)}</p></div>`
        : "";
      const force = canForce
        ? `<label data-field="force-ack"><input type="checkbox" data-field="force-check"> I understand the risk: do it anyway, overriding the safety check (force).</label>`
        : "";
      this._dialog.innerHTML = `<div class="body">
          <h3>${escapeHtml(d.title)}</h3>
          <ul>${d.lines.map((l) => `<li>${escapeHtml(l)}</li>`).join("")}</ul>
          ${d.self ? `<p class="self" data-field="self-restart">${escapeHtml(d.self)}</p>` : ""}
          ${targetSelect}${errorBox}${force}
        </div>
        <div class="buttons">
          <button data-action="cancel" ${busy ? "disabled" : ""}>Cancel</button>
          ${canForce ? `<button class="danger" data-action="force" disabled>Force</button>` : ""}
          <button class="filled" data-action="confirm" ${busy ? "disabled" : ""}>${busy ? "Working…" : escapeHtml(d.confirm)}</button>
        </div>`;
      const check = this._dialog.querySelector('[data-field="force-check"]');
      if (check) {
        check.addEventListener("change", () => {
          this._dialog.querySelector('[data-action="force"]').disabled = !check.checked;
        });
      }
      const select = this._dialog.querySelector('[data-field="target"]');
      if (select) {
        select.addEventListener("change", () => {
          this._action.describe = describeAction(this._model, { ...this._action, target: select.value });
          this._renderDialog({});
        });
      }
    }

    async _run(force) {
      const action = this._action;
      if (!action) return;
      const d = action.describe;
      const data = { config_entry_id: this._model.entryId, ...d.data };
      if (force) data.force = true;
      const service = this._hass.services?.[DOMAIN]?.[d.service];
      if (!service) {
        this._renderDialog({
          error: `This version of the integration has no ${DOMAIN}.${d.service} action yet.`,
        });
        return;
      }
      this._renderDialog({ busy: true });
      try {
        await this._hass.callWS({
          type: "call_service",
          domain: DOMAIN,
          service: d.service,
          service_data: data,
          return_response: Boolean(service.response),
        });
      } catch (err) {
        if (this._action !== action) return;
        if (d.self && (err?.code === 3 || /connection lost/i.test(String(err?.message ?? err)))) {
          // Home Assistant stopped under us: the move it was told about is under way.
          this._pending = {
            text: "Home Assistant is moving to the other node: this page reconnects when it runs again there.",
            expires: Date.now() + 300000,
            done: () => false,
          };
          this._dialog.close();
          this._rendered = "";
          this._update();
          return;
        }
        const refused = err?.code === "service_validation_error";
        // Force is offered for a refusal only, and only where the action takes `force`.
        const canForce = refused && Boolean(service.fields?.force);
        this._renderDialog({ error: err?.message || String(err), refused, canForce });
        return;
      }
      this._pending = pendingFor(action, d);
      this._dialog.close();
      this._rendered = "";
      this._update();
    }
  }

  // --- the visual editor -----------------------------------------------------------------------------

  class PacemakerDrbdCardEditor extends HTMLElement {
    constructor() {
      super();
      this.attachShadow({ mode: "open" });
      this._config = {};
      this._entries = null;
      this._loading = false;
    }

    setConfig(config) {
      this._config = { ...config };
      this._render();
    }

    set hass(hass) {
      this._hass = hass;
      if (this._entries === null && !this._loading) this._loadEntries();
    }

    async _loadEntries() {
      this._loading = true;
      try {
        this._entries = await this._hass.callWS({ type: "config_entries/get", domain: DOMAIN });
      } catch (_err) {
        this._entries = entriesFromRegistry(this._hass);
      }
      this._loading = false;
      this._render();
    }

    _render() {
      const entries = this._entries || [];
      const current = this._config.entry_id || "";
      const options = [
        `<option value="" ${current ? "" : "selected"}>${entries.length ? "The first cluster" : "Loading…"}</option>`,
        ...entries.map(
          (e) =>
            `<option value="${escapeHtml(e.entry_id)}" ${e.entry_id === current ? "selected" : ""}>${escapeHtml(e.title)}${e.state && e.state !== "loaded" ? ` (${escapeHtml(e.state)})` : ""}</option>`,
        ),
      ];
      this.shadowRoot.innerHTML = `<style>
          .form { display: flex; flex-direction: column; gap: 14px; color: var(--primary-text-color); }
          label { display: flex; flex-direction: column; gap: 4px; font-size: 0.95em; }
          label.row { flex-direction: row; align-items: center; gap: 8px; }
          select, input[type=text] { font: inherit; padding: 8px; border-radius: 6px;
            color: var(--primary-text-color); background: var(--secondary-background-color);
            border: 1px solid var(--divider-color); }
          .hint { color: var(--secondary-text-color); font-size: 0.85em; }
        </style>
        <div class="form">
          <label>Cluster
            <select data-key="entry_id">${options.join("")}</select>
            <span class="hint">The cluster's config entry (Settings → Devices & services).</span>
          </label>
          <label>Title
            <input type="text" data-key="title" value="${escapeHtml(this._config.title || "")}" placeholder="The cluster's name">
          </label>
          <label class="row"><input type="checkbox" data-key="compact" ${this._config.compact ? "checked" : ""}> Compact: one line per node</label>
          <label class="row"><input type="checkbox" data-key="show_actions" ${this._config.show_actions === false ? "" : "checked"}> Show actions (standby, online, failover, clean up)</label>
        </div>`;
      for (const el of this.shadowRoot.querySelectorAll("[data-key]")) {
        el.addEventListener("change", () => this._changed(el));
      }
    }

    _changed(el) {
      const key = el.dataset.key;
      const config = { ...this._config };
      if (el.type === "checkbox") {
        if (key === "show_actions" && el.checked) delete config.show_actions;
        else config[key] = el.checked;
      } else if (el.value) config[key] = el.value;
      else delete config[key];
      this._config = config;
      this.dispatchEvent(
        new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }),
      );
    }
  }

  customElements.define(CARD_TYPE, PacemakerDrbdCard);
  customElements.define(EDITOR_TYPE, PacemakerDrbdCardEditor);
}

const APP_ELEMENTS = ["home-assistant", "hc-main"];
if (APP_ELEMENTS.some((tag) => customElements.get(tag))) {
  defineElements();
} else {
  Promise.race([
    ...APP_ELEMENTS.map((tag) => customElements.whenDefined(tag)),
    new Promise((resolve) => {
      setTimeout(resolve, 15000);
    }),
  ]).then(defineElements);
}

window.customCards = window.customCards || [];
if (!window.customCards.some((c) => c.type === CARD_TYPE)) {
  window.customCards.push({
    type: CARD_TYPE,
    name: "Pacemaker & DRBD cluster",
    description:
      "Nodes, the active node, DRBD replication, quorum, fencing, failed actions and split brain, with standby, failover and cleanup.",
    preview: true,
    documentationURL: "https://github.com/pacemaker-drbd/pacemaker_drbd#the-cluster-card",
  });
}

// For the browser tests: the pure parts.
window.__pacemakerDrbdCard = { VERSION, buildModel, describeAction, drbdScope, formatDuration };

console.info(`%c PACEMAKER-DRBD-CARD %c ${VERSION} `, "font-weight:bold", "");
