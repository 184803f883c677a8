#!/usr/bin/python3
"""Plots one or more mmsload CSVs (tools/mmsload --csv) into a PNG.

Top: cumulative DELIVERED and cumulative UNDELIVERED+FAILED counts against time since the first
send. Bottom: end-to-end latency (final_ns - send_start_ns) of each finished message against its
send time. One colour per CSV; all runs share one time origin each (their own first send).

    tools/plot_experiment.py --csv base.csv --label baseline --csv outage.csv --label "outage" \
        --title "northwind outage" --time-scale 1 --out experiment.png
    tools/plot_experiment.py a.csv b.csv --out runs.png

--time-scale X converts real seconds to simulated seconds (simulated = real * X), matching the
scenario's simulation.time_scale. Rows without a final status (refused, or still in flight when
mmsload stopped) count only as sent. Needs Debian's python3-matplotlib; runs headless (Agg).
"""

import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FAILED_STATUSES = ("UNDELIVERED", "FAILED")


class _CsvAction(argparse.Action):
    """--csv FILE starts a run; a following --label names it."""

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.runs.append([value, None])


class _LabelAction(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        if not namespace.runs or namespace.runs[-1][1] is not None:
            parser.error(f"--label {value!r} must follow its --csv")
        namespace.runs[-1][1] = value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="mmsload CSV files (labelled by file name)")
    parser.add_argument("--csv", action=_CsvAction, metavar="FILE",
                        help="an mmsload CSV; repeatable, each optionally followed by --label")
    parser.add_argument("--label", action=_LabelAction, help="label of the preceding --csv")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--title", default="mmsload", help="figure title")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulated seconds per real second (default 1)")
    parser.add_argument("--marker-size", type=float, default=None,
                        help="scatter marker size (default: by number of points)")
    parser.set_defaults(runs=[])
    args = parser.parse_args(argv)
    if not args.runs and not args.files:
        parser.error("give at least one CSV (--csv FILE or positional)")
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    runs = [(path, label if label is not None else os.path.basename(path))
            for path, label in args.runs]
    runs += [(path, os.path.basename(path)) for path in args.files]
    return args, runs


def to_int(text):
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def load(path):
    """Returns the rows as dicts with integer times (None when empty)."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"send_start_ns", "final_status", "final_ns"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: not an mmsload CSV (missing {', '.join(sorted(missing))})")
        for row in reader:
            rows.append({
                "send": to_int(row.get("send_start_ns")),
                "final": to_int(row.get("final_ns")),
                "status": (row.get("final_status") or "").strip(),
                "grpc": to_int(row.get("grpc_code")),
            })
    return rows


def summarize(rows, scale):
    """Per run: x/y series for the cumulative curves and the latency scatter (simulated s)."""
    sends = [r["send"] for r in rows if r["send"] is not None]
    if not sends:
        return None
    t0 = min(sends)

    def sim(ns):
        return (ns - t0) / 1e9 * scale

    delivered = sorted(sim(r["final"]) for r in rows
                       if r["status"] == "DELIVERED" and r["final"] is not None)
    failed = sorted(sim(r["final"]) for r in rows
                    if r["status"] in FAILED_STATUSES and r["final"] is not None)
    scatter = {"DELIVERED": ([], []), "failed": ([], [])}
    for r in rows:
        if r["final"] is None or r["send"] is None or not r["status"]:
            continue
        key = "DELIVERED" if r["status"] == "DELIVERED" else "failed"
        scatter[key][0].append(sim(r["send"]))
        scatter[key][1].append((r["final"] - r["send"]) / 1e9 * scale)
    return {
        "sent": len(sends),
        "accepted": sum(1 for r in rows if r["grpc"] == 0),
        "no_final": sum(1 for r in rows if r["grpc"] == 0 and not r["status"]),
        "delivered": delivered,
        "failed": failed,
        "scatter": scatter,
        "last_send": sim(max(sends)),
    }


def step_series(times):
    """Cumulative count as a step line that starts at (0, 0)."""
    xs = [0.0] + times
    ys = [0] + list(range(1, len(times) + 1))
    return xs, ys


def main(argv):
    args, runs = parse_args(argv)
    unit = "s" if args.time_scale == 1.0 else "simulated s"
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1]})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    plotted = 0
    for i, (path, label) in enumerate(runs):
        data = summarize(load(path), args.time_scale)
        if data is None:
            print(f"plot_experiment: {path}: no sent messages, skipped", file=sys.stderr)
            continue
        colour = colours[i % len(colours)]
        note = f"{label}: {data['sent']} sent, {len(data['delivered'])} delivered"
        if data["failed"]:
            note += f", {len(data['failed'])} failed"
        if data["sent"] > data["accepted"]:
            note += f", {data['sent'] - data['accepted']} refused"
        if data["no_final"]:
            note += f", {data['no_final']} not final"
        xs, ys = step_series(data["delivered"])
        top.step(xs, ys, where="post", color=colour, label=note + " — DELIVERED")
        if data["failed"]:
            xs, ys = step_series(data["failed"])
            top.step(xs, ys, where="post", color=colour, linestyle="--",
                     label=f"{label} — UNDELIVERED/FAILED")
        top.axvline(data["last_send"], color=colour, linestyle=":", linewidth=0.8)

        n_points = len(data["scatter"]["DELIVERED"][0]) + len(data["scatter"]["failed"][0])
        size = args.marker_size or (6 if n_points < 2000 else 2 if n_points < 20000 else 0.5)
        dx, dy = data["scatter"]["DELIVERED"]
        if dx:
            bottom.scatter(dx, dy, s=size, color=colour, alpha=0.5, linewidths=0,
                           label=f"{label} — DELIVERED", rasterized=True)
        fx, fy = data["scatter"]["failed"]
        if fx:
            bottom.scatter(fx, fy, s=size * 3, color=colour, marker="x", alpha=0.8,
                           linewidths=0.8, label=f"{label} — UNDELIVERED/FAILED", rasterized=True)
        plotted += 1

    if plotted == 0:
        raise SystemExit("plot_experiment: nothing to plot")
    top.set_ylabel("messages (cumulative)")
    top.set_title("final statuses over time (dotted line: last send)", fontsize=10)
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    top.set_ylim(0, max(1.0, top.get_ylim()[1]))
    bottom.set_ylabel(f"send → final status ({unit})")
    bottom.set_xlabel(f"send time since first send ({unit})")
    bottom.set_title("end-to-end latency of each finished message", fontsize=10)
    bottom.grid(True, alpha=0.3)
    bottom.set_ylim(bottom=0)
    bottom.set_xlim(left=0)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=8, loc="upper left", markerscale=3)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"plot_experiment: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
