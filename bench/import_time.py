"""Import and CLI start-up time: `import mlexpert` and `mlexpert --help` in fresh processes.

Prints the median of N runs (ms) for each, next to `python -c pass` measured in the same run as
the baseline, and the ratios. Usage: python bench/import_time.py [N]
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "import mlexpert": [sys.executable, "-c", "import mlexpert"],
    "mlexpert --help": [sys.executable, "-m", "mlexpert.cli", "--help"],
    "import pandas (reference)": [sys.executable, "-c", "import pandas"],
}


def median_ms(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    results = {name: median_ms(cmd) for name, cmd in CASES.items()}
    base = results["python -c pass (baseline)"]
    print(f"| command | median ms over {RUNS} runs | x baseline | minus baseline ms |")
    print("|---|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.0f} | {ms / base:.2f} | {ms - base:.0f} |")


if __name__ == "__main__":
    main()
