"""The Lovelace card in a real headless Chromium, on Home Assistant with the integration on the lab.

Real cluster (the dashboard ``scripts/develop`` creates): the active node, node states, DRBD,
the confirmation dialog, a confirmed standby (once the control services exist), the split-brain
banner after ``scripts/lab isolate`` + ``heal``; screenshots into docs/screenshots/.
Fake ``hass`` (fake_hass.py, the same page and the same served file): what the lab cannot show
on demand (resync progress, failed actions, refusals, everything unavailable, the editor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
import re
from typing import TYPE_CHECKING, Any

from fake_hass import ENTRY_ID, MOUNT_JS, Scenario
import pytest

if TYPE_CHECKING:
    from conftest import DevHass, PageErrors
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.e2e

CARD = "pacemaker-drbd-card:not(.test)"
TEST_CARD = "pacemaker-drbd-card.test"
WRITE = (
    "import sys, urllib.request; "
    "urllib.request.urlopen(urllib.request.Request("
    "'http://127.0.0.1:8123/write?data=' + sys.argv[1], method='POST'), timeout=10).read()"
)


def expect(target: Any) -> Any:
    """Playwright's auto-waiting assertions."""
    from playwright.sync_api import expect as _expect

    return _expect(target)


def luminance(css_color: str) -> float:
    """Relative luminance (0 black .. 1 white) of an ``rgb()``/``rgba()`` color."""
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def open_card(
    open_page: Callable[..., tuple[Page, PageErrors]], dev_hass: DevHass, **kw: Any
) -> tuple[Page, Locator, PageErrors]:
    """The development dashboard with the card rendered (nodes shown)."""
    page, errors = open_page(dev_hass.dashboard, **kw)
    card = page.locator(CARD)
    expect(card.locator(".node").first).to_be_visible(timeout=60_000)
    return page, card, errors


# --- the real cluster --------------------------------------------------------------------------


def test_card_shows_the_lab_cluster(
    open_page: Callable[..., tuple[Page, PageErrors]],
    dev_hass: DevHass,
    shoot: Callable[..., Any],
) -> None:
    """Light theme: the active node, every node online, DRBD roles, disks and connections."""
    lab = dev_hass.lab
    active = lab.group_node()
    other = lab.other(active)
    page, card, errors = open_card(open_page, dev_hass)
    expect(card.locator('[data-field="active-node"]')).to_have_text(active, timeout=30_000)
    expect(card.locator(f'.node[data-node="{active}"] [data-field="active"]')).to_be_visible()
    expect(card.locator(f'.node[data-node="{other}"] [data-field="active"]')).to_have_count(0)
    for node in lab.nodes:
        row = card.locator(f'.node[data-node="{node}"]')
        expect(row.locator('[data-field="state"]')).to_have_attribute("data-state", "online")
        expect(row.locator('[data-field="state"]')).to_have_text("Online")
        expect(row.locator('[data-field="disk"]')).to_have_text("UpToDate")
        expect(row.locator('[data-field="connection"]')).to_have_text("Connected")
        expect(row.locator('[data-field="peer-disk"]')).to_have_text("peer UpToDate")
        # the DRBD resource's name comes from the entity registry (not from entity ids)
        expect(row.locator(".drbd")).to_have_attribute("data-resource", "home-assistant")
    role = '[data-field="role"]'
    expect(card.locator(f'.node[data-node="{active}"] {role}')).to_have_text("Primary")
    expect(card.locator(f'.node[data-node="{other}"] {role}')).to_have_text("Secondary")
    expect(card.locator('[data-field="quorum"]')).to_have_text("Quorum")
    expect(card.locator('[data-field="fencing"]')).to_have_text("Fencing off")
    expect(card.locator('[data-field="application"]')).to_contain_text("g_home-assistant")
    expect(card.locator('[data-field="split-brain"]')).to_have_count(0)
    expect(card.locator('button[data-action="standby"]')).to_have_count(len(lab.nodes))
    expect(card.locator('button[data-action="failover"]')).to_be_visible()
    assert errors.errors == []
    shoot(card.locator("ha-card"), "card-light")


