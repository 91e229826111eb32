"""What --force may replace, one writer at a time, and what killed runs leave behind.

In-process checks of :mod:`generator.output`, and the real CLI in subprocesses where processes matter:
two concurrent writers, a writer killed with SIGKILL. Hand-made models only (no TensorFlow).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import output
from generator.errors import OutputError
from tests.support import badgen

pytestmark = pytest.mark.unit

CLI = [sys.executable, "-m", "generator.cli"]
ROOT = Path(__file__).resolve().parents[1]
ENGINE = {output.ENGINE_MARKER: '{"mcuforge": "0.0"}\n', "model.c": "/* engine */\n"}


def digest(root: Path) -> dict[str, str]:
    """Every path under ``root`` (links not followed) with a digest of what it holds."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "/"
    return found


def siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def run(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=120,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "inputs" / "fc.tflite"
    path.parent.mkdir()
    path.write_bytes(badgen.fc_model((1, 64), 4).build())
    return path


# ---- what --force may replace --------------------------------------------------------------------------


def test_an_engine_or_project_folder_is_replaced(tmp_path: Path) -> None:
    for marker in output.MARKERS:
        out = tmp_path / marker
        output.write_tree(out, {marker: '{"mcuforge": "0.0"}\n', "old.c": "old\n"})
        output.write_tree(out, {**ENGINE, "new.c": "new\n"}, force=True)
        assert sorted(p.name for p in out.iterdir()) == sorted([*ENGINE, "new.c"])
        assert siblings(out) == []


def test_an_empty_folder_is_replaced_without_force(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    output.write_tree(out, ENGINE)
    assert sorted(p.name for p in out.iterdir()) == sorted(ENGINE)


@pytest.mark.parametrize("marker_text", [
    None, "not json", '["mcuforge"]', '{"generator": "other"}', '{"mcuforge": 1}'],
    ids=["none", "not-json", "a-list", "no-version", "version-not-text"])
def test_a_folder_without_a_real_marker_is_not_replaced(tmp_path: Path,
                                                        marker_text: str | None) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work\n")
    if marker_text is not None:
        (out / output.PROJECT_MARKER).write_text(marker_text)
    before = digest(out)
    with pytest.raises(OutputError, match="is not an mcuforge output") as err:
        output.write_tree(out, ENGINE, force=True)
    assert "mcuforge.json or mcuforge-engine.json" in err.value.message
    assert digest(out) == before and siblings(out) == []


@pytest.mark.parametrize("kind", ["link", "fifo", "directory"])
def test_a_marker_that_is_not_a_regular_file_does_not_count(tmp_path: Path, kind: str) -> None:
    out, real = tmp_path / "out", tmp_path / "real.json"
    out.mkdir()
    (out / "keep.txt").write_text("keep\n")
    real.write_text('{"mcuforge": "0.0"}\n')
    marker = out / output.ENGINE_MARKER
    if kind == "link":
        marker.symlink_to(real)
    elif kind == "fifo":
        os.mkfifo(marker)  # must be refused without being opened (that would block)
    else:
        marker.mkdir()
    with pytest.raises(OutputError, match="is not an mcuforge output"):
        output.check_target(out, force=True)
    assert (out / "keep.txt").read_text() == "keep\n"


def test_a_link_is_never_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real"
    output.write_tree(real, ENGINE)
    before = digest(real)
    for target in (real, tmp_path / "missing"):
        link = tmp_path / f"link-to-{target.name}"
        link.symlink_to(target)
        with pytest.raises(OutputError, match="is a symbolic link"):
            output.write_tree(link, {**ENGINE, "new.c": "x"}, force=True)
        assert link.is_symlink() and os.readlink(link) == str(target)
    assert digest(real) == before and not (tmp_path / "missing").exists()


def test_the_root_is_refused(tmp_path: Path) -> None:
    for force in (False, True):
        with pytest.raises(OutputError, match="is the root directory"):
            output.check_target(Path("/"), force)


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """A folder that holds an mcuforge marker, a model and a .git folder: replaceable as such."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / output.PROJECT_MARKER).write_text('{"mcuforge": "0.0"}\n')
    (folder / "model.tflite").write_bytes(b"model")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return folder


def test_home_and_its_ancestors_are_refused(marked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(marked))
    for target in (marked, marked.parent):
        with pytest.raises(OutputError, match="home directory"):
            output.check_target(target, force=True)


def test_the_current_folder_and_its_ancestors_are_refused(marked: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    inner = marked / "sub"
    inner.mkdir()
    monkeypatch.chdir(inner)
    for target in (Path("."), Path(".."), marked, Path("../sub")):
        with pytest.raises(OutputError, match="is or contains the current directory"):
            output.write_tree(target, ENGINE, force=True)
    assert (marked / ".git" / "HEAD").is_file() and (marked / "model.tflite").is_file()


def test_an_input_and_its_ancestors_are_refused(marked: Path) -> None:
    model = marked / "model.tflite"
    linked = marked.parent / "linked.tflite"
    linked.symlink_to(model)
    for given in (model, linked):  # an input given through a link protects the link's target too
        with pytest.raises(OutputError, match="is or contains the input"):
            output.write_tree(marked, ENGINE, force=True, inputs=[given])
    saved_model = marked / "saved"
    saved_model.mkdir()
    with pytest.raises(OutputError, match="is or contains the input"):
        output.check_target(saved_model, force=True, inputs=[saved_model])
    assert model.read_bytes() == b"model"


def test_write_files_never_replaces_an_input_or_a_folder(tmp_path: Path) -> None:
    model = tmp_path / "m.keras"
    model.write_bytes(b"the input")
    with pytest.raises(OutputError, match="is also an input"):
        output.write_files({model: output.content(b"pruned")}, inputs=[tmp_path / "." / "m.keras"])
    (tmp_path / "m.plan.json").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        output.write_files({tmp_path / "m.plan.json": output.content("{}")})
    assert model.read_bytes() == b"the input"


def test_write_files_does_not_write_through_a_planted_temporary_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for pid in range(os.getpid() - 2, os.getpid() + 3):  # the names the old scheme used
        (tmp_path / f".m.tmp-{pid}.json").symlink_to(victim)
    output.write_files({tmp_path / "m.json": output.content("{}")})
    assert victim.read_text() == "precious\n" and (tmp_path / "m.json").read_text() == "{}"


def test_parents_made_for_a_run_that_fails_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError), output.reserved(out):
        assert (tmp_path / "a" / "b").is_dir()
        raise RuntimeError("the compile failed")
    assert not (tmp_path / "a").exists()


def test_an_output_file_name_cannot_leave_the_tree(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="leaves the output directory"):
        output.write_tree(tmp_path / "out", {"../escaped.c": "x"})
    assert not (tmp_path / "escaped.c").exists() and not (tmp_path / "out").exists()


# ---- the lock, leftovers, and what the swap removes -----------------------------------------------------


def test_a_held_lock_refuses_a_second_writer_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output.reserved(out):
        fd = os.open(output.lock_path(out.resolve()), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        output.write_tree(out, ENGINE)  # the holder itself may write (re-entrant)
    assert siblings(out) == []


def test_a_lock_file_planted_as_a_link_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    output.lock_path(out).symlink_to(victim)
    with pytest.raises(OutputError, match="lock file of out is a symbolic link"):
        output.write_tree(out, ENGINE)
    assert victim.read_text() == "precious\n" and not out.exists()


def test_a_tree_set_aside_by_a_killed_run_is_put_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write_tree(out, {**ENGINE, "old.c": "old\n"})
    before = digest(out)
    aside = tmp_path / ".out.mcuforge-old-abcd1234"  # killed between the two renames of the swap
    os.replace(out, aside)
    with pytest.raises(OutputError, match="already exists and is not empty"):
        output.write_tree(out, ENGINE)
    assert digest(out) == before and siblings(out) == []
    output.write_tree(out, {**ENGINE, "new.c": "new\n"}, force=True)
    assert (out / "new.c").is_file() and siblings(out) == []


def test_only_mcuforge_leftovers_are_removed(tmp_path: Path) -> None:
    out, precious = tmp_path / "out", tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep\n")
    output.write_tree(out, ENGINE)
    staging = tmp_path / ".out.mcuforge-staging-x1y2z3w4"
    staging.mkdir()
    (staging / "half.c").write_text("half\n")
    planted = tmp_path / ".out.mcuforge-old-plant000"
    planted.symlink_to(precious)
    unrelated = [tmp_path / ".out.mine", tmp_path / ".out.mcuforge-staging-toolongname"]
    for folder in unrelated:
        folder.mkdir()
    output.write_tree(out, {**ENGINE, "new.c": "new\n"}, force=True)
    assert not staging.exists()
    assert planted.is_symlink() and (precious / "data").read_text() == "keep\n"
    assert all(folder.is_dir() for folder in unrelated)


def test_the_swap_removes_only_what_it_set_aside(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out, precious = tmp_path / "out", tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep\n")
    output.write_tree(out, ENGINE)
    real_replace = os.replace

    def out_becomes_a_link(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(src) == out.resolve() and ".mcuforge-old-" in Path(dst).name:
            os.rename(out, tmp_path / "moved")  # someone swaps a link in at the last moment
            out.symlink_to(precious)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", out_becomes_a_link)
    with pytest.raises(OutputError, match="writing failed"):  # a link cannot be set aside
        output.write_tree(out, {**ENGINE, "new.c": "new\n"}, force=True)
    assert (precious / "data").read_text() == "keep\n" and out.is_symlink()
    assert siblings(out) == []


# ---- real processes ---------------------------------------------------------------------------------------


@pytest.fixture
def slow_writer(model: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``mcuforge compile`` with slow writes, waited for until its staging folder holds files."""
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "compile", str(model), "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, output.SLOW_WRITE_ENV: "60"})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            staging = list(tmp_path.glob(".out.mcuforge-staging-*"))
            if staging and any(p.is_file() for p in staging[0].rglob("*")):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"no staging folder appeared (exit {proc.poll()}): {proc.stderr}")
        yield proc, out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def test_a_second_concurrent_writer_is_refused(slow_writer: tuple[subprocess.Popen[str], Path],
                                               model: Path) -> None:
    first, out = slow_writer
    for command in (["compile", str(model)],
                    ["generate", str(model), "--board", "qemu_mps2_an386", "--app", "sensor"]):
        second = run([*command, "-o", str(out), "--force"])
        assert second.returncode == 4, second.stderr
        assert f"{out}: another mcuforge run is writing it" in " ".join(second.stderr.split())
        assert "Traceback" not in second.stderr
    assert first.poll() is None  # the first run goes on, undisturbed
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=60) == 130
    assert not out.exists() and siblings(out) == []


