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


def cold_start(home: str) -> tuple[float, float]:
    def best(argv, n=5):
        times = []
        for _ in range(n):
            began = time.perf_counter()
            subprocess.run(
                argv, check=True, capture_output=True, env={**os.environ, "TPUDECK_HOME": home}
            )
            times.append(time.perf_counter() - began)
        return min(times)

    paint = "from tpudeck.tui.app import TpudeckApp\nclass A(TpudeckApp):\n    def on_ready(self): self.exit()\nA().run(headless=True)"
    return best([sys.executable, "-c", paint]), best([sys.executable, "-c", "import textual.app"])


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.makedirs(os.path.join(home, "runs"))
        app_s, textual_s = cold_start(home)
        print(
            f"cold start to first paint: {app_s * 1e3:.0f} ms (bare `import textual.app`: {textual_s * 1e3:.0f} ms, ratio {app_s / textual_s:.1f}x)"
        )

        make_run(home, "20251231-000000-done-0001", 100)
        idle = cpu_percent(home, keys=[])
        print(
            f"CPU idle on the Runs screen, nothing changing (20 s): {idle['cpu_percent']:.1f}% of one core"
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
                f"CPU while following a run that logs 10 steps/s (20 s): {idle['cpu_percent']:.1f}% of one core"
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
            f"event to screen: median {latency['median_ms']:.0f} ms, worst {latency['max_ms']:.0f} ms (follow period 500 ms)"
        )

        render = child("""
            from textual.app import App
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
                        for i in range(n):
                            plot.add("train", i, 5.0 / (i + 1))
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
        memory = child("""
            import psutil
            async def main():
                app = TpudeckApp()
                async with app.run_test(size=(120, 36)) as pilot:
                    await pilot.pause(3)
                    await pilot.press("enter")  # the newest run: the one with a million events
                    for _ in range(200):
                        await pilot.pause(0.1)
                        if len(app.screen.query_one("#loss-plot").series.get("train", [])) >= 10**6:
                            break
                    print(json.dumps({"rss_mb": psutil.Process().memory_info().rss / 1e6,
                                      "points": len(app.screen.query_one("#loss-plot").series["train"])}))
            asyncio.run(main())
        """, home)  # fmt: skip
        print(
            f"RSS with 100 runs, one of 10^6 events open: {memory['rss_mb']:.0f} MB ({memory['points']:,} points loaded)"
        )


if __name__ == "__main__":
    main()
