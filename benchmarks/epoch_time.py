"""How long one training epoch of the dropout chapter's MLP takes, against two yardsticks.

Compares, on this machine and in one run:

1. **in memory**: the course's loop -- the whole training set as one float tensor, batched by indexing a random
   permutation (:func:`regcourse.minibatches`);
2. **D2L-style pipeline**: ``torchvision.datasets.FashionMNIST(transform=ToTensor())`` in a
   ``torch.utils.data.DataLoader`` (batch 256, shuffled, ``num_workers`` workers, 4 as in D2L's
   ``get_dataloader_workers()``), which converts one PIL image at a time;
3. **compute floor**: 6 x parameters x samples FLOPs (forward 2, backward 4 per weight and sample) at the FP32
   matmul rate measured here with ``torch.mm`` on square matrices -- the time an epoch would take if it were
   nothing but the model's matrix products running at full speed.

Both pipelines run the same training step (784-256-256-10 MLP, ReLU, dropout 0.2/0.5, SGD lr 0.5, mean
cross-entropy). Each timing is the median of ``--repeats`` epochs after one warm-up. Prints a Markdown table
and writes the numbers to ``regcourse/measurements/epoch_time.json`` (package data, so that the chapter
finds them on Colab too), which the chapter's closing note quotes.

``--chapter`` also executes the dropout chapter's notebooks one after another (as a reader or the book build
would) and records each one's wall time.

Run from the repository root::

    .venv/bin/python benchmarks/epoch_time.py            # about a minute on 2 cores
    .venv/bin/python benchmarks/epoch_time.py --chapter  # plus the chapter, about 2.5 more minutes
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from regcourse import load_fashion_mnist, minibatches, resolve_fashion_mnist_root, set_seed  # noqa: E402

CHAPTER = ["01_theory", "02_train_vs_eval", "03_from_scratch", "04_experiments", "05_with_weight_decay"]


def make_net() -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    return net


def n_weights(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def train_epoch(net, batches, opt, loss_fn) -> int:
    """One pass of the training step over ``batches``; returns the number of samples seen."""
    net.train()
    n = 0
    for X, y in batches:
        loss = loss_fn(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(y)
    return n


def matmul_rate(size: int = 2048, seconds: float = 1.0) -> float:
    """FP32 FLOP/s of ``torch.mm`` on two ``size`` x ``size`` matrices (2 size^3 FLOPs per product)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    count, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2 * size**3 * count / elapsed


def time_epochs(run_epoch, repeats: int) -> list[float]:
    run_epoch()  # warm-up: allocator, thread pool, page cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_epoch()
        times.append(time.perf_counter() - start)
    return times


