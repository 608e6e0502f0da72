"""Plotting helpers: labelled axes, legends and log scales by default, so that no curve hides."""
from __future__ import annotations

import matplotlib.pyplot as plt


def plot_history(histories: dict, keys=("train_loss", "test_loss"), *, logy: bool = True,
                 title: str | None = None, ax=None, ylabel: str | None = None):
    """Plot per-epoch curves of several runs: ``histories`` maps a run label to a History.

    Each (run, key) becomes one line, labelled "run: key". Losses default to a log y-axis, where curves
    that differ by orders of magnitude stay visible. Returns the Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8))
    styles = {"train": "-", "test": "--"}
    for i, (label, hist) in enumerate(histories.items()):
        color = f"C{i}"
        for key in keys:
            values = getattr(hist, key) if hasattr(hist, key) else hist[key]
            ls = styles.get(key.split("_")[0], "-")
            ax.plot(range(1, len(values) + 1), values, ls, color=color,
                    label=f"{label}: {key.replace('_', ' ')}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or ", ".join(k.replace("_", " ") for k in keys))
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return ax
