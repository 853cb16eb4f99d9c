"""The course's labs: ids, titles, and the files a submission must hand in beside its notebook.

Light on purpose (no torch, no nbgrader): the command line, ``course validate`` and
``course build`` read it, and so will the grader.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Lab", "LABS", "LAB_IDS", "lab_info"]


@dataclass(frozen=True)
class Lab:
    """One lab: its id (the folder and notebook name), a title, and its graded checkpoints.

    ``checkpoints`` maps a file name the student hands in to the name of the notebook
    function that builds the untrained architecture the file's weights must fit.
    ``datasets`` names the data sets its notebook loads ("mnist", "cifar10"): the grader
    decodes their caches once, before any submission runs, and shows them read-only to the sandbox.
    """

    id: str
    title: str
    checkpoints: dict[str, str] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()

    @property
    def notebook(self) -> str:
        return f"{self.id}.ipynb"


LABS: tuple[Lab, ...] = (
    Lab("lab1_linear", "Linear classifiers on CIFAR-10", {"lab1_best.pt": "build_best_model"}, ("cifar10",)),
    Lab("lab2_backprop", "Backpropagation"),
    Lab("lab3_mlp_mnist", "An MLP on MNIST", {"lab3_best.pt": "build_best_model"}, ("mnist",)),
    Lab("lab4_positional_encoding", "Fourier positional encoding"),
    Lab("lab5_cnn_resnet", "CNNs, ResNets and optimisers",
        {"lab5_lenet.pt": "build_lenet5", "lab5_cifar.pt": "build_cifar_model"}, ("mnist", "cifar10")),
)
LAB_IDS: tuple[str, ...] = tuple(lab.id for lab in LABS)


def lab_info(lab_id: str) -> Lab:
    """The :class:`Lab` called ``lab_id``; a ``KeyError`` that lists the known ids otherwise."""
    for lab in LABS:
        if lab.id == lab_id:
            return lab
    raise KeyError(f"unknown lab {lab_id!r}; the course has {', '.join(LAB_IDS)}")
