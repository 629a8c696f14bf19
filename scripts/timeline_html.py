#!/usr/bin/env python3
"""Writes a sllmsim timeline.json (Chrome trace events) as one self-contained HTML page: the trace inlined and
a small canvas viewer, so that it opens from file:// in any browser, with no network.

   scripts/timeline_html.py RUN_DIR/timeline.json OUT.html [--start S] [--end S]

The page shows a time axis in seconds, one row per GPU grouped by server (slices coloured by name, with a
legend), one step plot per link counter (bytes/s), sampled requests as nested async slices packed into
lanes, and placement decisions as markers on their server's row. Wheel: zoom; drag: pan; hover: the slice's
name, start, duration and args; click a group's name: fold it; double-click: the whole window again.

--start/--end (seconds) keep only the events that touch that window (the counters' values in force when it
opens included) and open the page on it: a smaller page for a long run. Bad input exits with status 2.
"""
import argparse
import json
import math
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VIEWER_JS = os.path.join(HERE, "timeline_html.js")
PHASES = {"M", "X", "C", "i", "I", "b", "e"}  # what sllmsim writes and the viewer draws


class InputError(Exception):
    pass


def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_event(e, where):
    """Raises InputError naming `where` (traceEvents[i]) unless `e` is an event the viewer can draw."""
    if not isinstance(e, dict):
        raise InputError(f"{where}: expected an object, got {type(e).__name__}")
    ph = e.get("ph")
    if ph not in PHASES:
        raise InputError(f"{where}: 'ph' is {ph!r}; expected one of {', '.join(sorted(PHASES))}")
    if not isinstance(e.get("name"), str):
        raise InputError(f"{where}: 'name' must be a string")
    for key in ("pid", "tid"):
        if key in e and not (isinstance(e[key], int) and not isinstance(e[key], bool)):
            raise InputError(f"{where}: '{key}' must be an integer, got {e[key]!r}")
    if "pid" not in e:
        raise InputError(f"{where}: missing 'pid'")
    if "args" in e and not isinstance(e["args"], dict):
        raise InputError(f"{where}: 'args' must be an object")
    if ph == "M":
        return
    if not number(e.get("ts")) or e["ts"] < 0:
        raise InputError(f"{where}: 'ts' must be a non-negative number of microseconds, got {e.get('ts')!r}")
    if ph == "X" and (not number(e.get("dur")) or e["dur"] < 0):
        raise InputError(f"{where}: a complete slice needs 'dur' >= 0 (microseconds), got {e.get('dur')!r}")
    if ph == "C" and not (e.get("args") and all(number(v) for v in e["args"].values())):
        raise InputError(f"{where}: a counter needs 'args' with numeric values, got {e.get('args')!r}")
    if ph in "be" and not isinstance(e.get("id"), (int, str)):
        raise InputError(f"{where}: an async event needs an 'id' (integer or string)")


