"""Lab 5's CIFAR-10 network with and without ``torch.compile``, side by side: one of the issue's per-FLOP questions.

The network is the solution notebook's own (its residual block in the course's skeleton, built by its cells), and
each training step is the recipe's: a batch of 256 random images in channels-last layout, cross-entropy with label
smoothing 0.1, SGD with Nesterov momentum. Two copies start from the same weights, one run eagerly and one through
``torch.compile`` (TorchInductor, which fuses batch norm, ReLU and the residual additions into generated C++).

The two run in alternating blocks of steps, so that the machine's drift (large on shared hosts) falls on both alike;
the script prints each one's median time per step, their ratio, what compiling cost before the first step (less
when Inductor's cache of an earlier run is found), the largest difference between the two copies' losses (the same
computation, rounded differently), and the same for inference (evaluation mode, no gradients, batches of 250, as the autograder measures a checkpoint). Run it alone
on the machine, from the repository root:

    python benchmarks/lab5_compile.py [--rounds 6] [--steps 5] [--threads 2]

It needs a C++ compiler (Inductor's CPU back end): without one, it says so and stops.
"""
from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))   # lab5_cifar: the solution notebook's cells

from lab5_cifar import lab5_network  # after the path above


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="alternating blocks of each (default 6)")
    parser.add_argument("--steps", type=int, default=5, help="training steps per block (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the notebook's two cores)")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or args.threads < 1:
        raise SystemExit("--rounds, --steps and --threads must be at least 1")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        raise SystemExit("torch.compile's CPU back end needs a C++ compiler (c++ or g++ on PATH); none was found")

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    eager = lab5_network().to(memory_format=torch.channels_last)
    twin = copy.deepcopy(eager)                           # the same weights, compiled
    compiled = torch.compile(twin)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(256, 3, 32, 32, generator=gen).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (256,), generator=gen)

    def trainer(model, params):
        opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

        def step() -> float:
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()
        return step

    step = {"eager": trainer(eager, eager.parameters()), "compiled": trainer(compiled, twin.parameters())}
    eager.train()
    twin.train()
    t0 = time.perf_counter()
    first = {"compiled": step["compiled"]()}
    compile_s = time.perf_counter() - t0
    first["eager"] = step["eager"]()
    print(f"{args.threads} torch threads; compiling the training step took {compile_s:.1f} s "
          f"(first losses: eager {first['eager']:.6f}, compiled {first['compiled']:.6f})", flush=True)

    per_step: dict[str, list[float]] = {"eager": [], "compiled": []}
    gap = abs(first["eager"] - first["compiled"])
    for r in range(args.rounds):
        losses = {}
        for name in ("eager", "compiled") if r % 2 == 0 else ("compiled", "eager"):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                losses[name] = step[name]()
            per_step[name].append((time.perf_counter() - t0) / args.steps)
        gap = max(gap, abs(losses["eager"] - losses["compiled"]))
        print(f"round {r + 1}: eager {per_step['eager'][-1] * 1e3:.0f} ms/step, "
              f"compiled {per_step['compiled'][-1] * 1e3:.0f} ms/step", flush=True)
    train = {k: statistics.median(v) for k, v in per_step.items()}

    # Inference, as the autograder measures a checkpoint: evaluation mode, no gradients, batches of 250.
    twin.load_state_dict(eager.state_dict())             # the same weights again (training rounded them apart)
    eager.eval()
    twin.eval()
    batch = torch.rand(250, 3, 32, 32, generator=gen).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        t0 = time.perf_counter()
        out_c = compiled(batch)
        compile_eval_s = time.perf_counter() - t0
        out_e = eager(batch)
        per_batch: dict[str, list[float]] = {"eager": [], "compiled": []}
        for r in range(args.rounds):
            for name, model in (("eager", eager), ("compiled", compiled)) if r % 2 == 0 else \
                    (("compiled", compiled), ("eager", eager)):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    model(batch)
                per_batch[name].append((time.perf_counter() - t0) / args.steps)
    infer = {k: statistics.median(v) for k, v in per_batch.items()}
    logit_gap = (out_c - out_e).abs().max().item()

    steps_20 = 20 * -(-45_000 // 256)                     # the recipe's 20 epochs of 45,000 images
    print(f"\ntraining step (batch 256): eager {train['eager'] * 1e3:.0f} ms, compiled {train['compiled'] * 1e3:.0f} ms: "
          f"**{train['eager'] / train['compiled']:.2f}x** (median of {args.rounds} blocks of {args.steps}); "
          f"largest loss difference {gap:.1e}")
    print(f"  the recipe's 20 epochs ({steps_20:,} steps) at these rates: eager {steps_20 * train['eager'] / 60:.1f} min, "
          f"compiled {steps_20 * train['compiled'] / 60 + compile_s / 60:.1f} min with its compilation "
          f"(a last, smaller batch and the evaluation mode compile again)")
    print(f"inference (batch 250, eval, no grad): eager {infer['eager'] * 1e3:.0f} ms, compiled "
          f"{infer['compiled'] * 1e3:.0f} ms: **{infer['eager'] / infer['compiled']:.2f}x**; compiling took "
          f"{compile_eval_s:.1f} s; largest logit difference {logit_gap:.1e}; 10,000 test images: "
          f"eager {40 * infer['eager']:.1f} s, compiled {40 * infer['compiled'] + compile_eval_s:.1f} s with compilation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
