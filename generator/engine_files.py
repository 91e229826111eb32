"""The files of a compiled engine: generated sources plus the runtime kernels they call."""

from __future__ import annotations

from generator import __version__
from generator.compiler import CompiledModel
from generator.output import ENGINE_MARKER, engine_marker
from generator.resources import runtime_dir


def runtime_files() -> dict[str, str]:
    rt = runtime_dir()
    files = {f"mcuf/{p.name}": p.read_text() for p in sorted((rt / "include").glob("*.h"))}
    files |= {f"mcuf/{p.name}": p.read_text() for p in sorted((rt / "src").glob("*.c"))}
    return files


def engine_tree(model: CompiledModel) -> dict[str, str | bytes]:
    """What ``mcuforge compile`` writes: the engine, the kernels, the int8 ``.tflite`` and the
    ``mcuforge-engine.json`` marker (version and file digests) that lets ``--force`` replace it."""
    tree: dict[str, str | bytes] = dict(model.engine.files())
    tree |= runtime_files()
    tree[f"{model.engine.prefix}.tflite"] = model.tflite
    tree[ENGINE_MARKER] = engine_marker(__version__, tree)
    return tree
