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

Optional extras (used by tools/run_experiment.sh, see docs/experiments.md):
  --split-by COLUMN    one series (colour) per value of a CSV column within each CSV, e.g.
                       delivered_as or carrier_id; the series of one CSV share its time origin.
  --throughput         a third panel: DELIVERED per second (simulated with --time-scale),
                       counted in bins of --bin seconds (default: about 60 bins over the run).
  --faults-from FILE   shade the scheduled_faults of a scenario (.txtpb) on every panel; their
                       at_seconds count from the gateway's start, given as wall-clock ns by
                       --gateway-start-ns (default: the first CSV's first send).
  --summary            print one line per series: counts, last DELIVERED and send->final
                       latency percentiles, in the plot's time unit.
  --log-time           symmetric-log time axis (linear below 1 s), log-spaced throughput bins,
                       log scales for throughput and latency: for runs that differ by decades.
  --latency-by-index   the latency panel against the message's rank in acceptance order (by
                       accepted_ns, the order in which it entered its sender queue) instead of
                       its send time: for bursts, where every message is sent at about t=0.
"""

import argparse
import csv
import math
import os
import re
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
    parser.add_argument("--split-by", metavar="COLUMN", default=None,
                        help="one series per value of this CSV column (e.g. delivered_as)")
    parser.add_argument("--throughput", action="store_true",
                        help="add a panel of DELIVERED per second over time")
    parser.add_argument("--bin", type=float, default=None,
                        help="throughput bin width in the plot's seconds (default: run / 60)")
    parser.add_argument("--faults-from", metavar="SCENARIO", default=None,
                        help="shade this scenario's scheduled_faults")
    parser.add_argument("--gateway-start-ns", type=int, default=None,
                        help="wall-clock ns the scheduled faults count from (gateway start)")
    parser.add_argument("--summary", action="store_true",
                        help="print a summary line per series on stdout")
    parser.add_argument("--dpi", type=float, default=110, help="PNG resolution (default 110)")
    parser.add_argument("--log-time", action="store_true",
                        help="symmetric-log time axis, log-spaced throughput bins")
    parser.add_argument("--latency-by-index", action="store_true",
                        help="latency panel against message index instead of send time")
    parser.set_defaults(runs=[])
    args = parser.parse_args(argv)
    if not args.runs and not args.files:
        parser.error("give at least one CSV (--csv FILE or positional)")
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    if args.bin is not None and args.bin <= 0:
        parser.error("--bin must be positive")
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


def load(path, split_by=None):
    """Returns the rows as dicts with integer times (None when empty)."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"send_start_ns", "final_status", "final_ns"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: not an mmsload CSV (missing {', '.join(sorted(missing))})")
        if split_by and split_by not in (reader.fieldnames or []):
            raise SystemExit(f"{path}: no column {split_by!r} to split by")
        for row in reader:
            rows.append({
                "send": to_int(row.get("send_start_ns")),
                "final": to_int(row.get("final_ns")),
                "status": (row.get("final_status") or "").strip(),
                "grpc": to_int(row.get("grpc_code")),
                "code": to_int(row.get("final_error_code")),
                "accepted": to_int(row.get("accepted_ns")) or to_int(row.get("ack_ns")),
                "group": (row.get(split_by) or "").strip() if split_by else None,
            })
    return rows


def series_of(path, label, split_by):
    """[(label, rows, t0)]: one series per CSV, or per value of `split_by` within it."""
    rows = load(path, split_by)
    sends = [r["send"] for r in rows if r["send"] is not None]
    t0 = min(sends) if sends else None
    if not split_by:
        return [(label, rows, t0)]
    groups = {}
    for r in rows:
        groups.setdefault(r["group"] or "(none)", []).append(r)
    return [(f"{label} [{value}]", group, t0) for value, group in sorted(groups.items())]


def summarize(rows, scale, t0=None):
    """Per run: x/y series for the cumulative curves and the latency scatter (simulated s)."""
    sends = [r["send"] for r in rows if r["send"] is not None]
    if not sends:
        return None
    if t0 is None:
        t0 = min(sends)

    def sim(ns):
        return (ns - t0) / 1e9 * scale

    delivered = sorted(sim(r["final"]) for r in rows
                       if r["status"] == "DELIVERED" and r["final"] is not None)
    failed = sorted(sim(r["final"]) for r in rows
                    if r["status"] in FAILED_STATUSES and r["final"] is not None)
    scatter = {"DELIVERED": ([], []), "failed": ([], [])}
    by_index = {"DELIVERED": ([], []), "failed": ([], [])}
    accepted_order = sorted((r["accepted"], n) for n, r in enumerate(rows)
                            if r["accepted"] is not None)
    rank = {n: k for k, (_, n) in enumerate(accepted_order)}
    for n, r in enumerate(rows):
        if r["final"] is None or r["send"] is None or not r["status"]:
            continue
        key = "DELIVERED" if r["status"] == "DELIVERED" else "failed"
        scatter[key][0].append(sim(r["send"]))
        scatter[key][1].append((r["final"] - r["send"]) / 1e9 * scale)
        if n in rank:
            by_index[key][0].append(rank[n])
            by_index[key][1].append((r["final"] - r["send"]) / 1e9 * scale)
    codes = {}
    for r in rows:
        if r["status"] in FAILED_STATUSES and r["final"] is not None:
            key = f"{r['status']} {r['code']}"
            codes[key] = codes.get(key, 0) + 1
    return {
        "t0": t0,
        "codes": codes,
        "sent": len(sends),
        "accepted": sum(1 for r in rows if r["grpc"] == 0),
        "no_final": sum(1 for r in rows if r["grpc"] == 0 and not r["status"]),
        "delivered": delivered,
        "failed": failed,
        "scatter": scatter,
        "by_index": by_index,
        "last_send": sim(max(sends)),
    }


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))
    return ordered[k]


