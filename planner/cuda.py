"""CUDA backend status. The CPU build reports it as unavailable."""

from . import _core

__all__ = ["is_available"]


def is_available() -> bool:
    """True when the CUDA backend was compiled in and a GPU is present."""
    return bool(_core.cuda_available())
