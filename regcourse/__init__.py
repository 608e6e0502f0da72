"""Helpers shared by the chapters, the graded exercises and the tests.

Modules by role: ``data`` (Fashion-MNIST, D2L's synthetic linear data, minibatches), ``train`` (the training and
evaluation loop), ``seeding`` (every seed, with REGCOURSE_SEED_OFFSET), ``plot``; ``grading`` and ``sandbox``
for the graded exercises. None of this is the subject of a lesson. The code the chapters teach (the L2
penalty, the dropout layer, ...) is written in the chapters, where the reader sees it, and harvested into
``regcourse.chapters`` (generated from the notebooks) for later chapters and the tests.
"""
from .data import (
    TEXT_LABELS,
    DataNotFoundError,
    FashionMNIST,
    load_fashion_mnist,
    minibatches,
    resolve_fashion_mnist_root,
    synthetic_linear_data,
)
from .plot import plot_history
from .seeding import make_generator, seed_offset, set_seed
from .train import History, evaluate, fit

__all__ = ["DataNotFoundError", "FashionMNIST", "History", "TEXT_LABELS", "evaluate", "fit",
           "load_fashion_mnist", "make_generator", "minibatches", "plot_history", "resolve_fashion_mnist_root",
           "seed_offset", "set_seed", "synthetic_linear_data"]
