"""Benchmark of training throughput (pairs/s) for both backbones (not a test).

Builds a synthetic feature set (``--tracks`` tracks of 30 s = 1876 frames) under
.bench/train/ and trains the COLA objective for ``--steps`` steps of ``--batch-size`` pairs with
each backbone, reporting pairs/s of the last epoch (the first one includes warm-up) and peak RSS.
On a GPU (``--device cuda``) mixed precision is on unless ``--no-amp``; ``--channels-last`` is
optional.

    python benchmarks/bench_train.py --device cpu --batch-size 16 --steps 4
    python benchmarks/bench_train.py --device cuda --batch-size 128 --steps 50 --channels-last
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench" / "train"
sys.path.insert(0, str(ROOT))

from discogs_tools.features.extract import settings_for  # noqa: E402
from discogs_tools.features.mel import MelFrontEnd  # noqa: E402
from discogs_tools.features.store import ShardWriter, write_settings  # noqa: E402
from discogs_tools.train.config import TrainConfig  # noqa: E402
from discogs_tools.train.data import Pairs  # noqa: E402
from discogs_tools.train.loop import run  # noqa: E402
from discogs_tools.workspace import Workspace  # noqa: E402


class RandomPairs:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def pairs(self, association: str, split: str, epoch: int) -> Pairs:
        if split != "train":
            from discogs_tools.errors import MissingInputError

            raise MissingInputError("validation pairs", "-", None)
        rng = np.random.default_rng(epoch)
        order = rng.permutation(len(self.ids))
        return Pairs([self.ids[i] for i in order], [self.ids[i] for i in np.roll(order, 1)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--tracks", type=int, default=256)
    ap.add_argument("--backbones", default="small_cnn,efficientnet_b0")
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()

    ws = Workspace(BENCH / "workspace").ensure()
    root = ws.features / "bench"
    if not (root / "index" / "part-00000.parquet").exists():
        shutil.rmtree(root, ignore_errors=True)
        write_settings(root, settings_for(MelFrontEnd(), 30.0))
        rng = np.random.default_rng(0)
        writer = ShardWriter(root, 0, 96)
        for i in range(args.tracks):
            writer.add(f"t{i:05d}", rng.uniform(0, 4, size=(1876, 96)).astype(np.float32))
        writer.commit()
    ids = [f"t{i:05d}" for i in range(args.tracks)]
    for backbone in args.backbones.split(","):
        cfg = TrainConfig(run=f"bench-{backbone}", features="bench", objective="cola", associations=("release",),
                          backbone=backbone, epochs=args.epochs, batch_size=args.batch_size,
                          max_steps_per_epoch=args.steps, device=args.device, amp=not args.no_amp,
                          channels_last=args.channels_last)
        report = run(ws, cfg, force=True, source=RandomPairs(ids), echo=lambda line: None)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{backbone:>16} on {args.device}: {report.figures['pairs_per_s']:.1f} pairs/s "
              f"(batch {args.batch_size}, {args.steps} steps, last of {args.epochs} epochs; "
              f"amp {not args.no_amp and args.device.startswith('cuda')}, channels_last {args.channels_last}); "
              f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
