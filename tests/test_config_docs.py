"""Every leaf key of config.schema.yaml carries a description (issue #31).

An entry with ``properties`` is a section and is walked into; every other entry is a leaf,
which needs a non-empty ``description`` string.
"""

from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parent.parent / "config.schema.yaml"


def _undescribed(properties, prefix=""):
    """Dotted names of the leaves under ``properties`` without a non-empty description."""
    missing = []
    for name, entry in properties.items():
        key = f"{prefix}{name}"
        if isinstance(entry, dict) and "properties" in entry:
            missing += _undescribed(entry["properties"], f"{key}.")
        elif not (isinstance(entry, dict) and str(entry.get("description") or "").strip()):
            missing.append(key)
    return missing


def test_every_config_key_has_a_description():
    schema = yaml.safe_load(SCHEMA.read_text())
    missing = _undescribed(schema["properties"])
    assert not missing, f"config.schema.yaml keys without a description: {', '.join(missing)}"
