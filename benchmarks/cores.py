"""What two cores give two single-threaded jobs on this machine: the ceiling of ``grade.py``'s speed-up.

Each grading process works on one thread (its sandboxed runners and its own torch), so 2 workers can at best run
two such jobs as fast as each runs alone. Here the same job runs alone, then as two copies side by side (started
together), and the script prints the throughput of the pair over that of one job:

- ``convolution``: training steps of Lab 5's CIFAR-10 ResNet, built by the solution notebook's own cells;
- ``interpreter``: a pure-Python loop (the judges' and the runners' own bookkeeping);
- ``memory``: CIFAR-10-sized uint8 images turned into floats in fresh memory, again and again (loading data sets).

2.00× would be two independent cores; less is what the pair loses to shared caches, memory and clock. Run it
alone on the machine, from the repository root:

    python benchmarks/cores.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))   # lab5_cifar: the solution notebook's cells


def _convolution() -> None:
    import torch
    import torch.nn.functional as F
    from lab5_cifar import lab5_network

    # Lab 5's own network (the solution notebook's residual block in the course's skeleton), not a copy of it.
    torch.manual_seed(0)
    model = lab5_network().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.rand(128, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,))
    for _ in range(12):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def _interpreter() -> None:
    total = 0
    for i in range(60_000_000):
        total += i % 7


def _memory() -> None:
    import torch

    images = torch.randint(0, 256, (20_000, 3, 32, 32), dtype=torch.uint8)
    for _ in range(25):        # fresh pages each time, as a data set loaded and converted to floats is
        images.float().div(255)


JOBS = {"convolution": _convolution, "interpreter": _interpreter, "memory": _memory}


def _run(job: str, start, out) -> None:
    import torch

    torch.set_num_threads(1)
    if job == "convolution":        # imports and first-call set-up are not the job
        _convolution()
    start.wait()
    t0 = time.perf_counter()
    JOBS[job]()
    out.put(time.perf_counter() - t0)


def timed(job: str, copies: int) -> list[float]:
    """Seconds each of ``copies`` processes took for ``job``, all started at once."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(copies), ctx.Queue()
    procs = [ctx.Process(target=_run, args=(job, start, out)) for _ in range(copies)]
    for p in procs:
        p.start()
    seconds = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alone/pair rounds per job (medians are printed)")
    args = parser.parse_args()
    for job in JOBS:
        alone, pair = [], []
        for _ in range(args.repeats):     # interleaved, so a slow spell of the machine hits both
            alone.append(timed(job, 1)[0])
            pair.append(max(timed(job, 2)))
        a, p = statistics.median(alone), statistics.median(pair)
        print(f"{job:12s} alone {a:6.2f} s, two side by side {p:6.2f} s (the slower): "
              f"{2 * a / p:.2f}× the work of one job per second (2.00× = two independent cores)")


if __name__ == "__main__":
    main()
