"""Where the data that ships with mcuforge lives: templates/, boards/ and the C runtime.

In a wheel, templates/ and boards/ are carried inside the package as ``generator/_data``; in a source
checkout (editable install) they are the top-level folders beside the package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    packaged = PACKAGE_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / name


def templates_dir() -> Path:
    return _data_dir("templates")


def boards_dir() -> Path:
    return _data_dir("boards")


def runtime_dir() -> Path:
    """The portable C kernels: ``include/`` and ``src/``."""
    return PACKAGE_DIR / "runtime"
