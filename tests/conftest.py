import sys
from pathlib import Path

# Let tests import helpers that live beside them (e.g. the Vqa test double).
sys.path.insert(0, str(Path(__file__).resolve().parent))
