"""The app's costs: cold start, idle CPU while following, event latency, plot render, memory.

    python bench/tui.py

Each figure comes from a fresh child process on a fake run store in a temp dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from app_child import child, cpu_percent

from tpudeck.tui.screens.run import FOLLOW_SECONDS


def make_run(home: str, run_id: str, events: int, state: str = "finished") -> str:
    path = os.path.join(home, "runs", run_id)
    os.makedirs(path)
    with open(os.path.join(path, "status.json"), "w") as f:
        json.dump(
            {
                "state": state,
                "pid": os.getpid(),
                "step": events,
                "total_steps": 10**7,
                "created": time.time(),
            },
            f,
        )
    with open(os.path.join(path, "events.jsonl"), "w") as f:
        for step in range(1, events + 1):
            f.write(json.dumps({"t": 0, "kind": "step", "step": step, "total_steps": 10**7, "loss": 5.0 / step,
                                "lr": 1e-3, "tokens_per_s": 1000.0, "steps_per_s": 10.0}) + "\n")  # fmt: skip
    open(os.path.join(path, "stdout.log"), "w").close()
    return path


def cold_start(home: str) -> dict[str, tuple[float, float]]:
    """Best of 7 fresh processes, ours and a bare Textual app's: (launch to the first paint,
    launch to the process's end when it quits at once)."""

    # As a user's Python runs: sources compiled once and their bytecode kept (some machines
    # set PYTHONDONTWRITEBYTECODE, which compiles every changed module at every start).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TPUDECK_HOME"] = home

    def best(code: str, n: int = 7) -> tuple[float, float]:
        painted, ended = [], []
        for _ in range(n):
            began = time.time()
            done = subprocess.run([sys.executable, "-c", code + paint], check=True,
                                  capture_output=True, text=True,
                                  env=env)  # fmt: skip
            ended.append(time.time() - began)
            painted.append(float(done.stdout.split()[0]) - began)
        return min(painted), min(ended)

    ours = "from tpudeck.tui.app import TpudeckApp as A\n"
    # The baseline: a bare Textual app with one widget, to its first paint the same way.
    bare = "from textual.app import App\nfrom textual.widgets import Static\nclass A(App):\n    def compose(self): yield Static('runs')\n"
    # on_ready: the first screen has been drawn (Textual posts Ready after its first paint)
    paint = "import time\nclass B(A):\n    def on_ready(self):\n        print(time.time(), flush=True)\n        self.exit()\nB().run(headless=True)"
    return {"ours": best(ours), "bare": best(bare)}


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(os.path.join(home, "runs"))
        starts = cold_start(home)
        (app_s, app_end), (textual_s, textual_end) = starts["ours"], starts["bare"]
        print(
            f"cold start to first paint: {app_s * 1e3:.0f} ms (a bare Textual app's: {textual_s * 1e3:.0f} ms), ratio {app_s / textual_s:.2f}x (bound <= 1.5x)"
        )
        print(
            f"launch to exit, quitting at the first paint: {app_end * 1e3:.0f} ms (bare: {textual_end * 1e3:.0f} ms), ratio {app_end / textual_end:.2f}x"
        )

        make_run(home, "20251231-000000-done-0001", 100)
        idle = cpu_percent(home, keys=[])
        print(
            f"CPU idle on the Runs screen, nothing changing (20 s): {idle['cpu_percent']:.1f}% of one core (bound <= 1%)"
        )

        live = make_run(home, "20260101-000000-live-0001", 10, state="training")
        writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import json, time
            step = 10
            while True:
                step += 1
                with open({os.path.join(live, 'events.jsonl')!r}, 'a') as f:
                    f.write(json.dumps({{"t": time.time(), "kind": "step", "step": step, "total_steps": 10**7, "loss": 1.0 / step, "lr": 1e-3, "tokens_per_s": 1000.0, "steps_per_s": 10.0}}) + "\\n")
                time.sleep(0.1)
        """)])  # fmt: skip
        try:
            idle = cpu_percent(home, keys=["enter"])  # the newest run: the live one
            print(
                f"CPU while following a run that logs 10 steps/s (20 s): {idle['cpu_percent']:.1f}% of one core (bound <= 3%)"
            )
        finally:
            writer.kill()  # the latency probe must be the newest event on screen
        latency = child(f"""
            async def main():
                app = TpudeckApp()
                path = {os.path.join(live, 'events.jsonl')!r}
                async with app.run_test(size=(120, 36)) as pilot:
                    await pilot.pause(2)
                    await pilot.press("enter")
                    await pilot.pause(2)
                    delays = []
                    for i in range(10):
                        marker = 9.0 + i / 1000
                        began = time.monotonic()
                        with open(path, "a") as f:
                            f.write(json.dumps({{"t": 0, "kind": "step", "step": 10**6 + i, "total_steps": 10**7, "loss": marker}}) + "\\n")
                        while f"loss {{marker:.4f}}" not in str(app.screen.query_one("#summary").render()):
                            await asyncio.sleep(0.005)
                        delays.append(time.monotonic() - began)
                        await asyncio.sleep(0.3)
                    print(json.dumps({{"median_ms": 1e3 * sorted(delays)[5], "max_ms": 1e3 * max(delays)}}))
            asyncio.run(main())
        """, home)  # fmt: skip
        print(
            f"event to screen: median {latency['median_ms']:.0f} ms, worst {latency['max_ms']:.0f} ms (the Run screen reads its run every {FOLLOW_SECONDS * 1e3:.0f} ms)"
        )

        render = child("""
            from array import array
            from textual.app import App
            from tpudeck.core.runs.event_summary import Curve
            from tpudeck.tui.widgets.curves import CurvePlot
            results = {}
            class PlotApp(App):
                def compose(self):
                    yield CurvePlot("loss", id="p")
            async def main():
                app = PlotApp()
                async with app.run_test(size=(120, 36)) as pilot:
                    plot = app.query_one(CurvePlot)
                    for n in (10**4, 10**5, 10**6):
                        plot.series.clear()
                        plot.extend("train", Curve(array("d", range(n)), array("d", (5.0 / (i + 1) for i in range(n)))))
                        began = time.perf_counter()
                        plot.redraw()
                        plot.render()
                        results[n] = 1e3 * (time.perf_counter() - began)
                print(json.dumps(results))
            asyncio.run(main())
        """, home)  # fmt: skip
        print(
            "loss plot redraw+render: "
            + ", ".join(f"{int(n):,} points {ms:.1f} ms" for n, ms in render.items())
        )

        for i in range(99):
            make_run(home, f"20260102-{i:06d}-run-{i:04d}", 50)
        make_run(home, "20260103-000000-big-0001", 10**6)
        opening = """
            import psutil
            async def main():
                app = TpudeckApp()
                async with app.run_test(size=(120, 36)) as pilot:
                    await pilot.pause(3)
                    began = time.perf_counter()
                    await pilot.press("enter")  # the newest run: the one with a million events
                    while True:
                        await pilot.pause(0.02)
                        plots = app.screen.query("#loss-plot")
                        if plots and len(plots.first().series.get("train", ())) >= 10**6:
                            break
                    opened = time.perf_counter() - began
                    await pilot.pause(2)  # settled: what the open screen holds, not the read
                    print(json.dumps({"open_s": opened,
                                      "rss_mb": psutil.Process().memory_info().rss / 1e6}))
            asyncio.run(main())
        """
        first, again = child(opening, home), child(opening, home)  # the first saves the summary
        print(
            f"Run screen of a 10^6-event run, to all its points: {first['open_s']:.2f} s with no summary yet, "
            f"{again['open_s']:.2f} s from events.summary (bound <= 1 s)"
        )
        print(
            f"RSS with 100 runs, the 10^6-event run open: {first['rss_mb']:.0f} MB, "
            f"{again['rss_mb']:.0f} MB from the summary (bound <= 150 MB)"
        )


if __name__ == "__main__":
    main()
