"""Every engine output, bit for bit, at every ISA level the CPU has (see engine_digests.py)."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys

import pytest

from gradatlas import _core

SCRIPT = pathlib.Path(__file__).with_name("engine_digests.py")
EXPECTED = json.loads(SCRIPT.with_suffix(".json").read_text())
LEVELS = {"avx512": 3, "avx2": 2, "generic": 1}


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="the generic digests are those of the x86-64 baseline (aarch64 fuses: see tools/)")
@pytest.mark.parametrize("isa", list(LEVELS))
def test_engine_outputs_keep_their_digests(isa):
    if LEVELS[isa] > LEVELS.get(_core.kernel_isa(), 1):
        pytest.skip(f"this CPU does not run the {isa} kernels")
    env = dict(os.environ, GRADATLAS_MAX_ISA=isa)
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["isa"] == isa
    expected = EXPECTED["generic" if isa == "generic" else "fma"]
    changed = sorted(k for k in expected if got["digests"].get(k) != expected[k])
    assert not changed, f"engine outputs changed at {isa}: {changed}"
    assert got["digests"].keys() == expected.keys()