def _children_cpu() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_chapter(timeout: int = 1800, save_dir: Path | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """Execute each dropout notebook in a fresh kernel, as the book build does.

    Returns two dicts keyed by notebook: wall time and CPU time (user + system, summed over the kernel's
    threads) in seconds. On a busy machine the wall time grows with the other load; the CPU time much less.
    """
    import nbformat
    from nbclient import NotebookClient

    wall, cpu = {}, {}
    for name in CHAPTER:
        path = ROOT / "book" / "dropout" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        start, start_cpu = time.perf_counter(), _children_cpu()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        wall[name] = time.perf_counter() - start
        cpu[name] = _children_cpu() - start_cpu   # the kernel has exited and been waited for
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, save_dir / f"{name}.ipynb")
        print(f"  {name}: {wall[name]:.1f} s wall, {cpu[name]:.1f} s CPU", file=sys.stderr)
    return wall, cpu


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per pipeline (median reported)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers of the D2L-style pipeline")
    parser.add_argument("--chapter", action="store_true", help="also time the dropout notebooks")
    parser.add_argument("--save-executed", type=Path, default=None, metavar="DIR",
                        help="with --chapter: write the executed notebooks (with outputs) to DIR")
    parser.add_argument("--json", type=Path, default=ROOT / "regcourse" / "measurements" / "epoch_time.json",
                        help="where to write the results ('-' for nowhere)")
    args = parser.parse_args(argv)
    os.environ.setdefault("REGCOURSE_NO_PROGRESS", "1")

    import torchvision
    from torchvision import transforms

    g = set_seed(0)
    data = load_fashion_mnist()
    loss_fn = nn.CrossEntropyLoss()

    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    in_memory = time_epochs(lambda: train_epoch(
        net, minibatches(data.X_train, data.y_train, 256, generator=g), opt, loss_fn), args.repeats)

    dataset = torchvision.datasets.FashionMNIST(resolve_fashion_mnist_root(), train=True, download=False,
                                                transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=True, num_workers=args.workers,
                                         persistent_workers=args.workers > 0)
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    d2l = time_epochs(lambda: train_epoch(net, loader, opt, loss_fn), args.repeats)
    loader = None  # stops the persistent workers before the next measurement

    rate = matmul_rate()
    params = n_weights(net)
    samples = len(data.y_train)
    floor = 6 * params * samples / rate

    result = {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
                   f"torch {torch.__version__.split('+')[0]} with {torch.get_num_threads()} threads",
        "load_average_1min": os.getloadavg()[0],
        "params": params, "samples": samples, "matmul_gflops": rate / 1e9,
        "floor_s": floor,
        "in_memory_s": statistics.median(in_memory), "in_memory_all_s": in_memory,
        "d2l_pipeline_s": statistics.median(d2l), "d2l_pipeline_all_s": d2l,
        "d2l_workers": args.workers,
    }
    result["in_memory_over_floor"] = result["in_memory_s"] / floor
    result["d2l_over_floor"] = result["d2l_pipeline_s"] / floor
    result["d2l_over_in_memory"] = result["d2l_pipeline_s"] / result["in_memory_s"]

    print(f"One epoch of the 784-256-256-10 dropout MLP on {samples} images ({params} parameters), "
          f"{result['machine']}, FP32 matmul {rate / 1e9:.1f} GFLOP/s, "
          f"load average {result['load_average_1min']:.2f} at the end.\n")
    print("| pipeline | s / epoch | × compute floor | × in memory |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| compute floor (6 × params × samples FLOPs) | {floor:.2f} | 1.00 | {floor / result['in_memory_s']:.2f} |")
    print(f"| in memory (regcourse.minibatches) | {result['in_memory_s']:.2f} | "
          f"{result['in_memory_over_floor']:.2f} | 1.00 |")
    print(f"| D2L-style DataLoader + ToTensor, {args.workers} workers | {result['d2l_pipeline_s']:.2f} | "
          f"{result['d2l_over_floor']:.2f} | {result['d2l_over_in_memory']:.2f} |")

    if args.chapter:
        print("\nExecuting the dropout chapter ...", file=sys.stderr)
        load_before = os.getloadavg()[0]
        chapter, chapter_cpu = time_chapter(save_dir=args.save_executed)
        result["chapter_s"], result["chapter_cpu_s"] = chapter, chapter_cpu
        result["chapter_total_s"] = sum(chapter.values())
        result["chapter_total_cpu_s"] = sum(chapter_cpu.values())
        result["load_average_1min_chapter"] = (load_before + os.getloadavg()[0]) / 2
        print("\n| notebook | wall s | CPU s |\n| --- | ---: | ---: |")
        for name in chapter:
            print(f"| {name} | {chapter[name]:.1f} | {chapter_cpu[name]:.1f} |")
        print(f"| **total** | **{result['chapter_total_s']:.1f}** | **{result['chapter_total_cpu_s']:.1f}** |")
    elif args.json != Path("-") and args.json.exists():
        old = json.loads(args.json.read_text())  # keep the last chapter timing
        for key in ("chapter_s", "chapter_cpu_s", "chapter_total_s", "chapter_total_cpu_s",
                    "load_average_1min_chapter"):
            if key in old:
                result[key] = old[key]

    if str(args.json) != "-":
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
