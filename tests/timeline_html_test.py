#!/usr/bin/env python3
"""ctest timeline_html_test: scripts/timeline_html.py on the timeline of a short default run.

The page inlines the trace unchanged (its JSON parses and equals the input document), refers to nothing
outside itself (it must open from file:// without a network), and a --start/--end cut keeps exactly what
touches the window: the slices overlapping it, the counters' values in force in it, whole requests. Bad
input (unreadable, not JSON, not a trace, a malformed event, an async begin without its end, bad flags)
exits with status 2, names the file and writes nothing. No browser is needed.

usage: timeline_html_test.py SLLMSIM
"""
import bisect
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "timeline_html.py")
SLLMSIM = None
WORK = None


def generate(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def inlined(html, element_id):
    found = re.findall(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert len(found) == 1, f"{len(found)} elements with id {element_id}"
    return json.loads(found[0])


def counters(events):
    """counter name -> its values (ts, bytes/s) in time order."""
    series = {}
    for e in events:
        if e["ph"] == "C":
            series.setdefault(e["name"], []).append((e["ts"], e["args"]["bytes_per_s"]))
    return series


def value_at(series, t_us):
    """A counter's value in force at t (the last value written at or before t; None before the first)."""
    i = bisect.bisect_right(series, (t_us, math.inf))
    return series[i - 1][1] if i else None


def setUpModule():
    global WORK
    WORK = tempfile.TemporaryDirectory(prefix="timeline_html_test.")
    run = subprocess.run(
        [SLLMSIM, "run", "-c", os.path.join(ROOT, "configs", "default.yaml"), "-o", os.path.join(WORK.name, "run"),
         "--set", "workload.requests=400", "--set", "output.timeline={request_sample: 0.25}", "-q"],
        capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def tearDownModule():
    WORK.cleanup()


class TimelineHtml(unittest.TestCase):
    def setUp(self):
        self.trace_path = os.path.join(WORK.name, "run", "timeline.json")
        with open(self.trace_path) as f:
            self.trace = json.load(f)
        self.events = self.trace["traceEvents"]

    def page(self, *flags):
        out = os.path.join(WORK.name, "page.html")
        done = generate(self.trace_path, out, *flags)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(out, encoding="utf-8") as f:
            return f.read()

    def test_the_run_has_every_kind_of_event(self):  # else the checks below would check little
        phases = {e["ph"] for e in self.events}
        self.assertTrue({"M", "X", "C", "i", "b", "e"} <= phases, phases)

    def test_page_inlines_the_trace_unchanged(self):
        html = self.page()
        self.assertEqual(inlined(html, "trace"), self.trace)
        self.assertEqual(inlined(html, "meta"), {"file": "timeline.json", "view": None})

    def test_page_needs_nothing_outside_itself(self):
        html = self.page()
        outside = re.findall(r"\b(?:src|href)\s*=|https?:|url\(|@import|fetch\(|XMLHttpRequest|import\(", html)
        self.assertEqual(outside, [])
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        self.assertEqual([attrs for attrs, _ in scripts],
                         [' type="application/json" id="meta"', ' type="application/json" id="trace"', ""])
        self.assertIn("getContext", scripts[-1][1])  # the viewer itself, inline

    def test_window_keeps_what_touches_it(self):
        start, end = 100.0, 200.0
        lo, hi = start * 1e6, end * 1e6
        kept = inlined(self.page("--start", str(start), "--end", str(end)), "trace")
        self.assertEqual(kept["otherData"], self.trace["otherData"])
        cut = kept["traceEvents"]
        it = iter(self.events)  # a subsequence of the input, in its order
        self.assertTrue(all(any(e == f for f in it) for e in cut))
        overlapping = [e for e in self.events if e["ph"] == "X" and e["ts"] <= hi and e["ts"] + e["dur"] >= lo]
        self.assertGreater(len(overlapping), 0)
        self.assertEqual([e for e in cut if e["ph"] == "X"], overlapping)
        self.assertEqual([e for e in cut if e["ph"] == "M"], [e for e in self.events if e["ph"] == "M"])
        self.assertEqual([e for e in cut if e["ph"] == "i"],
                         [e for e in self.events if e["ph"] == "i" and lo <= e["ts"] <= hi])
        full, kept_series = counters(self.events), counters(cut)
        times = sorted({lo, hi} | {e["ts"] for e in self.events if e["ph"] == "C" and lo <= e["ts"] <= hi})
        for name, series in full.items():
            for t in times:
                self.assertEqual(value_at(kept_series.get(name, []), t), value_at(series, t), (name, t))
        spans, whole = {}, {}
        for e in self.events:
            if e["ph"] in "be":
                spans.setdefault(e["id"], []).append(e["ts"])
                whole.setdefault(e["id"], []).append(e)
        overlap = {i for i, ts in spans.items() if min(ts) <= hi and max(ts) >= lo}
        self.assertGreater(len(overlap), 0)
        self.assertLess(len(overlap), len(spans))
        for i in spans:
            self.assertEqual([e for e in cut if e["ph"] in "be" and e["id"] == i], whole[i] if i in overlap else [])
        self.assertEqual(inlined(self.page("--start", "100", "--end", "200"), "meta")["view"], [start, end])

    def check_refused(self, args, *words, out=None):
        out = out or os.path.join(WORK.name, "refused.html")
        done = generate(*args, out) if out not in args else generate(*args)
        self.assertEqual(done.returncode, 2, done.stderr)
        for word in words:
            self.assertIn(word, done.stderr)
        self.assertFalse(os.path.exists(out), "a refused input must write nothing")

    def bad_trace(self, name, text):
        path = os.path.join(WORK.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_bad_input_exits_2_naming_the_file(self):
        missing = os.path.join(WORK.name, "missing.json")
        self.check_refused([missing], missing, "cannot read")
        with open(self.trace_path) as f:
            text = f.read()
        truncated = self.bad_trace("truncated.json", text[: len(text) // 2])
        self.check_refused([truncated], truncated, "not valid JSON", "line ")
        self.check_refused([self.bad_trace("nan.json", '{"traceEvents": [{"ph": "X", "name": "a", "pid": 0, '
                                           '"ts": NaN, "dur": 1}]}')], "nan.json", "NaN")
        self.check_refused([self.bad_trace("object.json", '{"events": []}')], "object.json", "traceEvents")

        def with_event(name, change):
            events = json.loads(text)["traceEvents"]
            k = next(i for i, e in enumerate(events) if e["ph"] == "X")
            change(events, k)
            return self.bad_trace(name, json.dumps({"traceEvents": events})), f"traceEvents[{k}]"

        path, where = with_event("nodur.json", lambda ev, k: ev[k].pop("dur"))
        self.check_refused([path], "nodur.json", where, "'dur'")
        path, where = with_event("negts.json", lambda ev, k: ev[k].update(ts=-5))
        self.check_refused([path], "negts.json", where, "'ts'")
        path, where = with_event("phase.json", lambda ev, k: ev[k].update(ph="Q"))
        self.check_refused([path], "phase.json", where, "'ph'")
        events = json.loads(text)["traceEvents"]
        end = next(i for i, e in enumerate(events) if e["ph"] == "e" and e["name"] == "request")
        unended = self.bad_trace("unended.json", json.dumps({"traceEvents": events[:end] + events[end + 1:]}))
        self.check_refused([unended], "unended.json", "without an end")

    def test_bad_flags_exit_2(self):
        self.check_refused([self.trace_path, "--start", "50", "--end", "20"], "--end")
        self.check_refused([self.trace_path, "--start", "-1"], "--start")
        self.check_refused([self.trace_path, "--end", "nan"], "--end")
        nowhere = os.path.join(WORK.name, "no-such-folder", "page.html")
        self.check_refused([self.trace_path, nowhere], "does not exist", out=nowhere)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    SLLMSIM = sys.argv.pop(1)
    unittest.main(verbosity=2)
