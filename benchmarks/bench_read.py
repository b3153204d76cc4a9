"""Reading speed and memory: assaykit.read_fcs vs numpy.fromfile of the DATA segment vs FlowIO (and
read_fcs with the file's SHA-256, which a Sample computes only when asked for: `score` asks).

The file: 1,000,000 events x 12 channels, float32, FCS 3.1 (written with FlowIO; 48 MB of DATA).
Times are the best of several runs from the page cache; memory is measured in fresh processes
(peak RSS above the interpreter's baseline after imports).

    make bench            # or: .venv/bin/python benchmarks/bench_read.py
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
N_EVENTS, N_CHANNELS = 1_000_000, 12


def make_file() -> Path:
    from assaykit.fcs.writer import write_fcs

    path = OUT / "bench_1M_x12_float32.fcs"
    if not path.exists():
        rng = np.random.default_rng(0)
        events = rng.lognormal(8, 1.5, size=(N_EVENTS, N_CHANNELS)).astype(np.float32)
        write_fcs(path, events, [f"CH{i + 1}-A" for i in range(N_CHANNELS)])
    return path


def data_offset(path: Path) -> int:
    header = path.read_bytes()[:58]
    return int(header[26:34])


def best_of(function, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


MEMORY_SNIPPET = """
import sys, numpy as np
def hwm():  # peak resident set (VmHWM, kB): unlike ru_maxrss it does not inherit the parent's peak
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])
which, path, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
if which == "assaykit":
    from assaykit import read_fcs
elif which == "flowio":
    import flowio
base = hwm()
if which == "assaykit":
    x = read_fcs(path).events
elif which == "flowio":
    x = flowio.FlowData(path).as_array(preprocess=False)
else:
    x = np.fromfile(path, dtype="<f4", count=COUNT, offset=offset)
peak = hwm()
print((peak - base) * 1024)
""".replace("COUNT", str(N_EVENTS * N_CHANNELS))


def peak_memory(which: str, path: Path, offset: int) -> int:
    result = subprocess.run([sys.executable, "-c", MEMORY_SNIPPET, which, str(path), str(offset)],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


def main() -> None:
    from assaykit import read_fcs

    path = make_file()
    offset = data_offset(path)
    count = N_EVENTS * N_CHANNELS
    data_bytes = count * 4
    fromfile = best_of(lambda: np.fromfile(path, dtype="<f4", count=count, offset=offset))
    ours = best_of(lambda: read_fcs(path))
    hashed = best_of(lambda: read_fcs(path).sha256)  # what `score` pays: the SHA-256 asked for once
    results = {"fromfile_s": fromfile, "assaykit_s": ours, "ratio": ours / fromfile,
               "assaykit_with_sha256_s": hashed, "data_mb": data_bytes / 1e6}
    try:
        import flowio

        results["flowio_version"] = flowio.__version__
        results["flowio_s"] = best_of(lambda: flowio.FlowData(str(path)).as_array(preprocess=False), repeat=2)
    except ImportError:
        results["flowio_s"] = None
    for which in ("fromfile", "assaykit", "flowio"):
        try:
            results[f"{which}_peak_mb"] = peak_memory(which, path, offset) / 1e6
        except subprocess.CalledProcessError:
            results[f"{which}_peak_mb"] = None
    results["memory_ratio"] = results["assaykit_peak_mb"] / (data_bytes / 1e6)
    results["machine"] = f"{platform.machine()}, {platform.python_version()}, numpy {np.__version__}"
    OUT.mkdir(exist_ok=True)
    (OUT / "read.json").write_text(json.dumps(results, indent=1) + "\n")
    print("| reader | time (s) | vs fromfile | peak memory above baseline (MB) |")
    print("|---|---|---|---|")
    print(f"| numpy.fromfile (DATA only) | {fromfile:.4f} | 1.00x | {results['fromfile_peak_mb']:.0f} |")
    print(f"| assaykit.read_fcs | {ours:.4f} | {ours / fromfile:.2f}x | {results['assaykit_peak_mb']:.0f} |")
    print(f"| assaykit.read_fcs, then its .sha256 | {hashed:.4f} | {hashed / fromfile:.2f}x | - |")
    if results.get("flowio_s"):
        flow = results["flowio_s"]
        print(f"| FlowIO {results['flowio_version']} | {flow:.3f} | {flow / fromfile:.1f}x | "
              f"{results['flowio_peak_mb']:.0f} |")
    print(f"\nDATA segment: {data_bytes / 1e6:.0f} MB; assaykit peak = {results['memory_ratio']:.2f}x the data "
          f"(limit 2x); time ratio limit 1.5x. {results['machine']}")


if __name__ == "__main__":
    main()
