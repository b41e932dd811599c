"""How fast the offline `local` provider paints, on one core.

    taskset -c 0 .venv/bin/python bench/local_provider_bench.py [--runs 5]

Times LocalProvider.generate_image end to end (render + PNG encode) for a 1024x1024 picture in
the default look and each category, then 2048x2048 and 1920x1080, and generate_video for
5 s at 24 fps at 1280x720 (paint + composite + H.264 encode). Prints the median wall time of
--runs runs and the median CPU time of this process (less disturbed by other load on the
machine), next to the 0.5 s target for a 1024x1024 image. Numeric libraries are held to one
thread; pin the process to one core with taskset to measure the single-core case.
"""

import os

# Before numpy loads: one thread for any BLAS/OpenMP pool, so the figures are single-core.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.providers.base import ImageRequest, VideoRequest, no_progress  # noqa: E402
from studio.providers.local import LocalProvider  # noqa: E402
from studio.rendering import CATEGORIES  # noqa: E402

TARGET_1024 = 0.5  # seconds for a 1024x1024 image on one core
PROMPTS = (
    "a sunset over the mountains with a lake reflection",
    "a cat watching the stars from a hill at night",
    "a misty forest at dawn",
)


def timed(call, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--video-runs", type=int, default=3)
    args = parser.parse_args()
    provider = LocalProvider()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"local provider bench: median of {args.runs} runs over {len(PROMPTS)} prompts, "
          f"{cores} core(s) available to this process")  # fmt: skip

    def image(width: int, height: int, category: str):
        seeds = iter(range(10_000))

        def call():
            seed = next(seeds)
            prompt = PROMPTS[seed % len(PROMPTS)]
            request = ImageRequest(prompt=prompt, width=width, height=height, seed=seed,
                                   category=category)  # fmt: skip
            provider.generate_image(request, no_progress)

        return call

    provider.generate_image(ImageRequest(prompt="warm up", width=256, height=256, seed=0),
                            no_progress)  # fmt: skip
    worst = 0.0
    print(f"\n{'image 1024x1024':<28}{'wall s':>8}{'cpu s':>8}   target")
    for category in ("", *CATEGORIES):
        wall, cpu = timed(image(1024, 1024, category), args.runs * len(PROMPTS))
        worst = max(worst, wall)
        verdict = "ok" if wall <= TARGET_1024 else "OVER"
        name = category or "(default)"
        print(f"  {name:<26}{wall:8.3f}{cpu:8.3f}   <= {TARGET_1024} s {verdict}")
    print(f"  {'slowest category':<26}{worst:8.3f}")
    print(f"\n{'other sizes (default look)':<28}{'wall s':>8}{'cpu s':>8}")
    for width, height in ((2048, 2048), (1920, 1080)):
        wall, cpu = timed(image(width, height, ""), args.runs)
        print(f"  {f'{width}x{height}':<26}{wall:8.3f}{cpu:8.3f}")

    def video():
        request = VideoRequest(prompt=PROMPTS[0], width=1280, height=720, duration=5, fps=24,
                               seed=1)  # fmt: skip
        provider.generate_video(request, no_progress)

    wall, cpu = timed(video, args.video_runs)
    print(f"\n{'video 1280x720 5 s @ 24 fps':<28}{wall:8.3f}{cpu:8.3f}   (120 frames, H.264)")
    print("  (cpu s may exceed wall s: libx264 runs its own threads)")


if __name__ == "__main__":
    main()
