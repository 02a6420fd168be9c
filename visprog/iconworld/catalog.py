"""The icon world's catalogue: object categories, characters, their groupings and colours.

A *category* is a kind of thing drawn from one or more OpenMoji glyphs ('dog',
'boat'); a *character* is a single person glyph with a role ('astronaut').
Both have a name (lower case, the key in their table) and a plural.

`resolve(word)` is the one place that says which names a word denotes: a name,
a plural, a supercategory ('farm animal', 'farm animals'), a knowledge phrase
('people in uniform') or a synonym ('puppy'). Synonyms never appear in
training captions; they are for zero-shot tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Category", "Character", "CATEGORIES", "CHARACTERS", "SUPERCATEGORIES",
           "SUPERCATEGORY_PLURALS", "KNOWLEDGE", "COLORS", "COLOR_SHADES", "resolve", "all_names",
           "plural_of", "is_character", "glyphs_of", "object_words"]


@dataclass(frozen=True)
class Category:
    name: str                           # 'dog'
    plural: str                         # 'dogs'
    glyphs: tuple[str, ...]             # ('🐕',)
    supercategories: tuple[str, ...]    # ('animal', 'pet', ...)
    synonyms: tuple[str, ...] = ()      # zero-shot words, never in training captions
    colorable: bool = True              # a hue shift still looks like the category
    variants: tuple[str, ...] = ()      # more glyphs of the same thing (see glyphs_of)


@dataclass(frozen=True)
class Character:
    name: str                           # 'astronaut'
    plural: str
    glyph: str                          # '🧑‍🚀'
    facts: tuple[str, ...]              # the KNOWLEDGE groups it belongs to
    variants: tuple[str, ...] = ()      # the woman and man forms of the glyph


def _cat(name, plural, glyphs, supers, synonyms=(), colorable=True) -> Category:
    return Category(name, plural, tuple(glyphs), tuple(supers), tuple(synonyms), colorable,
                    _VARIANTS.get(name, ()))


# More OpenMoji glyphs of a category: whole bodies of the same thing, not faces, and nothing
# that holds another category (the house with a garden has a tree). Kept apart from `glyphs`,
# which the 'classic' renderer and the shipped models use; the randomised styles draw both.
_VARIANTS = {
    "dog": ("🦮", "🐩", "🐕‍🦺"), "cat": ("🐈‍⬛",), "sheep": ("🐏",), "bird": ("🕊️", "🐦‍⬛"),
    "fish": ("🐠", "🐡"), "bear": ("🐻‍❄️",), "person": ("🧍‍♀️", "🧍‍♂️", "🚶‍♀️", "🚶‍♂️", "🏃"),
    "car": ("🚙", "🚘", "🏎️", "🚕"), "bus": ("🚍", "🚎"), "boat": ("🛥️", "⛴️", "🚢"),
    "airplane": ("🛩️",), "train": ("🚆", "🚄", "🚅"), "apple": ("🍏",), "cake": ("🍰",),
    "tree": ("🌲", "🌴"), "flower": ("🌸", "🌹", "🌺", "🌻", "🌼"), "umbrella": ("☔", "🌂"),
    "ball": ("🏀", "🏐"), "chair": ("💺",), "cup": ("🍵",),
}


# colorable: False where the colour is part of what the thing is (animals' coats, a
# banana's yellow, a tree's green, skin); True for made things and for flowers, birds,
# fish and butterflies, which come in every colour.
_CATEGORY_LIST = [
    _cat("dog", "dogs", ["🐕"], ["animal", "mammal", "pet"], ["puppy", "doggy", "hound", "canine"], False),
    _cat("cat", "cats", ["🐈"], ["animal", "mammal", "pet"], ["kitty", "kitten", "feline"], False),
    _cat("horse", "horses", ["🐎"], ["animal", "mammal", "farm animal"], ["pony", "stallion", "steed", "mare"], False),
    _cat("cow", "cows", ["🐄"], ["animal", "mammal", "farm animal"], ["cattle", "bovine", "heifer"], False),
    _cat("pig", "pigs", ["🐖"], ["animal", "mammal", "farm animal"], ["hog", "swine", "piggy"], False),
    _cat("sheep", "sheep", ["🐑"], ["animal", "mammal", "farm animal"], ["lamb", "ewe"], False),
    _cat("bird", "birds", ["🐦"], ["animal", "bird", "pet"], ["songbird", "birdie", "sparrow"], True),
    _cat("fish", "fish", ["🐟"], ["animal", "pet"], ["goldfish"], True),
    _cat("rabbit", "rabbits", ["🐇"], ["animal", "mammal", "pet"], ["bunny", "hare"], False),
    _cat("elephant", "elephants", ["🐘"], ["animal", "mammal", "wild animal"], ["pachyderm", "jumbo"], False),
    _cat("giraffe", "giraffes", ["🦒"], ["animal", "mammal", "wild animal"], ["camelopard"], False),
    _cat("turtle", "turtles", ["🐢"], ["animal", "reptile", "pet"], ["tortoise", "terrapin"], False),
    _cat("chicken", "chickens", ["🐓"], ["animal", "bird", "farm animal"], ["rooster", "hen", "cockerel"], False),
    _cat("duck", "ducks", ["🦆"], ["animal", "bird", "farm animal"], ["mallard", "duckling", "drake"], False),
    _cat("bear", "bears", ["🐻"], ["animal", "mammal", "wild animal"], ["grizzly", "bruin"], False),
    _cat("monkey", "monkeys", ["🐒"], ["animal", "mammal", "wild animal"], ["primate", "chimp", "ape"], False),
    _cat("butterfly", "butterflies", ["🦋"], ["animal", "insect", "wild animal"], ["moth"], True),
    _cat("snail", "snails", ["🐌"], ["animal", "wild animal"], ["gastropod", "escargot"], False),
    _cat("person", "people", ["🧍", "🚶"], ["person"], ["human", "pedestrian", "individual"], False),
    _cat("car", "cars", ["🚗"], ["vehicle", "road vehicle"], ["automobile", "auto", "sedan"], True),
    _cat("bus", "buses", ["🚌"], ["vehicle", "road vehicle"], ["coach", "autobus", "omnibus"], True),
    _cat("bicycle", "bicycles", ["🚲"], ["vehicle", "road vehicle"], ["bike", "cycle", "pushbike"], True),
    _cat("boat", "boats", ["⛵", "🚤", "🛶"], ["vehicle", "watercraft"], ["ship", "vessel", "dinghy"], True),
    _cat("airplane", "airplanes", ["✈️"], ["vehicle", "aircraft"], ["plane", "aircraft", "jet", "aeroplane"], True),
    _cat("train", "trains", ["🚂"], ["vehicle"], ["locomotive", "railway engine"], True),
    _cat("tractor", "tractors", ["🚜"], ["vehicle", "road vehicle"], ["farm vehicle"], True),
    _cat("scooter", "scooters", ["🛵"], ["vehicle", "road vehicle"], ["moped", "motor scooter", "vespa"], True),
    _cat("apple", "apples", ["🍎"], ["food", "fruit"], ["pippin"], True),
    _cat("banana", "bananas", ["🍌"], ["food", "fruit"], ["plantain"], False),
    _cat("pizza", "pizzas", ["🍕"], ["food", "fast food"], ["pizza slice"], False),
    _cat("cake", "cakes", ["🎂"], ["food", "dessert"], ["birthday cake", "gateau", "torte"], True),
    _cat("donut", "donuts", ["🍩"], ["food", "dessert"], ["doughnut", "cruller"], True),
    _cat("carrot", "carrots", ["🥕"], ["food", "vegetable"], ["root vegetable"], False),
    _cat("tree", "trees", ["🌳"], ["plant"], ["oak", "deciduous tree"], False),
    _cat("flower", "flowers", ["🌷"], ["plant"], ["tulip", "blossom", "bloom"], True),
    _cat("house", "houses", ["🏠"], ["building"], ["home", "cottage", "dwelling"], True),
    _cat("umbrella", "umbrellas", ["☂️"], ["accessory"], ["parasol", "brolly"], True),
    _cat("ball", "balls", ["⚽"], ["toy", "sports equipment"], ["football", "soccer ball"], True),
    _cat("chair", "chairs", ["🪑"], ["furniture"], ["seat", "stool"], True),
    _cat("cup", "cups", ["☕"], ["tableware"], ["mug", "teacup", "coffee cup"], True),
]

CATEGORIES: dict[str, Category] = {c.name: c for c in _CATEGORY_LIST}

SUPERCATEGORY_PLURALS: dict[str, str] = {
    "animal": "animals", "mammal": "mammals", "pet": "pets", "farm animal": "farm animals",
    "wild animal": "wild animals", "bird": "birds", "reptile": "reptiles", "insect": "insects",
    "person": "people", "vehicle": "vehicles", "road vehicle": "road vehicles",
    "watercraft": "watercraft", "aircraft": "aircraft", "food": "foods", "fruit": "fruits",
    "vegetable": "vegetables", "dessert": "desserts", "fast food": "fast food",
    "plant": "plants", "building": "buildings", "accessory": "accessories", "toy": "toys",
    "sports equipment": "sports equipment", "furniture": "furniture", "tableware": "tableware",
}

SUPERCATEGORIES: dict[str, tuple[str, ...]] = {
    s: tuple(c.name for c in _CATEGORY_LIST if s in c.supercategories) for s in SUPERCATEGORY_PLURALS
}

# name, plural, glyph, facts (KNOWLEDGE keys)
_CHARACTER_LIST = [
    ("astronaut", "astronauts", "🧑‍🚀",
     ["people in uniform", "people who work in space", "people who wear helmets", "workers"]),
    ("police officer", "police officers", "👮",
     ["people in uniform", "emergency workers", "crime fighters", "workers"]),
    ("cook", "cooks", "🧑‍🍳",
     ["people who work with food", "people who work in kitchens", "workers"]),
    ("firefighter", "firefighters", "🧑‍🚒",
     ["people in uniform", "emergency workers", "people who wear helmets", "workers"]),
    ("doctor", "doctors", "🧑‍⚕️",
     ["emergency workers", "people who work in hospitals", "workers"]),
    ("farmer", "farmers", "🧑‍🌾",
     ["people who work with food", "people who work outdoors", "people who work with animals", "workers"]),
    ("construction worker", "construction workers", "👷",
     ["people who wear helmets", "people who work outdoors", "workers"]),
    ("guard", "guards", "💂",
     ["people in uniform", "people who work outdoors", "workers"]),
    ("detective", "detectives", "🕵️",
     ["crime fighters", "workers"]),
    ("mage", "mages", "🧙",
     ["fairy-tale characters", "fantasy characters", "magical beings", "fictional characters"]),
    ("fairy", "fairies", "🧚",
     ["fairy-tale characters", "fantasy characters", "magical beings", "characters with wings",
      "fictional characters"]),
    ("elf", "elves", "🧝",
     ["fairy-tale characters", "fantasy characters", "magical beings", "fictional characters"]),
    ("genie", "genies", "🧞",
     ["fairy-tale characters", "fantasy characters", "magical beings", "fictional characters"]),
    ("merperson", "merpeople", "🧜",
     ["fairy-tale characters", "fantasy characters", "magical beings", "fictional characters"]),
    ("princess", "princesses", "👸",
     ["fairy-tale characters", "royalty", "people who wear crowns"]),
    ("prince", "princes", "🤴",
     ["fairy-tale characters", "royalty", "people who wear crowns"]),
    ("vampire", "vampires", "🧛",
     ["monsters", "undead creatures", "fantasy characters", "fictional characters"]),
    ("zombie", "zombies", "🧟",
     ["monsters", "undead creatures", "fantasy characters", "fictional characters"]),
    ("superhero", "superheroes", "🦸",
     ["crime fighters", "comic book characters", "fictional characters"]),
    ("supervillain", "supervillains", "🦹",
     ["comic book characters", "villains", "fictional characters"]),
    ("ninja", "ninjas", "🥷",
     ["warriors", "people who wear masks"]),
    ("santa claus", "santa clauses", "🎅",
     ["christmas characters", "fictional characters"]),
    ("mrs claus", "mrs clauses", "🤶",
     ["christmas characters", "fictional characters"]),
]

# characters OpenMoji also draws as a woman and as a man (the ZWJ forms of the glyph)
_GENDERED = ("astronaut", "police officer", "cook", "firefighter", "doctor", "farmer",
             "construction worker", "guard", "detective", "mage", "fairy", "elf", "genie",
             "merperson", "vampire", "zombie", "superhero", "supervillain")
_PERSON = "\U0001F9D1\u200d"  # the gender-neutral 🧑 that starts some character sequences


def _gendered(glyph: str) -> tuple[str, ...]:
    """'🧑‍🚀' -> ('👩‍🚀', '👨‍🚀'); '👮' -> ('👮‍♀️', '👮‍♂️')."""
    if glyph.startswith(_PERSON):
        rest = glyph[len(_PERSON):]
        return ("\U0001F469\u200d" + rest, "\U0001F468\u200d" + rest)
    return tuple(glyph + "\u200d" + sign + "\ufe0f" for sign in ("\u2640", "\u2642"))


CHARACTERS: dict[str, Character] = {
    n: Character(n, p, g, tuple(f), _gendered(g) if n in _GENDERED else ())
    for n, p, g, f in _CHARACTER_LIST}

# Knowledge queries (plural natural phrasing) -> member names. Character facts are added below.
_KNOWLEDGE_BASE: dict[str, tuple[str, ...]] = {
    "animals": SUPERCATEGORIES["animal"],
    "mammals": SUPERCATEGORIES["mammal"],
    "farm animals": SUPERCATEGORIES["farm animal"],
    "wild animals": SUPERCATEGORIES["wild animal"],
    "pets": SUPERCATEGORIES["pet"],
    "birds": SUPERCATEGORIES["bird"],
    "african animals": ("elephant", "giraffe"),
    "animals that can swim": ("fish", "duck", "turtle"),
    "animals with four legs": ("dog", "cat", "horse", "cow", "pig", "sheep", "rabbit", "elephant",
                               "giraffe", "bear", "turtle"),
    "animals that give milk": ("cow", "sheep"),
    "things that can fly": ("bird", "butterfly", "airplane", "duck"),
    "vehicles": SUPERCATEGORIES["vehicle"],
    "things with wheels": ("car", "bus", "bicycle", "train", "tractor", "scooter"),
    "things that float": ("boat", "duck"),
    "public transport": ("bus", "train"),
    "things you can ride": ("horse", "bicycle", "scooter", "bus", "train", "boat"),
    "foods": SUPERCATEGORIES["food"],
    "fruits": SUPERCATEGORIES["fruit"],
    "vegetables": SUPERCATEGORIES["vegetable"],
    "desserts": SUPERCATEGORIES["dessert"],
    "sweet foods": ("cake", "donut", "apple", "banana"),
    "healthy foods": ("apple", "banana", "carrot"),
    "plants": SUPERCATEGORIES["plant"],
    "things that grow": SUPERCATEGORIES["plant"] + ("apple", "banana", "carrot"),
    "people": ("person",) + tuple(CHARACTERS),
}


def _build_knowledge() -> dict[str, tuple[str, ...]]:
    out = {k: tuple(v) for k, v in _KNOWLEDGE_BASE.items()}
    for ch in CHARACTERS.values():
        for fact in ch.facts:
            if ch.name not in out.get(fact, ()):
                out[fact] = out.get(fact, ()) + (ch.name,)
    return out


KNOWLEDGE: dict[str, tuple[str, ...]] = _build_knowledge()

# Colour names for 'dominant colour', with a canonical RGB each.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (210, 47, 39),
    "orange": (244, 140, 50),
    "yellow": (252, 234, 43),
    "green": (92, 158, 49),
    "blue": (30, 80, 160),
    "purple": (137, 103, 170),
    "pink": (240, 130, 170),
    "brown": (140, 90, 45),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (155, 155, 154),
}

# More shades per colour name, used (with COLORS) as prototypes when naming a pixel's
# colour; the OpenMoji palette's light and dark variants are here.
COLOR_SHADES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "red": ((234, 90, 71), (170, 30, 30), (255, 60, 60)),
    "orange": ((244, 170, 65), (226, 112, 34), (255, 165, 0)),
    "yellow": ((241, 179, 28), (255, 240, 120), (230, 220, 60)),
    "green": ((177, 204, 51), (50, 120, 40), (120, 220, 120), (30, 180, 90), (0, 128, 80)),
    "blue": ((146, 211, 245), (97, 178, 228), (60, 120, 230), (20, 40, 120), (0, 180, 220),
             (40, 190, 240)),
    "purple": ((179, 153, 200), (100, 60, 160), (160, 80, 200), (200, 100, 220)),
    "pink": ((255, 167, 192), (230, 122, 148), (250, 200, 220), (255, 90, 170), (215, 70, 140)),
    "brown": ((165, 121, 57), (106, 70, 47), (193, 154, 101), (222, 184, 146), (120, 80, 60)),
    "black": ((30, 30, 30), (50, 50, 55), (63, 63, 63)),
    "white": ((245, 245, 245), (250, 235, 225)),
    "gray": ((208, 207, 206), (110, 110, 110), (185, 185, 190), (140, 140, 140)),
}

_ARTICLES = re.compile(r"^(a|an|the|some|all|any)\s+")


def _norm(word: str) -> str:
    word = word.lower().strip().replace("_", " ")
    word = re.sub(r"\s+", " ", word)
    word = _ARTICLES.sub("", word)
    return word.replace(".", "").replace("\u2019", "'")


@lru_cache(maxsize=1)
def _index() -> dict[str, frozenset[str]]:
    idx: dict[str, set[str]] = {}

    def add(word: str, names) -> None:
        idx.setdefault(_norm(word), set()).update(names)

    for c in CATEGORIES.values():
        add(c.name, [c.name])
        add(c.plural, [c.name])
        for s in c.synonyms:
            add(s, [c.name])
            add(_pluralize(s), [c.name])
    for ch in CHARACTERS.values():
        add(ch.name, [ch.name])
        add(ch.plural, [ch.name])
    for sup, members in SUPERCATEGORIES.items():
        add(sup, members)
        add(SUPERCATEGORY_PLURALS[sup], members)
    for phrase, members in KNOWLEDGE.items():
        add(phrase, members)
    # a person is any person: the plain 'person' category and every character
    add("person", KNOWLEDGE["people"])
    add("persons", KNOWLEDGE["people"])
    add("santa", ["santa claus"])
    add("father christmas", ["santa claus"])
    add("wizard", ["mage"])  # the CLDR name's own synonym, kept for characters
    add("wizards", ["mage"])
    add("chef", ["cook"])
    add("chefs", ["cook"])
    add("police", ["police officer"])
    add("policeman", ["police officer"])
    add("mermaid", ["merperson"])
    add("mermaids", ["merperson"])
    add("fireman", ["firefighter"])
    add("firemen", ["firefighter"])
    return {k: frozenset(v) for k, v in idx.items()}


def _pluralize(word: str) -> str:
    if word.endswith(("s", "x", "sh", "ch")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def resolve(word: str) -> frozenset[str]:
    """The category and character names `word` denotes (case-insensitive); empty when unknown.

    'dog' and 'dogs' -> {'dog'}; 'farm animals' -> {'cow', 'pig', ...}; 'puppy' -> {'dog'};
    'people in uniform' -> {'astronaut', 'police officer', ...}; 'bird' -> {'bird', 'chicken', 'duck'}.
    """
    if not isinstance(word, str):
        return frozenset()
    key = _norm(word)
    idx = _index()
    if key in idx:
        return idx[key]
    alt = key.replace("-", " ")
    if alt in idx:
        return idx[alt]
    alt = alt.replace(" ", "")
    for k, v in idx.items():
        if k.replace(" ", "").replace("-", "") == alt:
            return v
    return frozenset()


def all_names() -> list[str]:
    """Every category name, then every character name."""
    return list(CATEGORIES) + list(CHARACTERS)


@lru_cache(maxsize=1)
def object_words() -> frozenset[str]:
    """Every word the catalogue names objects with: its names, supercategories and colours,
    and their plurals. The training captions use these (a synonym such as 'puppy' is not
    one: the models read it zero-shot), and the WordNet reading never rewrites them."""
    phrases = all_names() + list(SUPERCATEGORIES) + list(COLORS)
    phrases += [plural_of(n) for n in all_names()] + list(SUPERCATEGORY_PLURALS.values())
    return frozenset(w for p in phrases for w in p.lower().split())


def is_character(name: str) -> bool:
    return name in CHARACTERS


def plural_of(name: str) -> str:
    if name in CATEGORIES:
        return CATEGORIES[name].plural
    if name in CHARACTERS:
        return CHARACTERS[name].plural
    return SUPERCATEGORY_PLURALS.get(name, _pluralize(name))


def glyphs_of(name: str, variants: bool = False) -> tuple[str, ...]:
    """The glyphs a category or character is drawn with (and, with `variants`, its other
    OpenMoji glyphs); KeyError-free: () when unknown."""
    if name in CATEGORIES:
        c = CATEGORIES[name]
        return c.glyphs + c.variants if variants else c.glyphs
    if name in CHARACTERS:
        ch = CHARACTERS[name]
        return (ch.glyph,) + ch.variants if variants else (ch.glyph,)
    return ()
