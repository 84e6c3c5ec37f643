"""The serial build (GRADATLAS_OPENMP=OFF) builds and passes the core tests.

Runs tools/variant_tests.sh, which builds the extension without OpenMP in
build/no-openmp and tests it in a virtual environment of its own (about a
minute). Skipped where the build tools are not installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("cmake", "ninja")


@pytest.mark.skipif(any(shutil.which(t) is None and not Path(sys.executable).with_name(t).exists() for t in TOOLS)
                    or importlib.util.find_spec("pybind11") is None
                    or not (ROOT / "tools" / "variant_tests.sh").exists(),
                    reason="needs cmake, ninja, pybind11 and the source tree")
def test_serial_build_passes_the_core_tests():
    env = {**os.environ, "PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", str(ROOT / "tools" / "variant_tests.sh"), "no-openmp", "-x"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "no-openmp build: has_openmp = False" in proc.stdout
    assert " passed" in proc.stdout.splitlines()[-1]
