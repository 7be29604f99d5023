"""The models: every module that registers a model is imported here, so `build_model` (and a
checkpoint) can rebuild any of them."""

from . import cnn, dnabert2, huggingface, linear, sei  # noqa: F401  (they register their models)
from .registry import build_model, register_model  # noqa: F401