def test_dark_theme(
    open_page: Callable[..., tuple[Page, PageErrors]],
    dev_hass: DevHass,
    shoot: Callable[..., Any],
) -> None:
    """Dark theme: the card takes Home Assistant's dark colors (only HA variables are used)."""
    _page, card, errors = open_card(open_page, dev_hass, dark=True)
    ha_card = card.locator("ha-card")
    background = ha_card.evaluate("e => getComputedStyle(e).backgroundColor")
    text = card.locator(".node .name").first.evaluate("e => getComputedStyle(e).color")
    assert luminance(background) < 0.25, background
    assert luminance(text) > 0.7, text
    assert errors.errors == []
    shoot(ha_card, "card-dark")


def test_phone_width(
    open_page: Callable[..., tuple[Page, PageErrors]],
    dev_hass: DevHass,
    shoot: Callable[..., Any],
) -> None:
    """At 375 px the nodes stack, nothing overflows sideways and the buttons stay usable."""
    page, card, errors = open_card(open_page, dev_hass, width=375, height=760)
    ha_card = card.locator("ha-card")
    box = ha_card.bounding_box()
    assert box is not None
    assert box["width"] <= 375
    overflow = ha_card.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0
    first, second = (card.locator(".node").nth(i).bounding_box() for i in (0, 1))
    assert first is not None
    assert second is not None
    assert second["y"] >= first["y"] + first["height"] - 1  # stacked, not side by side
    button = card.locator('button[data-action="standby"]').first.bounding_box()
    assert button is not None
    assert button["x"] + button["width"] <= 375
    assert errors.errors == []
    bottom = box["y"] + box["height"] + 8
    shoot(page, "card-phone", clip={"x": 0, "y": 0, "width": 375, "height": bottom})


def test_confirmation_dialog(
    open_page: Callable[..., tuple[Page, PageErrors]], dev_hass: DevHass
) -> None:
    """Standby and failover ask first, say what will happen, and Cancel changes nothing."""
    lab = dev_hass.lab
    active = lab.group_node()
    other = lab.other(active)
    _page, card, errors = open_card(open_page, dev_hass)
    card.locator(f'.node[data-node="{active}"] button[data-action="standby"]').click()
    dialog = card.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3")).to_have_text(f"Put {active} in standby?")
    expect(dialog).to_contain_text(f"g_home-assistant moves from {active} to {other}")
    # This Home Assistant runs outside the cluster: no "restarts on the other node" warning
    # (an integration that does not say would get the hedged sentence).
    self_hosted = dev_hass.active_node_attributes().get("self_hosted")
    warning = dialog.locator('[data-field="self-restart"]')
    if self_hosted is None:
        expect(warning).to_contain_text(f"it will restart on {other}")
    else:
        assert self_hosted is False
        expect(warning).to_have_count(0)
    expect(dialog.locator('button[data-action="confirm"]')).to_have_text(f"Put {active} in standby")
    dialog.locator('button[data-action="cancel"]').click()
    expect(dialog).to_be_hidden()

    card.locator('button[data-action="failover"]').click()
    expect(dialog.locator("h3")).to_have_text("Fail g_home-assistant over?")
    expect(dialog).to_contain_text(f"stops on {active} and starts on {other}")
    expect(dialog.locator('button[data-action="confirm"]')).to_have_text(f"Fail over to {other}")
    dialog.locator('button[data-action="cancel"]').click()
    expect(dialog).to_be_hidden()
    assert lab.group_node() == active
    assert errors.errors == []


def test_confirmed_standby_moves_the_application(
    open_page: Callable[..., tuple[Page, PageErrors]], dev_hass: DevHass
) -> None:
    """Confirm standby of the active node: the card follows the cluster to the other node."""
    if not dev_hass.has_service("standby_node"):
        pytest.skip(
            "pacemaker_drbd.standby_node does not exist yet (the control issue's services.py)"
        )
    lab = dev_hass.lab
    active = lab.group_node()
    other = lab.other(active)
    _page, card, errors = open_card(open_page, dev_hass)
    dialog = card.locator("dialog.confirm")
    try:
        card.locator(f'.node[data-node="{active}"] button[data-action="standby"]').click()
        dialog.locator('button[data-action="confirm"]').click()
        expect(dialog).to_be_hidden(timeout=90_000)
        state = card.locator(f'.node[data-node="{active}"] [data-field="state"]')
        expect(state).to_have_attribute("data-state", "standby", timeout=60_000)
        expect(card.locator('[data-field="active-node"]')).to_have_text(other, timeout=60_000)
        role = card.locator(f'.node[data-node="{other}"] [data-field="role"]')
        expect(role).to_have_text("Primary", timeout=60_000)

        # The last online node: the interlock refuses, the dialog shows why and offers force.
        card.locator(f'.node[data-node="{other}"] button[data-action="standby"]').click()
        dialog.locator('button[data-action="confirm"]').click()
        error = dialog.locator('[data-field="error"]')
        expect(error).to_be_visible(timeout=60_000)
        expect(error).to_contain_text("Refused")
        assert len(error.inner_text().strip()) > len("Refused by a safety check") + 5
        expect(dialog.locator('button[data-action="force"]')).to_be_disabled()
        dialog.locator('button[data-action="cancel"]').click()
        assert lab.check("online", other)

        card.locator(f'.node[data-node="{active}"] button[data-action="online"]').click()
        dialog.locator('button[data-action="confirm"]').click()
        expect(dialog).to_be_hidden(timeout=90_000)
        expect(state).to_have_attribute("data-state", "online", timeout=60_000)
    finally:
        lab.run("exec", active, "crm", "node", "online", active, check=False)
    assert errors.errors == []


