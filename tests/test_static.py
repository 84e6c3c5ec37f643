"""Static checks that keep the package honest: the stub matches the module, types and lint are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_stub_matches_the_compiled_module():
    pytest.importorskip("mypy")
    proc = run(sys.executable, "-m", "mypy.stubtest", "gradatlas._core",
               "--allowlist", str(ROOT / "tests" / "stubtest_allowlist.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_type_checks():
    pytest.importorskip("mypy")
    proc = run(sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("ruff") is None and not Path(sys.executable).with_name("ruff").exists(),
                    reason="ruff is not installed")
def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    proc = run(ruff, "check", "python", "tests", "benchmarks", "examples")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _clang_format() -> str | None:
    return shutil.which("clang-format") or (
        str(Path(sys.executable).with_name("clang-format"))
        if Path(sys.executable).with_name("clang-format").exists() else None)


@pytest.mark.skipif(_clang_format() is None, reason="clang-format is not installed")
def test_cpp_is_clang_formatted():
    sources = sorted(str(p) for p in (ROOT / "cpp").rglob("*") if p.suffix in {".cpp", ".hpp"})
    proc = run(_clang_format(), "--dry-run", "-Werror", *sources)
    assert proc.returncode == 0, proc.stderr[-3000:]
