"""Packaging and architecture: installs as edgeseg.*, runtime never imports torch or other edgeseg parts."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("runtime", "trainer", "converters", "calibration", "devices", "facade")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_runtime_depends_on_nothing_else_of_edgeseg_and_never_on_torch():
    offenders = []
    for path in (ROOT / "runtime").rglob("*.py"):
        for mod in imported_modules(path):
            top = mod.split(".")[0]
            if top == "torch" or top in COMPONENTS or (mod.startswith("edgeseg") and not mod.startswith("edgeseg.runtime")):
                offenders.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not offenders, offenders


def test_no_bare_component_imports_anywhere():
    offenders = [f"{p.relative_to(ROOT)} imports {m}"
                 for comp in (*COMPONENTS, "facade", "tests", "bench") for p in (ROOT / comp).rglob("*.py")
                 for m in imported_modules(p) if m.split(".")[0] in COMPONENTS]
    assert not offenders, offenders


RUNTIME_PROBE = r"""
import sys, time
t0 = time.perf_counter()
import edgeseg.runtime as rt
elapsed = time.perf_counter() - t0
import numpy as np
from edgeseg.runtime.letterbox import letterbox
from edgeseg.runtime.postprocess import PostprocessConfig, postprocess
img = np.zeros((240, 320, 3), np.uint8)
_, info = letterbox(img, 320)
rng = np.random.default_rng(0)
raw = {"boxes": np.tile(np.array([[[10, 10, 100, 100]]], np.float32), (1, 50, 1)),
       "scores": rng.random((1, 50, 3)).astype(np.float32),
       "mask_coeffs": rng.normal(size=(1, 50, 32)).astype(np.float32),
       "protos": rng.normal(size=(1, 32, 80, 80)).astype(np.float32)}
res = postprocess(raw, [info], {0: "a", 1: "b", 2: "c"}, PostprocessConfig(conf=0.1, drop_empty=False))
assert len(res[0]) > 0
bad = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.") or m.startswith("edgeseg.trainer"))
print(f"IMPORT_S={elapsed:.3f} BAD={bad}")
"""


def test_runtime_runs_without_importing_torch():
    out = subprocess.run([sys.executable, "-c", RUNTIME_PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "BAD=[]" in out.stdout, out.stdout
    print(out.stdout.strip())  # import time is a benchmark figure, reported here for the record


def test_front_door_import_is_lazy():
    code = "import sys, edgeseg; print('torch' in sys.modules, edgeseg.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[0] == "False", out.stdout + out.stderr


def test_installed_package_imports(tmp_path):
    """A regular (non-editable) install maps the top-level folders into the edgeseg namespace."""
    import shutil

    source = tmp_path / "src"  # a clean copy: a build never writes into (or picks stale files from) the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__",
                                                                  "runs", "demo-output", ".pytest_cache"))
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--target", str(target), str(source)]
    built = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    assert not (target / "runtime").exists() and not (target / "trainer").exists()
    code = ("import edgeseg, edgeseg.runtime, edgeseg.trainer, edgeseg.converters, edgeseg.calibration, edgeseg.devices, "
            "edgeseg.runtime.backends, edgeseg.trainer.nn; from edgeseg.devices.profiles import profile_names; "
            "assert len(profile_names()) >= 10, profile_names(); print(edgeseg.runtime.__file__)")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target)), out.stdout


@pytest.mark.parametrize("extra", ["train", "onnx", "openvino", "tflite", "ncnn", "coreml", "export", "dev"])
def test_extras_are_declared(extra):
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert extra in meta["optional-dependencies"]
    assert not any(dep.startswith(("torch", "torchvision")) for dep in meta["dependencies"])
    assert not any("torchvision" in d for deps in meta["optional-dependencies"].values() for d in deps)


def test_repository_root_does_not_shadow_an_installed_package():
    """No folder at the root is named like an importable top-level package (edgeseg, runtime, ...), so running
    python from a checkout never hides the installed edgeseg."""
    assert not (ROOT / "edgeseg").exists()