def test_split_brain_banner(
    open_page: Callable[..., tuple[Page, PageErrors]],
    dev_hass: DevHass,
    shoot: Callable[..., Any],
) -> None:
    """isolate + heal: the cut-off node shows unreachable, then a banner that cannot be missed."""
    lab = dev_hass.lab
    a = lab.group_node()
    b = lab.other(a)
    page, card, errors = open_card(open_page, dev_hass)
    try:
        lab.run("isolate", b)
        lab.wait("offline", a, on=b, timeout=30)
        lab.wait("group-on", b, on=b, timeout=60)
        # Home Assistant cannot reach b over SSH; the cluster (a's view) sees it offline.
        expect(card.locator(f'.node[data-node="{b}"] [data-field="unreachable"]')).to_be_visible(
            timeout=60_000
        )
        expect(card.locator(f'.node[data-node="{b}"] [data-field="state"]')).to_have_attribute(
            "data-state", re.compile("offline|unclean"), timeout=60_000
        )
        lab.exec(a, "/usr/bin/python3", "-c", WRITE, "browser-a")
        lab.exec(b, "/usr/bin/python3", "-c", WRITE, "browser-b")
        lab.run("heal", b)
        lab.wait("split-brain", timeout=60)
        banner = card.locator('[data-field="split-brain"]')
        expect(banner).to_be_visible(timeout=90_000)
        expect(banner).to_contain_text("DRBD split brain")
        expect(banner.locator("a")).to_have_attribute("href", "/config/repairs")
        # the first thing in the card after its title, in the error color
        first_block = card.locator(".wrap > :nth-child(2)")
        expect(first_block).to_have_attribute("data-field", "split-brain")
        border = banner.evaluate("e => getComputedStyle(e).borderTopColor")
        error_color = banner.evaluate(
            "e => getComputedStyle(e).getPropertyValue('--error-color').trim()"
        )
        assert border != "rgba(0, 0, 0, 0)", border
        assert error_color, "the banner uses Home Assistant's --error-color"
        shoot(card.locator("ha-card"), "card-split-brain")
        banner.locator("a").click()
        page.wait_for_url(re.compile(r"/config/repairs$"), timeout=30_000)
    finally:
        lab.run("recover")
        lab.wait("healthy", timeout=120)
    assert errors.errors == []


# --- the fake hass: states on demand ----------------------------------------------------------


