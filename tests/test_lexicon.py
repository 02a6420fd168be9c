"""The WordNet lexicon (visprog/iconworld/lexicon.py): the shipped table's readings, and the
rule that builds it, run on a small WordNet folder written here in WordNet's own format."""

from pathlib import Path

import pytest
import torch

from visprog.iconworld import catalog, lexicon


# ----------------------------------------------------------------------------- the shipped table


@pytest.mark.parametrize("text, read", [
    ("steed", "horse"), ("brolly", "umbrella"), ("omnibus", "bus"), ("canine", "dog"),
    ("a brown steed", "a brown horse"), ("two mallards", "two ducks"), ("Camelopards", "giraffes"),
    ("surgeon", "doctor"), ("dog", "dog"), ("police officers", "police officers"),
    ("teapot", "teapot"), ("hare", "hare"), ("wolf", "wolf"), ("left of the tree", "left of the tree"),
])
def test_read_as(text, read):
    assert lexicon.read_as(text) == read


def test_table_never_rewrites_a_catalogue_word():
    words = catalog.object_words()
    assert not words & set(lexicon.table())
    for name in catalog.all_names():
        assert lexicon.read_as(name) == name
        assert lexicon.read_as(catalog.plural_of(name)) == catalog.plural_of(name)


def test_table_carries_wordnet_licence():
    head = lexicon.TABLE.read_text(encoding="utf-8").splitlines()[:4]
    assert any("Princeton University" in line for line in head)


def test_text_embeddings_read_a_synonym_as_its_name():
    from visprog.models import load
    from visprog.models.detector import text_embeddings
    clip = load("clip")
    a, b = text_embeddings(clip, ["steed", "horse"])
    assert torch.allclose(a, b)


# ----------------------------------------------------------------------------- the rule, on a small WordNet


def _synset(offset, lex, words, hypernyms=(), instance=False):
    ptrs = [("@i" if instance else "@", h) for h in hypernyms]
    body = " ".join(f"{w} 0" for w in words)
    pointers = " ".join(f"{sym} {h} n 0000" for sym, h in ptrs)
    return f"{offset} {lex:02d} n {len(words):02x} {body} {len(ptrs):03d} {pointers} | gloss"


LEXNAMES = {3: "noun.Tops", 5: "noun.animal", 6: "noun.artifact", 10: "noun.communication", 18: "noun.person"}

SYNSETS = [  # offset, lexicographer file, lemmas, hypernyms, instance
    ("00000001", 3, ["entity"], [], False),
    ("00000002", 3, ["animal"], ["00000001"], False),
    ("00000003", 5, ["canine", "canid"], ["00000002"], False),
    ("00000004", 5, ["dog", "domestic_dog"], ["00000003"], False),
    ("00000005", 5, ["hound"], ["00000004"], False),
    ("00000006", 5, ["wolf"], ["00000003"], False),
    ("00000007", 3, ["person", "individual"], ["00000001"], False),
    ("00000008", 18, ["hound", "cad"], ["00000007"], False),  # the metaphor, listed first
    ("00000009", 18, ["Hound", "Baskerville_Hound"], ["00000004"], True),
    ("00000010", 10, ["dog"], ["00000001"], False),
    ("00000011", 18, ["doctor", "physician"], ["00000007"], False),
    ("00000012", 18, ["surgeon"], ["00000011"], False),
    ("00000013", 5, ["cat"], ["00000002"], False),
    ("00000014", 18, ["cat", "guy"], ["00000007"], False),
]

SENSES = {"entity": ["00000001"], "animal": ["00000002"], "canine": ["00000003"], "canid": ["00000003"],
          "dog": ["00000010", "00000004"], "domestic_dog": ["00000004"],
          "hound": ["00000008", "00000005", "00000009"], "wolf": ["00000006"],
          "person": ["00000007"], "individual": ["00000007"], "cad": ["00000008"],
          "baskerville_hound": ["00000009"], "doctor": ["00000011"], "physician": ["00000011"],
          "surgeon": ["00000012"], "cat": ["00000014", "00000013"], "guy": ["00000014"]}


@pytest.fixture
def small_wordnet(tmp_path) -> Path:
    (tmp_path / "lexnames").write_text("".join(f"{k:02d}\t{v}\t1\n" for k, v in LEXNAMES.items()))
    (tmp_path / "data.noun").write_text("  1 licence header\n" + "".join(
        _synset(*row) + "\n" for row in SYNSETS), encoding="latin-1")
    (tmp_path / "index.noun").write_text("  1 licence header\n")
    (tmp_path / "index.sense").write_text("".join(
        f"{lemma}%1:05:00:: {o} {k + 1} 0\n" for lemma, offs in SENSES.items() for k, o in enumerate(offs)))
    return tmp_path


def test_build_rule(small_wordnet):
    table = lexicon.build(small_wordnet)
    assert table["hound"] == "dog"             # a kind of dog; the person sense is a metaphor
    assert table["domestic dog"] == "dog"      # a synonym ('dog' itself is a catalogue word)
    assert table["canine"] == "dog"            # the one name below it
    assert table["surgeon"] == "doctor"        # the nearest name above it
    assert table["physician"] == "doctor"
    assert "wolf" not in table                 # a sister term, not a kind of dog
    assert table["cad"] == table["guy"] == "person"  # a kind of person ('cat, guy' is not a cat)
    assert "baskerville hound" not in table    # a proper noun
    assert "entity" not in table               # above more than one name


def test_build_writes_the_table(small_wordnet, tmp_path, monkeypatch):
    monkeypatch.setattr(lexicon, "TABLE", tmp_path / "table.tsv")
    assert lexicon.main([str(small_wordnet)]) == 0
    lexicon.table.cache_clear()
    try:
        assert lexicon.table()["hound"] == "dog"
        assert lexicon.read_as("three hounds") == "three dogs"
    finally:
        monkeypatch.undo()
        lexicon.table.cache_clear()


def test_build_refuses_a_folder_without_wordnet(tmp_path, capsys):
    assert lexicon.main([str(tmp_path)]) == 2
    assert "index.noun" in capsys.readouterr().err
