"""Deep learning with PyTorch: the helper package the lab notebooks import.

The commonly used names are re-exported here; each lives in a small module
(`course.data`, `course.device`, `course.plotting`, ...).
"""
from __future__ import annotations

from .augment import flip, random_crop_flip
from .checks import CheckError, assert_close, check_finite, check_probabilities, check_shape, passed
from .cost import CostReport, LayerCost, layer_costs
from .colab import in_colab, offer_download
from .data import DataNotFoundError, Splits, TensorBatches, cifar10_splits, data_root, mnist_splits
from .device import autocast, autocast_dtype, describe_device, get_device, seed_everything
from .gradcheck import GradCheck, check_gradient
from .images import default_image_size, load_image
from .mode import budget, fast_mode
from .optim import RuleOptimizer
from .models import Ensemble, FlipAverage, PixelClassifier, count_parameters
from .resnet import ResNet
from .plotting import (animate_paths, animation_html, display_error_curves, plot_gradient_norms, plot_lines, plot_paths,
                       plot_psnr_curves, plot_roofline, psnr_table, show_filters, show_graph, show_images,
                       show_reconstructions)
from .labs import LABS, lab_info
from .submission import CheckpointError, checkpoint_info, load_model, save_model
from .timing import Timing, machine_balance, measure_machine, time_per_batch
from .training import History, Timer, epochs, progress

__version__ = "0.1.0"

__all__ = [
    "flip", "random_crop_flip",
    "CostReport", "LayerCost", "Timing", "layer_costs", "machine_balance", "measure_machine", "time_per_batch",
    "RuleOptimizer",
    "CheckError", "assert_close", "check_finite", "check_probabilities", "check_shape", "passed",
    "DataNotFoundError", "Splits", "TensorBatches", "cifar10_splits", "data_root", "mnist_splits",
    "autocast", "autocast_dtype", "describe_device", "get_device", "seed_everything",
    "GradCheck", "check_gradient",
    "default_image_size", "load_image",
    "budget", "fast_mode",
    "Ensemble", "FlipAverage", "PixelClassifier", "count_parameters", "ResNet",
    "display_error_curves", "show_filters", "show_graph", "show_images",
    "show_reconstructions", "plot_psnr_curves", "plot_lines", "psnr_table",
    "plot_gradient_norms", "plot_paths", "animate_paths", "animation_html", "plot_roofline",
    "in_colab", "offer_download",
    "LABS", "lab_info",
    "CheckpointError", "checkpoint_info", "load_model", "save_model",
    "History", "Timer", "epochs", "progress",
    "__version__",
]
