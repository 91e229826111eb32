"""The files of a compiled engine: generated sources plus the runtime kernels they call."""

from __future__ import annotations

from generator.compiler import CompiledModel
from generator.resources import runtime_dir


def runtime_files() -> dict[str, str]:
    rt = runtime_dir()
    files = {f"mcuf/{p.name}": p.read_text() for p in sorted((rt / "include").glob("*.h"))}
    files |= {f"mcuf/{p.name}": p.read_text() for p in sorted((rt / "src").glob("*.c"))}
    return files


def engine_tree(model: CompiledModel) -> dict[str, str | bytes]:
    tree: dict[str, str | bytes] = dict(model.engine.files())
    tree |= runtime_files()
    tree[f"{model.engine.prefix}.tflite"] = model.tflite
    return tree