@pytest.fixture
def harness(browser: Browser, dev_hass: DevHass) -> Iterator[Page]:
    """One logged-in page of the real frontend, for cards mounted with a fake hass."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    tokens = dev_hass.login_tokens()
    context.add_init_script(
        f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"
    )
    page = context.new_page()
    page.goto(dev_hass.url + "/profile")
    page.wait_for_function("() => !!customElements.get('pacemaker-drbd-card')", timeout=60_000)
    yield page
    context.close()


def mount(page: Page, scenario: Scenario, **config: Any) -> Locator:
    """Render a card with ``scenario`` as its hass; the card locator."""
    page.evaluate(MOUNT_JS, [scenario.to_js(), {"type": "custom:pacemaker-drbd-card", **config}])
    card = page.locator(TEST_CARD)
    expect(card.locator(".wrap")).to_be_visible()
    return card


def answer(page: Page, code: str, message: str) -> None:
    """The next service call fails the way Home Assistant answers (code and message)."""
    page.evaluate(
        "([code, message]) => { window.__answers = [{ error: { code, message } }]; }",
        [code, message],
    )


def service_calls(page: Page) -> list[dict[str, Any]]:
    """The call_service messages the card sent since it was mounted."""
    calls: list[dict[str, Any]] = harness_calls(page)
    return [c for c in calls if c["type"] == "call_service"]


def harness_calls(page: Page) -> list[dict[str, Any]]:
    """Every WebSocket message the card sent since it was mounted."""
    calls: list[dict[str, Any]] = page.evaluate("window.__calls")
    return calls


def test_resync_progress_and_unreachable_node(harness: Page) -> None:
    """A resync shows a progress bar with the time to finish; an unreachable node says so."""
    scn = Scenario()
    scn.set("sensor.ha_0_drbd_r0_ha_1_replication", "syncsource")
    scn.set("sensor.ha_0_drbd_r0_ha_1_resync", "42.5", eta_seconds=95)
    scn.set("sensor.ha_0_drbd_r0_ha_1_peer_disk", "inconsistent")
    scn.set("sensor.ha_1_drbd_r0_ha_0_replication", "synctarget")  # no percentage known
    scn.set("sensor.ha_1_state", "offline")
    scn.set("binary_sensor.ha_1_reachable", "off", error="connection refused")
    card = mount(harness, scn)
    sync = card.locator('.node[data-node="ha-0"] [data-field="resync"]')
    expect(sync.locator('[role="progressbar"]')).to_have_attribute("aria-valuenow", "42.5")
    expect(sync).to_contain_text("SyncSource 42.5 %")
    expect(sync).to_contain_text("about 1 min 35 s left")
    expect(card.locator('.node[data-node="ha-0"] [data-field="replication"]')).to_have_text(
        "SyncSource"
    )
    ha1 = card.locator('.node[data-node="ha-1"]')
    expect(ha1.locator('[data-field="resync"]')).to_have_text("Resync SyncTarget running")
    expect(ha1.locator('[role="progressbar"]')).to_have_count(0)
    expect(ha1.locator('[data-field="state"]')).to_have_text("Offline")
    expect(ha1.locator('[data-field="unreachable"]')).to_have_text("Unreachable over SSH")
    expect(ha1.locator('[data-field="ssh-error"]')).to_have_text("connection refused")
    expect(ha1.locator("button")).to_have_count(0)  # neither standby nor online for offline
    # no failover: no other online node
    expect(card.locator('button[data-action="failover"]')).to_have_count(0)
    # the resource and peer names came from the registry's unique ids
    expect(ha1.locator(".drbd")).to_have_attribute("data-resource", "r0")
    assert harness_calls(harness)[0]["type"] == "config/entity_registry/get_entries"


def test_everything_unavailable(harness: Page) -> None:
    """The entry cannot read the cluster: a clear notice, no actions, no errors."""
    errors: list[str] = []
    harness.on("pageerror", lambda exc: errors.append(str(exc)))
    card = mount(harness, Scenario().all_unavailable())
    expect(card.locator('[data-field="unavailable"]')).to_contain_text("Cluster data unavailable")
    expect(card.locator("button")).to_have_count(0)
    expect(card.locator('.node [data-field="state"]').first).to_have_text("Unavailable")
    expect(card.locator('[data-field="application"]')).to_have_count(0)
    card = mount(harness, Scenario(), entry_id="01SOMETHINGELSE")
    expect(card.locator('[data-field="empty"]')).to_contain_text("No entities of this cluster")
    assert errors == []


def test_cleanup_refused(harness: Page) -> None:
    """Cleanup asks first; a refusal shows Home Assistant's message (cleanup has no force)."""
    scn = Scenario()
    scn.set(
        "sensor.ha_cluster_failed_actions",
        "1",
        failed_actions=[
            {
                "resource": "p_app",
                "node": "ha-1",
                "operation": "monitor",
                "exit_reason": "not running",
                "exit_status": "not running",
                "last_rc_change": "2025-01-01",
            }
        ],
    )
    card = mount(harness, scn)
    item = card.locator('[data-field="failed-action"]')
    expect(item).to_contain_text("p_app monitor failed on ha-1: not running")
    refusal = "No resource p_app in the cluster."
    answer(harness, "service_validation_error", refusal)
    item.locator('button[data-action="cleanup"]').click()
    dialog = card.locator("dialog.confirm")
    expect(dialog.locator("h3")).to_have_text("Clean up p_app?")
    expect(dialog).to_contain_text("forgets the failed monitor of p_app on ha-1")
    dialog.locator('button[data-action="confirm"]').click()
    expect(dialog.locator('[data-field="error"]')).to_contain_text(refusal)
    expect(dialog.locator('button[data-action="force"]')).to_have_count(0)
    dialog.locator('button[data-action="confirm"]').click()  # again: accepted this time
    expect(dialog).to_be_hidden()
    expect(card.locator('[data-field="pending"]')).to_have_text("Cleaning up p_app…")
    calls = service_calls(harness)
    assert [c["service_data"] for c in calls] == [
        {"config_entry_id": ENTRY_ID, "resource": "p_app", "node": "ha-1"}
    ] * 2
    assert {(c["domain"], c["service"], c["return_response"]) for c in calls} == {
        ("pacemaker_drbd", "cleanup_resource", True)
    }


