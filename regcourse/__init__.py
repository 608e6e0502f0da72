"""Helpers shared by the chapters, the graded exercises and the tests.

Only code that is *not* the subject of a lesson lives here: loading Fashion-MNIST, batching tensors,
the training/evaluation loop, seeding and plotting. The L2 penalty and the dropout layer are written in
the chapters, where the reader sees them.
"""
from .data import TEXT_LABELS, DataNotFoundError, FashionMNIST, load_fashion_mnist, resolve_fashion_mnist_root
from .plot import plot_history
from .train import History, evaluate, fit, make_generator, minibatches, seed_offset, set_seed, synthetic_linear_data

__all__ = ["DataNotFoundError", "FashionMNIST", "History", "TEXT_LABELS", "evaluate", "fit",
           "load_fashion_mnist", "make_generator", "minibatches", "plot_history", "resolve_fashion_mnist_root",
           "seed_offset", "set_seed", "synthetic_linear_data"]
