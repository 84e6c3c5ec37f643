"""Network specifications: validated, immutable descriptions of what to simulate.

One module per family, all on the field protocol of ``base`` (each field
declared once with its type, default and check; its help is its docstring
entry): ``mlp`` (MLP), ``recurrent`` (RNN, LSTM, GRU), ``convnet`` (ConvNet),
``transformer`` (Transformer). How a family runs, groups and becomes a
Dataset is its ``gradatlas.kinds.Kind``.
"""

from .convnet import CONV_INITS, ConvNet
from .mlp import MAX_DEPTH, MAX_WIDTH, MLP, NORMS
from .recurrent import GRU, LSTM, RECURRENT_INITS, RNN
from .transformer import TRANSFORMER_INITS, Transformer

__all__ = ["CONV_INITS", "GRU", "LSTM", "MAX_DEPTH", "MAX_WIDTH", "MLP", "NORMS", "RECURRENT_INITS", "RNN",
           "TRANSFORMER_INITS", "ConvNet", "Transformer"]
