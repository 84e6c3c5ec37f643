"""gradatlas: exact maps of vanishing and exploding gradients in very deep networks.

>>> import gradatlas as ga
>>> spec = ga.MLP(depth=1000, width=256, activation="tanh", init="xavier_normal")
>>> ds = ga.simulate(spec, batch=16, seed=0)          # xarray.Dataset over `layer`
>>> ga.theory.chi1("tanh", sigma_w=1.3, sigma_b=0.2)  # mean-field prediction
>>> ga.simulate(ga.LSTM(steps=1000, width=256))       # over `step`, backprop through time
"""

from __future__ import annotations

# Load libscipy_openblas.so under its soname before the extension needs it, so
# that _core finds it whatever the install layout (see CMakeLists.txt).
import scipy_openblas32 as _scipy_openblas32  # noqa: F401

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "gradatlas' compiled core (gradatlas._core) could not be imported. Install the package "
        "with `pip install .` (or, for development, `pip install --no-build-isolation "
        "-Cbuild-dir=build -ve .`) rather than importing it from the source tree. "
        f"Original error: {exc}"
    ) from exc

from . import theory
from ._memory import TooLargeError
from ._parametrization import PARAMETRIZATIONS
from ._version import __version__
from .activations import ACTIVATIONS
from .definitions import LOSSES, QUANTITIES, RECURRENT_QUANTITIES, TRANSFORMER_QUANTITIES
from .initializers import INITS
from .simulate import materialize, simulate
from .specs import MLP
from .specs.convnet import CONV_INITS, ConvNet
from .specs.recurrent import GRU, LSTM, RECURRENT_INITS, RNN
from .specs.transformer import TRANSFORMER_INITS, Transformer
from .spectrum import jacobian_spectrum
from .store import StoreBusyError
from .sweep import open_results, plan_sweep, sweep
from .torch_export import to_torch
from .train import coord_check, train, train_sweep

has_openmp: bool = _core.has_openmp()


def max_threads() -> int:
    """The number of threads a run uses by default (OpenMP's maximum; 1 without OpenMP)."""
    return int(_core.max_threads())


def blas_config() -> str:
    """The OpenBLAS build and the CPU kernel it dispatched to (e.g. 'core=Haswell')."""
    return str(_core.blas_config())


def __getattr__(name: str) -> object:
    # gradatlas.plot needs matplotlib (an optional extra): import it on first use.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'gradatlas' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "CONV_INITS",
    "ConvNet",
    "GRU",
    "INITS",
    "LOSSES",
    "LSTM",
    "MLP",
    "PARAMETRIZATIONS",
    "QUANTITIES",
    "RECURRENT_INITS",
    "RECURRENT_QUANTITIES",
    "RNN",
    "StoreBusyError",
    "TRANSFORMER_INITS",
    "TRANSFORMER_QUANTITIES",
    "TooLargeError",
    "Transformer",
    "__version__",
    "blas_config",
    "coord_check",
    "has_openmp",
    "jacobian_spectrum",
    "materialize",
    "open_results",
    "max_threads",
    "plan_sweep",
    "plot",
    "simulate",
    "sweep",
    "theory",
    "to_torch",
    "train",
    "train_sweep",
]
