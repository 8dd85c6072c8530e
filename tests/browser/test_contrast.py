"""Colour contrast checked from web/app.css itself, not only what axe sees on the states it visits.

The stylesheet names every colour by role in :root (--text-*, --surface-*, --fill-*, --on-fill,
--ui-*, --deco-*) and its rules use only those variables, so hover, focus, disabled and status
colours are all held to WCAG 2.2 AA here: text 4.5:1, focus indicators and field borders 3:1.
"""
import re
from itertools import product
from pathlib import Path

CSS = re.sub(r"/\*.*?\*/", "", (Path(__file__).resolve().parents[2] / "web" / "app.css").read_text(), flags=re.S)
RULES = [(sel.strip(), body) for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", CSS)]
COLOUR_PROPS = re.compile(r"^(color|background(-color)?|border(-(top|right|bottom|left))?(-color)?|outline(-color)?|fill|stroke)$")
ROLES = ("--text-", "--surface", "--fill-", "--on-fill", "--ui-", "--deco-")
TEXT, UI = 4.5, 3.0


def declarations(body: str):
    for decl in body.split(";"):
        if ":" in decl:
            prop, value = decl.split(":", 1)
            yield prop.strip(), value.strip()


PROPS = {prop: value for sel, body in RULES if sel == ":root" for prop, value in declarations(body) if prop.startswith("--")}


def role(prefix: str) -> dict[str, str]:
    return {name: value for name, value in PROPS.items() if name == prefix or name.startswith(prefix + "-")}


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    h = "".join(c * 2 for c in h) if len(h) == 3 else h
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def failures(fronts: dict, backs: dict, minimum: float) -> list[str]:
    return [f"{f} on {b}: {contrast(fv, bv):.2f}" for (f, fv), (b, bv) in product(fronts.items(), backs.items())
            if contrast(fv, bv) < minimum]


def test_the_roles_are_there_and_opaque():
    for prefix in ("--text", "--surface", "--fill", "--on-fill", "--ui"):
        colours = role(prefix)
        assert colours, prefix
        assert all(re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}", v) for v in colours.values()), colours


def test_every_text_colour_reads_on_every_surface():
    assert failures(role("--text"), role("--surface"), TEXT) == []


def test_text_on_fills_reads():
    assert failures(role("--on-fill"), role("--fill"), TEXT) == []


def test_focus_ring_and_field_borders_stand_out_from_every_surface():
    assert failures(role("--ui"), role("--surface"), UI) == []


def test_rules_use_role_variables_only():
    """No literal colour in a rule, and each variable used is a defined role: nothing escapes the checks above."""
    wrong = []
    for sel, body in RULES:
        if sel == ":root":
            continue
        for prop, value in declarations(body):
            if prop.startswith("--"):
                wrong.append(f"{sel}: {prop} (define colours in :root)")
            if not COLOUR_PROPS.match(prop):
                continue
            if re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(|\b(white|black)\b", value):
                wrong.append(f"{sel}: {prop}: {value}")
            for name in re.findall(r"var\((--[\w-]+)\)", value):
                if name not in PROPS or not name.startswith(ROLES):
                    wrong.append(f"{sel}: {prop}: {name}")
    assert wrong == []


def test_text_and_its_background_come_from_matching_roles():
    """A rule that sets both pairs text with a surface, or on-fill with a fill: pairs the role checks cover."""
    wrong = []
    for sel, body in RULES:
        decl = dict(declarations(body))
        fg = re.fullmatch(r"var\((--[\w-]+)\)", decl.get("color", ""))
        bg = re.fullmatch(r"var\((--[\w-]+)\)", decl.get("background", decl.get("background-color", "")))
        if fg and bg:
            pair = (fg[1], bg[1])
            if not ((pair[0].startswith("--text-") and pair[1].startswith("--surface"))
                    or (pair[0] == "--on-fill" and pair[1].startswith("--fill-"))):
                wrong.append(f"{sel}: {pair}")
    assert wrong == []


def test_nothing_fades_text_below_its_contrast():
    """Opacity would lower every contrast above; only the drag placeholder and the live dot's pulse use it."""
    faded = [sel for sel, body in RULES for prop, value in declarations(body) if prop == "opacity" and float(value) < 1]
    assert sorted(faded) == [".card-ghost", "50%"], faded
