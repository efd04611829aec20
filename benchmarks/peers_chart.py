"""The chart of ``peers.py``: each workload's medians as ratios to raw ASGI, per loop.

``draw(report, path)`` writes a PNG from ``peers.py``'s JSON report;
``python benchmarks/peers_chart.py [peers.json [peers.png]]`` redraws it from a file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["draw"]

BENCH_DIR = Path(__file__).resolve().parent
TITLES = {
    "echo": "echo, 50 connections, 32 B",
    "handshake": "handshakes (session + auth), open / 1 echo / close",
    "idle": "RSS per idle socket",
    "fanout": "fan-out, 1 broadcast to 1,000 sockets",
}
COLOURS = {"asyncio": "#4878a8", "uvloop": "#e0823a"}


def _bars(summary: dict[str, Any], loops: list[str]) -> list[tuple[str, dict[str, float]]]:
    """(label, {loop: x raw}) for every row but raw's, in the report's order."""
    bars: dict[str, dict[str, float]] = {}
    for row in summary["rows"]:
        if row["stack"] == "raw":
            continue
        label = row["label"] + (f" ({row['backend']})" if row["backend"] != "memory" else "")
        for loop, ratio in row["x_raw"].items():
            if loop in loops:
                bars.setdefault(label, {})[loop] = ratio
    return list(bars.items())


def draw(report: dict[str, Any], path: Path) -> None:
    """Write the chart of ``report`` to ``path`` (PNG)."""
    loops = report["settings"]["loops"]
    workloads = [w for w in TITLES if w in report["workloads"]]
    figure, axes = plt.subplots(len(workloads), 1, figsize=(10, 3.2 * len(workloads) + 1.2),
                                squeeze=False)  # fmt: skip
    for axis, workload in zip(axes[:, 0], workloads, strict=True):
        summary = report["workloads"][workload]
        bars = _bars(summary, loops)
        height = 0.8 / max(len(loops), 1)
        for index, loop in enumerate(loops):
            positions = [row + index * height for row in range(len(bars))]
            values = [ratios.get(loop, 0.0) for _, ratios in bars]
            axis.barh(positions, values, height=height, color=COLOURS.get(loop), label=loop)
            for position, value in zip(positions, values, strict=True):
                if value:
                    axis.text(value, position, f" {value:.2f}", va="center", fontsize=7)
        axis.set_yticks([row + 0.4 - height / 2 for row in range(len(bars))])
        axis.set_yticklabels([label for label, _ in bars], fontsize=8)
        axis.invert_yaxis()
        axis.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        raws = [f"{row['median']['value']:,.0f} {summary['unit']} ({row['loop']})"
                for row in summary["rows"] if row["stack"] == "raw"]  # fmt: skip
        better = "higher" if summary["higher_is_better"] else "lower"
        axis.set_title(f"{TITLES[workload]}: x raw, {better} is better\nraw = {', '.join(raws)}",
                       fontsize=9)  # fmt: skip
        axis.legend(fontsize=7, loc="lower right")
    settings, versions, machine = report["settings"], report["versions"], report["machine"]
    figure.suptitle(
        "PROVISIONAL (short run) "
        * (settings["rounds"] < 3)
        + "django_websocket and its peers: medians as ratios to raw ASGI on uvicorn, same run\n"
        f"{machine['cpus']} CPUs ({machine['cpu']}), Python {versions['python']}, "
        f"Django {versions.get('django', '?')}, uvicorn {versions.get('uvicorn', '?')}; "
        f"{settings['rounds']} rounds of {settings['warmup']:g} + {settings['duration']:g} s; "
        f"{report['started']}; load {report['load_average']['before']}"
        f" -> {report['load_average']['after']}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCH_DIR / "peers.json"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_suffix(".png")
    draw(json.loads(source.read_text()), target)
    print(f"wrote {target}")