def test_what_a_killed_run_left_is_removed_by_the_next(
        slow_writer: tuple[subprocess.Popen[str], Path], model: Path) -> None:
    first, out = slow_writer
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    left = siblings(out)
    assert any(".mcuforge-staging-" in name for name in left), left  # kill -9 cleans nothing up
    again = run(["compile", str(model), "-o", str(out)])
    assert again.returncode == 0, again.stderr
    assert siblings(out) == []
    marker = json.loads((out / output.ENGINE_MARKER).read_text())
    assert marker["kind"] == "engine" and "model.c" in marker["files"]


def test_dot_home_and_a_link_are_refused_by_the_cli(model: Path, tmp_path: Path) -> None:
    work = model.parent
    (work / ".git").mkdir()
    (work / ".git" / "HEAD").write_text("ref\n")
    (work / output.PROJECT_MARKER).write_text('{"mcuforge": "0.0"}\n')  # even a marked folder
    before = digest(tmp_path)
    res = run(["compile", "fc.tflite", "-o", ".", "--force"], cwd=work)
    assert res.returncode == 4 and "is or contains the current directory" in res.stderr, res.stderr
    res = run(["compile", str(model), "-o", str(work), "--force"], HOME=str(work))
    assert res.returncode == 4 and "home directory" in res.stderr, res.stderr
    (tmp_path / "link").symlink_to(work)
    res = run(["compile", str(model), "-o", str(tmp_path / "link"), "--force"])
    assert res.returncode == 4 and "is a symbolic link" in res.stderr, res.stderr
    res = run(["compile", str(model), "-o", "/", "--force"])
    assert res.returncode == 4 and "/: is the root directory" in res.stderr, res.stderr
    after = digest(tmp_path)
    after.pop("link")
    assert after == before


