"""Where the gateway's CPU goes under load: py-spy samples of every worker during a wrk run,
summarised as the share of samples per layer (HTTP server, GraphQL engine, the database
driver, ...) and the functions with the most samples of their own.

Used by `scripts/bench --profile DIR`; `python scripts/bench_profile.py DIR/earn.txt` prints
the summary of a recording again. A profiled run is slower than a measured one (py-spy reads
the workers' memory many times a second), so its figures are shares, never throughput.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 250  # samples per second and worker

# The layer a frame belongs to, by the first pattern its file path contains (in this order).
LAYERS = (
    ("/app/driver.py", "database driver (asyncpg)"),
    ("/app/reads.py", "database driver (asyncpg)"),
    ("asyncpg", "database driver (asyncpg)"),
    ("sqlalchemy", "SQLAlchemy"),
    ("/app/domain/", "domain"),
    ("/app/graphql/", "GraphQL resolvers and extensions"),
    ("/app/", "gateway (other)"),
    ("strawberry", "GraphQL engine (Strawberry, graphql-core)"),
    ("graphql", "GraphQL engine (Strawberry, graphql-core)"),
    ("redis", "Redis client"),
    ("uvicorn", "HTTP server (uvicorn, starlette)"),
    ("starlette", "HTTP server (uvicorn, starlette)"),
    ("h11", "HTTP server (uvicorn, starlette)"),
    ("httptools", "HTTP server (uvicorn, starlette)"),
    ("asyncio", "event loop (asyncio)"),
    ("json", "JSON"),
)


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    """Start py-spy on `pid` and its worker processes for `seconds`, raw (collapsed) stacks."""
    return subprocess.Popen(
        [
            "py-spy"
            if not (Path(sys.executable).parent / "py-spy").exists()
            else str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(seconds),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def layer_of(frame: str) -> str:
    for pattern, name in LAYERS:
        if pattern in frame:
            return name
    return "other (interpreter, C code)"


def stacks(path: Path) -> list[tuple[list[str], int]]:
    """Each sampled stack (outermost frame first) with its count; idle samples left out."""
    out = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if frames and "select" in frames[-1] and "selectors.py" in frames[-1]:
            continue  # the event loop waiting: the worker is idle
        out.append((frames, int(count)))
    return out


def summary(path: Path, top: int = 15) -> str:
    """Markdown: samples by the layer of the innermost frame, and the top functions by own
    samples (self) with their share including callees (total)."""
    sampled = stacks(path)
    total = sum(count for _, count in sampled) or 1
    by_layer: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in sampled:
        if not frames:
            continue
        by_layer[layer_of(frames[-1])] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} busy samples", "", "| layer (innermost frame) | share |", "| --- | ---: |"]
    lines += [f"| {name} | {100 * n / total:.1f}% |" for name, n in by_layer.most_common()]
    lines += ["", "| function | self | total |", "| --- | ---: | ---: |"]
    for frame, n in own.most_common(top):
        share, with_callees = 100 * n / total, 100 * inclusive[frame] / total
        lines.append(f"| `{_short(frame)}` | {share:.1f}% | {with_callees:.1f}% |")
    return "\n".join(lines) + "\n"


def _short(frame: str) -> str:
    """`name (…/package/module.py:line)` with the path cut to its last two parts."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    return f"{name} ({'/'.join(where.split('/')[-2:])})" if where else name


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"## {arg}\n\n{summary(Path(arg))}")
