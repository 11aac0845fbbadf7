"""Per-chip TPU lines: duty-cycle and HBM bars, and a duty-cycle sparkline of the history.

Text only, so a chip costs one line over SSH. The sparkline is drawn here rather than with
Textual's Sparkline, which scales to the data's own min and max: 1% next to 2% would look
like idle next to flat out. Here the scale is always 0-100%.
"""

from __future__ import annotations

from textual.markup import escape

BAR_WIDTH = 16
SPARK_WIDTH = 30
GIB = 2**30
LEVELS = " ▁▂▃▄▅▆▇█"


def bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    if fraction is None:
        return "·" * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def spark(percents: list[float], width: int = SPARK_WIDTH) -> str:
    """The last `width` values as one character each, on a fixed 0-100 scale."""
    top = len(LEVELS) - 1
    return "".join(LEVELS[round(max(0.0, min(100.0, p)) / 100 * top)] for p in percents[-width:])


def duty_history(readings, chip: int) -> list[float]:
    """The chip's duty cycle over the readings that have it (gaps are skipped)."""
    values = []
    for reading in readings:
        chips = reading.values["chips"] if reading.available else []
        if chip < len(chips) and chips[chip]["duty_cycle_percent"] is not None:
            values.append(chips[chip]["duty_cycle_percent"])
    return values


def chip_line(chip: dict, history: list[float]) -> str:
    duty, used, total = chip["duty_cycle_percent"], chip["hbm_used"], chip["hbm_total"]
    hbm = used / total if used is not None and total else None
    duty_text = " n/a" if duty is None else f"{duty:3.0f}%"
    hbm_text = "n/a" if used is None else f"{used / GIB:.1f}/{(total or 0) / GIB:.0f} GiB"
    return (
        f"chip {chip['chip']}  busy {bar(None if duty is None else duty / 100)} {duty_text}"
        f"  [$accent]{spark(history)}[/]   HBM {bar(hbm)} {hbm_text}"
    )


def chips_panel(readings: list) -> str:
    """The TPU runtime section of the Devices screen from the sampler's history."""
    latest = readings[-1]
    if not latest.available:
        return f"[b]TPU runtime[/b]  not available: {escape(latest.reason)}"
    missing = latest.values["missing"]
    lines = [
        "[b]TPU runtime[/b]  per chip: TensorCore duty cycle, its recent history, HBM"
        + (f"  (this libtpu does not report: {escape(', '.join(missing))})" if missing else "")
    ]
    lines += [chip_line(c, duty_history(readings, c["chip"])) for c in latest.values["chips"]]
    return "\n".join(lines)


def input_bound_hint(tpu, host) -> str | None:
    """Low duty cycle while the host CPU is busy: the input pipeline starves the TPU."""
    if not (tpu.available and host.available):
        return None
    duties = [c["duty_cycle_percent"] for c in tpu.values["chips"]]
    cores = host.values["cpu_percent"]
    if None in duties or not duties or not cores:
        return None
    duty, cpu = sum(duties) / len(duties), sum(cores) / len(cores)
    if duty < 50 and cpu > 80:
        return (
            f"TPU {duty:.0f}% busy while the host CPU is {cpu:.0f}% busy: the input pipeline "
            "is likely the bottleneck"
        )
    return None


def run_devices_panel(tpu, memory: dict | None, compiled: dict | None = None) -> str:
    """The Run screen's device lines: what the step was compiled for, libtpu's per-chip view
    (while this run holds the TPU) and the trainer's own memory report (peak and in-use
    bytes of its busiest device)."""
    lines = ["[b]devices[/b]"]
    if compiled and compiled.get("platform"):
        lines.append(f"{compiled['devices']} x {escape(compiled['device_kind'])}")
    if tpu is not None and tpu.available:
        chips = tpu.values["chips"]
        busy = " ".join(
            "n/a" if c["duty_cycle_percent"] is None else f"{c['duty_cycle_percent']:.0f}%"
            for c in chips
        )
        used = " ".join(
            "n/a" if c["hbm_used"] is None else f"{c['hbm_used'] / GIB:.1f}" for c in chips
        )
        total = chips[0]["hbm_total"]
        lines += [
            f"TPU busy {busy}",
            f"HBM {used}" + (f" of {total / GIB:.0f} GiB" if total else " GiB"),
        ]
    elif tpu is not None:  # one line: the Devices screen has the whole explanation
        lines.append(f"TPU runtime: {escape(tpu.reason.split('. ')[0].split(chr(10))[0])}")
    if memory and memory.get("bytes_in_use"):
        busiest = max(
            range(len(memory["bytes_in_use"])), key=lambda i: memory["peak_bytes_in_use"][i] or 0
        )
        limit = memory["bytes_limit"][busiest]
        lines.append(
            f"trainer: {memory['bytes_in_use'][busiest] / GIB:.2f} GiB in use, peak "
            f"{(memory['peak_bytes_in_use'][busiest] or 0) / GIB:.2f}"
            + (f" of {limit / GIB:.1f} GiB" if limit else " GiB")
            + f" (device {busiest}, step {memory.get('step')})"
        )
    if len(lines) == 1:
        lines.append("none reported yet")
    return "\n".join(lines)