def summary_line(label, data, unit):
    delivered_latency = [y for y in data["scatter"]["DELIVERED"][1]]
    text = (f"{label}: sent {data['sent']}, accepted {data['accepted']}, "
            f"delivered {len(data['delivered'])}")
    if data["codes"]:
        text += ", " + ", ".join(f"{k} x {n}" for k, n in sorted(data["codes"].items()))
    if data["no_final"]:
        text += f", not final {data['no_final']}"
    text += f"; last send {data['last_send']:.1f} {unit}"
    if data["delivered"]:
        text += (f", first/last DELIVERED {data['delivered'][0]:.1f}/{data['delivered'][-1]:.1f}"
                 f" {unit}; send->DELIVERED p50 {percentile(delivered_latency, 0.5):.1f}"
                 f" p90 {percentile(delivered_latency, 0.9):.1f}"
                 f" p99 {percentile(delivered_latency, 0.99):.1f}"
                 f" max {max(delivered_latency):.1f} {unit}")
    if data["failed"]:
        text += (f"; failures at {data['failed'][0]:.1f}..{data['failed'][-1]:.1f} {unit}")
    return text


def scheduled_faults(path):
    """(carrier_id, at_seconds, kind, duration_seconds, extra) of each scheduled_faults block.

    A small reader for the blocks as written in text format (comments stripped, braces
    balanced); enough for scenario files, not a general text-format parser."""
    with open(path) as f:
        text = "\n".join(line.split("#", 1)[0] for line in f)
    faults = []
    for match in re.finditer(r"scheduled_faults\s*:?\s*\{", text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        block = text[match.end():i - 1]

        def field(name, default=None):
            found = re.search(r"\b" + name + r"\s*:\s*\"?([^\s\"}]+)", block)
            return found.group(1) if found else default
        extra = ""
        if field("extra_latency_ms"):
            extra = f" +{float(field('extra_latency_ms')):g} ms"
        if field("extra_loss"):
            extra = f" +{float(field('extra_loss')):g} loss"
        faults.append((field("carrier_id", "?"), float(field("at_seconds", "0")),
                       field("kind", "?").replace("KIND_", ""),
                       float(field("duration_seconds", "0")), extra))
    return faults


def nice_width(raw):
    """The smallest of 1, 2, 5 x 10^k that is at least `raw`."""
    raw = max(raw, 1e-6)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw - 1e-12)


def throughput_series(times, width, end):
    """DELIVERED per second in bins of `width` from 0 to `end`, as step x/y."""
    bins = max(1, int(math.ceil(end / width)))
    edges = [k * width for k in range(bins + 1)]
    return binned_rate(times, edges)


def log_edges(end, linear=1.0, per_decade=10):
    """Bin edges: linear steps of linear/5 up to `linear`, then `per_decade` per decade."""
    edges = [linear * k / 5 for k in range(6)]
    while edges[-1] < end:
        edges.append(edges[-1] * 10 ** (1 / per_decade))
    return edges


def binned_rate(times, edges):
    """Counts per unit of time in the bins [edges[k], edges[k+1]), as step x/y."""
    counts = [0] * (len(edges) - 1)
    k = 0
    for t in sorted(times):
        while k < len(counts) - 1 and t >= edges[k + 1]:
            k += 1
        counts[k] += 1
    ys = [c / (edges[i + 1] - edges[i]) for i, c in enumerate(counts)]
    return list(edges), ys + [ys[-1]]


def step_series(times):
    """Cumulative count as a step line that starts at (0, 0)."""
    xs = [0.0] + times
    ys = [0] + list(range(1, len(times) + 1))
    return xs, ys


def series_index(series, label):
    return next(i for i, s in enumerate(series) if s[0] == label)


