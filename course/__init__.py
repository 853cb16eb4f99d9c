"""Deep learning with PyTorch: the helper package the lab notebooks import.

The commonly used names are re-exported here; each lives in a small module
(`course.data`, `course.device`, `course.plotting`, ...).
"""
from __future__ import annotations

from .checks import CheckError, assert_close, check_finite, check_probabilities, check_shape, passed
from .colab import in_colab, offer_download
from .data import DataNotFoundError, Splits, TensorBatches, cifar10_splits, data_root, mnist_splits
from .device import describe_device, get_device, seed_everything
from .gradcheck import GradCheck, check_gradient
from .images import default_image_size, load_image
from .mode import budget, fast_mode
from .models import Ensemble, PixelClassifier, count_parameters
from .plotting import (display_error_curves, plot_lines, plot_psnr_curves, psnr_table, show_filters, show_graph,
                       show_images, show_reconstructions)
from .labs import LABS, lab_info
from .submission import CheckpointError, checkpoint_info, load_model, save_model
from .training import History, Timer, epochs, progress

__version__ = "0.1.0"

__all__ = [
    "CheckError", "assert_close", "check_finite", "check_probabilities", "check_shape", "passed",
    "DataNotFoundError", "Splits", "TensorBatches", "cifar10_splits", "data_root", "mnist_splits",
    "describe_device", "get_device", "seed_everything",
    "GradCheck", "check_gradient",
    "default_image_size", "load_image",
    "budget", "fast_mode",
    "Ensemble", "PixelClassifier", "count_parameters",
    "display_error_curves", "show_filters", "show_graph", "show_images",
    "show_reconstructions", "plot_psnr_curves", "plot_lines", "psnr_table",
    "in_colab", "offer_download",
    "LABS", "lab_info",
    "CheckpointError", "checkpoint_info", "load_model", "save_model",
    "History", "Timer", "epochs", "progress",
    "__version__",
]
