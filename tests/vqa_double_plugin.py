"""The Vqa test double as a CLI plugin: `visprog --plugin tests/vqa_double_plugin.py exec ...`
adds backend "double" to the default registry of that (child) process. Tests in this
process use `vqa_double.with_double(registry.copy())` instead."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from visprog.tools import registry  # noqa: E402
from vqa_double import with_double  # noqa: E402

with_double(registry)