def read_trace(path):
    """The trace document as a dict with 'traceEvents' (the JSON array form is accepted too)."""
    def reject_constant(name):
        raise InputError(f"{name} is not a JSON number")

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, parse_constant=reject_constant)
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"line {err.lineno} column {err.colno}: not valid JSON: {err.msg}") from None
    if isinstance(doc, list):
        doc = {"traceEvents": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        raise InputError("expected a trace-event object with a 'traceEvents' array")
    if "otherData" in doc and not isinstance(doc["otherData"], dict):
        raise InputError("'otherData' must be an object")
    for i, e in enumerate(doc["traceEvents"]):
        check_event(e, f"traceEvents[{i}]")
    opened = {}
    for i, e in enumerate(doc["traceEvents"]):  # every async begin has its end, and the other way round
        if e["ph"] in "be":
            key = (e["pid"], e.get("cat"), e["id"], e["name"])
            opened[key] = opened.get(key, 0) + (1 if e["ph"] == "b" else -1)
            if opened[key] < 0:
                raise InputError(f"traceEvents[{i}]: async end of {e['name']!r} id {e['id']!r} without a begin")
    unclosed = [key for key, n in opened.items() if n]
    if unclosed:
        raise InputError(f"async begin of {unclosed[0][3]!r} id {unclosed[0][2]!r} without an end")
    return doc


def crop(events, start_us, end_us):
    """The events that touch [start_us, end_us], in their order: slices overlapping it, instants and counter
    values inside it, the counter values in force when it opens, and whole async requests that overlap it."""
    last_before = {}  # counter (pid, name) -> index of its last value before the window
    span = {}  # async (pid, cat, id) -> [first ts, last ts]
    for i, e in enumerate(events):
        if e["ph"] == "C" and e["ts"] < start_us:
            last_before[(e["pid"], e["name"])] = i
        elif e["ph"] in "be":
            s = span.setdefault((e["pid"], e.get("cat"), e["id"]), [e["ts"], e["ts"]])
            s[0], s[1] = min(s[0], e["ts"]), max(s[1], e["ts"])
    carried = set(last_before.values())

    def keep(i, e):
        ph, ts = e["ph"], e.get("ts")
        if ph == "M":
            return True
        if ph == "X":
            return ts <= end_us and ts + e["dur"] >= start_us
        if ph == "C":
            return i in carried or start_us <= ts <= end_us
        if ph in "be":
            first, last = span[(e["pid"], e.get("cat"), e["id"])]
            return first <= end_us and last >= start_us
        return start_us <= ts <= end_us

    return [e for i, e in enumerate(events) if keep(i, e)]


def inline_json(value):
    # '<' escaped as \u003c (still the same JSON) so that no "</script>" or "<!--" can end the element early.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def write_html(out_path, doc, meta):
    with open(VIEWER_JS, encoding="utf-8") as f:
        viewer = f.read()
    title = f"{meta['file']} - sllmsim timeline"
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<title>{title.replace('&', '&amp;').replace('<', '&lt;')}</title>\n<style>\n"
        "html,body{margin:0;height:100%;overflow:hidden;font:13px system-ui,sans-serif;color:#222}\n"
        "body{display:flex;flex-direction:column}\n"
        "#head{padding:6px 10px 4px;border-bottom:1px solid #ccc;background:#fafafa}\n"
        "#title{font-weight:600;font-size:15px}#title span{font-weight:400;color:#555;font-size:13px}\n"
        "#legend{display:flex;flex-wrap:wrap;gap:3px 14px;margin-top:4px}\n"
        "#legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}\n"
        "#view{flex:1;position:relative}canvas{position:absolute;left:0;top:0}\n"
        "#tip{position:fixed;display:none;pointer-events:none;background:#fff;border:1px solid #888;"
        "padding:4px 7px;font-size:12px;box-shadow:2px 2px 6px #0003;max-width:420px}\n"
        "#tip td{padding:0 6px 0 0}\n"
        "</style></head><body>\n"
        "<div id=\"head\"><div id=\"title\"></div><div id=\"legend\"></div></div>\n"
        "<div id=\"view\"><canvas id=\"canvas\"></canvas></div><div id=\"tip\"></div>\n"
        f"<script type=\"application/json\" id=\"meta\">{inline_json(meta)}</script>\n"
        f"<script type=\"application/json\" id=\"trace\">{inline_json(doc)}</script>\n"
        f"<script>\n{viewer}</script>\n</body></html>\n"
    )
    # Written under a temporary name and renamed: a failed run leaves nothing half-written.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(out_path)), prefix=".timeline_html.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("timeline", help="timeline.json written by sllmsim run (output.timeline)")
    ap.add_argument("out", help="the HTML page to write")
    ap.add_argument("--start", type=float, help="window start, seconds")
    ap.add_argument("--end", type=float, help="window end, seconds")
    args = ap.parse_args()  # exits 2 on a bad flag
    for flag in ("start", "end"):
        value = getattr(args, flag)
        if value is not None and (not math.isfinite(value) or value < 0):
            ap.error(f"--{flag} must be a non-negative number of seconds, got {value}")
    if args.start is not None and args.end is not None and args.end <= args.start:
        ap.error(f"--end ({args.end}) must be after --start ({args.start})")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        ap.error(f"{args.out}: folder {out_dir} does not exist")
    if os.path.isdir(args.out):
        ap.error(f"{args.out}: is a folder; expected the HTML file to write")
    try:
        doc = read_trace(args.timeline)
    except InputError as err:
        print(f"timeline_html.py: {args.timeline}: {err}", file=sys.stderr)
        return 2
    view = None
    if args.start is not None or args.end is not None:
        start = args.start if args.start is not None else 0.0
        end = args.end if args.end is not None else math.inf
        doc = dict(doc, traceEvents=crop(doc["traceEvents"], start * 1e6, end * 1e6))
        view = [start, None if math.isinf(end) else end]
    write_html(args.out, doc, {"file": os.path.basename(args.timeline), "view": view})
    drawn = sum(1 for e in doc["traceEvents"] if e["ph"] != "M")
    print(f"{args.out}: {drawn} events, {os.path.getsize(args.out) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