def test_standby_refused_then_forced(harness: Page) -> None:
    """An interlock's refusal is shown; force needs a tick and is sent as ``force: true``."""
    card = mount(harness, Scenario())
    refusal = (
        "Refused: the DRBD disk of ha-1 is not UpToDate (Inconsistent). Use force to override."
    )
    answer(harness, "service_validation_error", refusal)
    card.locator('.node[data-node="ha-0"] button[data-action="standby"]').click()
    dialog = card.locator("dialog.confirm")
    dialog.locator('button[data-action="confirm"]').click()
    error = dialog.locator('[data-field="error"]')
    expect(error).to_contain_text("Refused by a safety check")
    expect(error).to_contain_text(refusal)
    force = dialog.locator('button[data-action="force"]')
    expect(force).to_be_disabled()
    dialog.locator('[data-field="force-check"]').check()
    expect(force).to_be_enabled()
    force.click()
    expect(dialog).to_be_hidden()
    expect(card.locator('[data-field="pending"]')).to_have_text(
        "Waiting for ha-0 to go into standby…"
    )
    assert [c["service_data"] for c in service_calls(harness)] == [
        {"config_entry_id": ENTRY_ID, "node": "ha-0"},
        {"config_entry_id": ENTRY_ID, "node": "ha-0", "force": True},
    ]


def test_failure_and_missing_service(harness: Page) -> None:
    """A failure (not a refusal) offers no force; a missing service is said plainly."""
    scn = Scenario()
    card = mount(harness, scn)
    answer(harness, "home_assistant_error", "crm_resource exited 1")
    card.locator('.node[data-node="ha-1"] button[data-action="standby"]').click()
    dialog = card.locator("dialog.confirm")
    expect(dialog).to_contain_text("g_app keeps running on ha-0")
    expect(dialog.locator('[data-field="self-restart"]')).to_have_count(0)
    dialog.locator('button[data-action="confirm"]').click()
    expect(dialog.locator('[data-field="error"]')).to_contain_text("The action failed")
    expect(dialog.locator('[data-field="error"]')).to_contain_text("crm_resource exited 1")
    expect(dialog.locator('button[data-action="force"]')).to_have_count(0)
    dialog.locator('button[data-action="cancel"]').click()

    scn.services = {}
    card = mount(harness, scn)
    card.locator('button[data-action="failover"]').click()
    dialog.locator('button[data-action="confirm"]').click()
    expect(dialog.locator('[data-field="error"]')).to_contain_text(
        "has no pacemaker_drbd.failover action yet"
    )
    dialog.locator('button[data-action="cancel"]').click()


