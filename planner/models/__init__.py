"""Latent world models: architecture, data collection, training and the model file.

Needs torch and safetensors (datasets also pyarrow, collection gymnasium); the native
planner runs without any of them.
"""

from .data import Dataset, collect, load_dataset, save_dataset
from .export import FORMAT, FORMAT_VERSION, export_model, load_model, read_metadata
from .torch_scorer import TorchScorer
from .train import CollectConfig, TrainConfig, main_train, prediction_error, train
from .world_model import PRESETS, LayerSpec, ModelConfig, WorldModel, preset

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PRESETS",
    "CollectConfig",
    "Dataset",
    "LayerSpec",
    "ModelConfig",
    "TorchScorer",
    "TrainConfig",
    "WorldModel",
    "collect",
    "export_model",
    "load_dataset",
    "load_model",
    "main_train",
    "prediction_error",
    "preset",
    "read_metadata",
    "save_dataset",
    "train",
]
