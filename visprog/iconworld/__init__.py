"""The icon world: scenes drawn from OpenMoji glyphs, with exact annotations.

`catalog` holds what can appear (categories, characters, groupings, colours) and
`resolve(word)`, which says what a word denotes; `render` draws scenes and
annotates them (`render`, `random_scene`, `sample_placements`, `save_png`,
`scene_of`); `styles` says what a random scene randomises ('classic', 'train', and
'unseen', kept out of training, drawn by `unseen`); `colors` names the colour of pixels.
Tasks, datasets and the oracle backend build on these.
"""

from .catalog import (CATEGORIES, CHARACTERS, COLORS, KNOWLEDGE, SUPERCATEGORIES, Category,
                      Character, all_names, resolve)
from .render import (BACKGROUNDS, IconWorldError, Placement, Scene, SceneObject, random_scene,
                     render, sample_placements, save_png, scene_of)
from .styles import STYLES, Style, get_style

__all__ = ["Category", "Character", "CATEGORIES", "CHARACTERS", "SUPERCATEGORIES", "KNOWLEDGE",
           "COLORS", "resolve", "all_names", "SceneObject", "Placement", "Scene",
           "sample_placements", "render", "random_scene", "save_png", "scene_of", "BACKGROUNDS",
           "IconWorldError", "Style", "STYLES", "get_style"]