def test_home_assistant_moves_itself(harness: Page) -> None:
    """When the integration says Home Assistant runs in the group, the dialog says it restarts."""
    scn = Scenario()
    scn.set("sensor.ha_cluster_active_node", "ha-0", self_hosted=True, vips=["10.0.0.9"])
    card = mount(harness, scn)
    expect(card.locator('[data-field="vip"]')).to_have_text("VIP 10.0.0.9")
    card.locator('.node[data-node="ha-0"] button[data-action="standby"]').click()
    self_restart = card.locator('dialog.confirm [data-field="self-restart"]')
    expect(self_restart).to_contain_text("Home Assistant itself will restart on ha-1")
    # The call loses its connection because Home Assistant stops: that is the move, not a failure.
    answer(harness, "3", "Connection lost")
    harness.evaluate("() => { window.__answers[0].error.code = 3; }")
    card.locator('dialog.confirm button[data-action="confirm"]').click()
    expect(card.locator("dialog.confirm")).to_be_hidden()
    expect(card.locator('[data-field="pending"]')).to_contain_text(
        "Home Assistant is moving to the other node"
    )
    scn.set("sensor.ha_cluster_active_node", "ha-0", self_hosted=False)
    card = mount(harness, scn)
    card.locator('button[data-action="failover"]').click()
    expect(card.locator('dialog.confirm [data-field="self-restart"]')).to_have_count(0)
    card.locator('dialog.confirm button[data-action="cancel"]').click()


def test_banners_and_compact_mode(harness: Page) -> None:
    """Split brain, maintenance and a leftover constraint; compact mode keeps the essentials."""
    scn = Scenario()
    scn.set(
        "binary_sensor.ha_cluster_drbd_r0_split_brain",
        "on",
        nodes=["ha-0", "ha-1"],
        evidence=["ha-0: StandAlone", "split-brain helper called"],
    )
    scn.set("binary_sensor.ha_cluster_maintenance_mode", "on")
    scn.set(
        "binary_sensor.ha_cluster_move_constraint",
        "on",
        constraints=[
            {"id": "cli-prefer-g_app", "resource": "g_app", "node": "ha-1", "kind": "prefer"}
        ],
    )
    scn.set("binary_sensor.ha_cluster_quorum", "off")
    card = mount(harness, scn)
    banner = card.locator('[data-field="split-brain"]')
    expect(banner).to_contain_text("DRBD split brain between ha-0 and ha-1")
    expect(banner).to_contain_text("ha-0: StandAlone")
    expect(card.locator('[data-field="maintenance"]')).to_be_visible()
    expect(card.locator('[data-field="move-constraint"]')).to_contain_text("prefer g_app on ha-1")
    expect(card.locator('[data-field="quorum"]')).to_have_text("No quorum")

    card = mount(harness, Scenario(), compact=True, title="Lab")
    expect(card.locator("header h2")).to_have_text("Lab")
    expect(card.locator('[data-field="drbd-compact"]').first).to_have_text(
        "Primary · UpToDate · Connected"
    )
    expect(card.locator('[data-field="role"]')).to_have_count(0)
    height = card.locator("ha-card").bounding_box()
    assert height is not None
    assert height["height"] < 260


def test_picker_stub_config_and_editor(harness: Page) -> None:
    """In the card picker with a preview; the stub config picks the cluster; the editor edits."""
    mount(harness, Scenario())
    picker = harness.evaluate(
        "() => window.customCards.find((c) => c.type === 'pacemaker-drbd-card')"
    )
    assert picker["preview"] is True
    assert picker["name"] == "Pacemaker & DRBD cluster"
    stub = harness.evaluate(
        "() => customElements.get('pacemaker-drbd-card').getStubConfig(window.__hass)"
    )
    assert stub == {"entry_id": ENTRY_ID}
    changes = harness.evaluate(
        """async () => {
          const editor = customElements.get('pacemaker-drbd-card').getConfigElement();
          document.querySelector('.pd-test').appendChild(editor);
          const seen = [];
          editor.addEventListener('config-changed', (e) => seen.push(e.detail.config));
          editor.setConfig({ type: 'custom:pacemaker-drbd-card' });
          editor.hass = window.__hass;
          for (let i = 0; i < 50 && editor.shadowRoot.querySelectorAll('option').length < 2; i++) {
            await new Promise((r) => setTimeout(r, 50));
          }
          const select = editor.shadowRoot.querySelector('select[data-key="entry_id"]');
          select.value = select.options[1].value;
          select.dispatchEvent(new Event('change'));
          const compact = editor.shadowRoot.querySelector('input[data-key="compact"]');
          compact.checked = true;
          compact.dispatchEvent(new Event('change'));
          return { seen, options: [...select.options].map((o) => o.textContent) };
        }"""
    )
    assert changes["options"] == ["The first cluster", "ha_cluster"]
    assert changes["seen"] == [
        {"type": "custom:pacemaker-drbd-card", "entry_id": ENTRY_ID},
        {"type": "custom:pacemaker-drbd-card", "entry_id": ENTRY_ID, "compact": True},
    ]
