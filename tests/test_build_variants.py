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


NEEDS_BUILD_TOOLS = pytest.mark.skipif(
    any(shutil.which(t) is None and not Path(sys.executable).with_name(t).exists() for t in TOOLS)
    or not (ROOT / "cpp" / "tests").exists(), reason="needs cmake, ninja and the source tree")


@NEEDS_BUILD_TOOLS
@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("qemu-aarch64") is None
                    or not Path("/usr/lib/aarch64-linux-gnu/libz.so.1").exists(),
                    reason="needs Debian's g++-aarch64-linux-gnu, qemu-user and zlib1g:arm64 "
                           "(bash tools/aarch64_tests.sh installs them)")
def test_core_tests_on_the_host_and_on_aarch64_give_the_same_bits():
    # tools/aarch64_tests.sh builds cpp/tests/core_tests.cpp (the core alone, no Python) here
    # and for aarch64, runs both (the aarch64 one under QEMU) and requires the aarch64 digests
    # of draws, products and engine outputs to equal this machine's FMA-level digests.
    env = {**os.environ, "PYTHON": sys.executable,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", str(ROOT / "tools" / "aarch64_tests.sh")], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    lines = proc.stdout.splitlines()
    assert lines.count("0 failed") == 2  # the host run and the aarch64 run