def main(argv):
    args, runs = parse_args(argv)
    unit = "s" if args.time_scale == 1.0 else "simulated s"
    if args.throughput or args.latency_by_index:
        heights = [1, 0.8, 1] if args.throughput else [1, 1]
        fig = plt.figure(figsize=(11, 11 if args.throughput else 8.5))
        grid = fig.add_gridspec(len(heights), 1, height_ratios=heights)
        top = fig.add_subplot(grid[0])
        middle = fig.add_subplot(grid[1], sharex=top) if args.throughput else None
        bottom = fig.add_subplot(grid[-1], sharex=None if args.latency_by_index else top)
        time_axes = [a for a in (top, middle) if a is not None]
        if not args.latency_by_index:
            time_axes.append(bottom)
        for axis in time_axes[:-1]:
            axis.tick_params(labelbottom=False)
    else:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8.5), sharex=True,
                                          gridspec_kw={"height_ratios": [1, 1]})
        middle = None
        time_axes = [top, bottom]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    plotted = 0
    first_t0 = None
    series = []
    for path, label in runs:
        series += series_of(path, label, args.split_by)
    summaries = []
    for i, (label, rows, t0) in enumerate(series):
        data = summarize(rows, args.time_scale, t0)
        if data is None:
            print(f"plot_experiment: {label}: no sent messages, skipped", file=sys.stderr)
            continue
        if first_t0 is None:
            first_t0 = data["t0"]
        summaries.append((label, data))
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
        points = data["by_index"] if args.latency_by_index else data["scatter"]
        dx, dy = points["DELIVERED"]
        if dx:
            bottom.scatter(dx, dy, s=size, color=colour, alpha=0.5, linewidths=0,
                           label=f"{label} — DELIVERED", rasterized=True)
        fx, fy = points["failed"]
        if fx:
            bottom.scatter(fx, fy, s=size * 3, color=colour, marker="x", alpha=0.8,
                           linewidths=0.8, label=f"{label} — UNDELIVERED/FAILED", rasterized=True)
        plotted += 1

    if plotted == 0:
        raise SystemExit("plot_experiment: nothing to plot")
    end = max(max([d["last_send"]] + d["delivered"] + d["failed"]) for _, d in summaries)
    if middle is not None:
        width = args.bin or nice_width(end / 60.0)
        for label, data in summaries:
            if not data["delivered"]:
                continue
            if args.log_time:
                xs, ys = binned_rate(data["delivered"], log_edges(end))
            else:
                xs, ys = throughput_series(data["delivered"], width, end)
            colour = colours[series_index(series, label) % len(colours)]
            middle.step(xs, ys, where="post", color=colour, label=label)
        middle.set_ylabel("DELIVERED per simulated s" if unit != "s" else "DELIVERED per s")
        middle.grid(True, alpha=0.3)
        if args.log_time:
            middle.set_title("throughput (log-spaced bins, 10 per decade)", fontsize=10)
            middle.set_yscale("log")
        else:
            middle.set_title(f"throughput (bins of {width:g} {unit})", fontsize=10)
            middle.set_ylim(bottom=0)
        if middle.get_legend_handles_labels()[0]:
            middle.legend(fontsize=8, loc="upper left")
    if args.faults_from:
        origin = args.gateway_start_ns if args.gateway_start_ns is not None else first_t0
        shift = (first_t0 - origin) / 1e9 * args.time_scale
        shades = ["grey", "tab:red", "tab:purple", "tab:olive"]
        faults = scheduled_faults(args.faults_from)
        for k, (carrier, at, kind, duration, extra) in enumerate(faults):
            start, stop = at - shift, at + duration - shift
            for axis in (top, middle, bottom):
                if axis is None:
                    continue
                label = (f"{kind}{extra} on {carrier}: {start:.0f}-{stop:.0f} {unit} "
                         f"(scenario at_seconds {at:g})")
                axis.axvspan(start, stop, color=shades[k % len(shades)], alpha=0.12, linewidth=0,
                             label=label if axis is top else None)
    if args.summary:
        for label, data in summaries:
            print(summary_line(label, data, unit))
    top.set_ylabel("messages (cumulative)")
    top.set_title("final statuses over time (dotted line: last send)", fontsize=10)
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    top.set_ylim(0, max(1.0, top.get_ylim()[1]))
    bottom.set_ylabel(f"send → final status ({unit})")
    if args.latency_by_index:
        bottom.set_xlabel("message rank in acceptance order")
        time_axes[-1].set_xlabel(f"time since first send ({unit})")
    else:
        bottom.set_xlabel(f"send time since first send ({unit})")
    bottom.set_title("end-to-end latency of each finished message", fontsize=10)
    bottom.grid(True, alpha=0.3)
    if args.log_time:
        bottom.set_yscale("log")
    else:
        bottom.set_ylim(bottom=0)
    if args.log_time:
        time_axes[0].set_xscale("symlog", linthresh=1.0, linscale=0.5)
    if args.latency_by_index or not args.log_time:
        bottom.set_xlim(left=0)
    time_axes[0].set_xlim(left=0)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=8, loc="upper left", markerscale=3)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"plot_experiment: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
