# File: tools/metrics_series.py
#
# Helpers shared by the plot scripts that read a run's metrics.jsonl
# (tools/plot_grpo.py, tools/plot_post_training.py): JSON-lines loading with
# an error naming the file, one metric's (steps, values) series, and a
# trailing moving average.
import json
import sys


def load_jsonl(path, program):
    """The objects of a JSON-lines file; exits naming `program` and the file on error."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{program}: {path}: {e}")


def series(records, key):
    """(steps, values) of the records that carry `key`."""
    pts = [(r["step"], r[key]) for r in records if key in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def moving_average(values, window):
    """Mean of the last `window` values at each point (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
