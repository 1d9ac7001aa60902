"""The benchmark's report: the markdown tables `scripts/bench` prints and writes."""

from __future__ import annotations

import datetime as dt
import os
import platform


def report(args, results: dict, raw: dict, statements: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}): {args.scale:,} members x {args.lots} lots, "
        f"gateway workers {args.workers}, {args.connections} connections, "
        f"{args.duration} s per operation; "
        + (
            "PostgreSQL pinned to core 0, the gateway, wrk and pgbench to the other cores"
            if args.split
            else "PostgreSQL, the gateway, wrk and pgbench sharing every core"
        )
        + f". Command: `scripts/bench --scale {args.scale} "
        f"--lots {args.lots} --workers {args.workers} --duration {args.duration} "
        f"--connections {args.connections}{' --split' if args.split else ''}`.",
        "",
        "| operation | gateway req/s | p50 ms | p99 ms | errors | raw SQL tx/s | raw p50 ms "
        "| raw p99 ms | gateway / raw | SQL statements |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in args.ops:
        g = results[kind]
        r = raw.get(kind)
        name = {
            "till": "till flow (code + earn)",
            "home": "home query",
            "empty": "empty query `{ __typename }`",
        }.get(kind, kind)
        lines.append(
            f"| {name} | {g['rps']:.0f} | {g['p50_ms']:.1f} | {g['p99_ms']:.1f} | "
            f"{g['errors'] + g['socket_errors']} | "
            + (
                f"{r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{g['rps'] / r['rps']:.2f} | "
                if r
                else "— | — | — | — | "
            )
            + f"{statements['counts'].get(kind, '—')} |"
        )
    lines += [
        "",
        "CPU per request, sampled from /proc over the run (both share the machine's cores)."
        " PostgreSQL's is all of its processes, and in brackets those serving the connections"
        " (the statements themselves; the rest, WAL writer, checkpointer and autovacuum, runs at"
        " its own pace, so it weighs more per request at lower rates). The last column is the"
        " ratio PostgreSQL alone allows, raw / gateway on the serving processes: what the"
        " gateway reaches when its workers have cores of their own.",
        "",
        "| operation | gateway CPU ms / req | PostgreSQL CPU ms / req (gateway) "
        "| PostgreSQL CPU ms / tx (raw) | gateway / raw, PostgreSQL-bound |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in args.ops:
        g, r = results[kind], raw.get(kind) or {}
        gateway_pg, raw_pg = g.get("backend_cpu_ms"), r.get("backend_cpu_ms")
        bound = f"{raw_pg / gateway_pg:.2f}" if gateway_pg and raw_pg else "—"
        lines.append(
            f"| {kind} | {_ms(g.get('gateway_cpu_ms'))} | {_postgres(g)} | {_postgres(r)} "
            f"| {bound} |"
        )
    lines += ["", "Statements each operation sends (what the raw scripts mirror):", ""]
    for kind, texts in statements["texts"].items():
        lines.append(f"- **{kind}**: " + "; ".join(f"`{t[:90]}`" for t in texts))
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _postgres(result: dict) -> str:
    """All of PostgreSQL's CPU per request (that of the serving processes)."""
    if result.get("postgres_cpu_ms") is None:
        return "—"
    return f"{result['postgres_cpu_ms']:.2f} ({_ms(result.get('backend_cpu_ms'))})"