def test_a_long_output_name_gets_short_sibling_names(tmp_path: Path) -> None:
    out = tmp_path / ("n" * 250)  # a legal name; ".<name>.mcuforge-staging-XXXXXXXX" would not be
    output.write_tree(out, ENGINE)
    output.write_tree(out, {**ENGINE, "new.c": "new\n"}, force=True)
    assert (out / "new.c").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    assert len(output.lock_path(out).name) < 100


def test_what_compile_and_generate_wrote_is_replaced_with_force(tmp_path: Path) -> None:
    model = tmp_path / "kws.tflite"
    model.write_bytes(badgen.fc_model((1, 490), 4).build())
    out = tmp_path / "out"
    generate = ["generate", str(model), "--board", "qemu_mps2_an386", "--app", "kws", "-o", str(out)]
    for args in (["compile", str(model), "-o", str(out)], generate, generate):
        res = run([*args, "--force"])
        assert res.returncode == 0, res.stderr
        assert siblings(out) == []
    assert (out / output.PROJECT_MARKER).is_file() and not (out / output.ENGINE_MARKER).exists()


def test_an_unusable_path_is_an_output_error(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for path, why in ((tmp_path / "a\0b", "NUL"), (loop / "out", "cannot use this output path")):
        with pytest.raises(OutputError, match=why):
            output.write_tree(path, ENGINE)
