"""TPU chips on this VM, found as tpu-info finds them: Google's PCI vendor id in sysfs.

The chip table is public PCI data (device id, and subsystem id for v2/v3 which share
one); HBM sizes are the published per-chip figures. On v2/v3 one chip is two jax devices.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .reading import Reading, unavailable

GOOGLE_PCI_VENDOR = "0x1ae0"
SYSFS_PCI = Path("/sys/bus/pci/devices")


@dataclasses.dataclass(frozen=True)
class ChipKind:
    name: str
    hbm_gib: int
    devices_per_chip: int
    device_node: str  # "/dev/accel{i}" or "/dev/vfio/{i}"


V2 = ChipKind("v2", 8, 2, "/dev/accel{}")
V3 = ChipKind("v3", 16, 2, "/dev/accel{}")
BY_DEVICE_ID = {
    "0x005e": ChipKind("v4", 32, 1, "/dev/accel{}"),
    "0x0063": ChipKind("v5e", 16, 1, "/dev/vfio/{}"),
    "0x0062": ChipKind("v5p", 95, 1, "/dev/vfio/{}"),
    "0x006f": ChipKind("v6e", 32, 1, "/dev/vfio/{}"),
}


def chip_kind(device_id: str, subsystem_id: str) -> ChipKind | None:
    if device_id == "0x0027":  # v2 and v3 share a device id
        return {"0x004e": V2, "0x004f": V3}.get(subsystem_id)
    return BY_DEVICE_ID.get(device_id)


def _read(path: Path) -> str:
    return path.read_text().strip()


class TpuChipsProbe:
    source = "tpu"

    def __init__(self, sysfs_pci: Path = SYSFS_PCI):
        self.sysfs_pci = Path(sysfs_pci)

    @classmethod
    def from_env(cls) -> TpuChipsProbe:
        """The real PCI tree, or TPUDECK_SYSFS_PCI's (tests, unusual machines)."""
        return cls(Path(os.environ.get("TPUDECK_SYSFS_PCI", SYSFS_PCI)))

    def sample(self) -> Reading:
        if not self.sysfs_pci.is_dir():
            return unavailable(self.source, f"no PCI tree at {self.sysfs_pci}")
        chips = []
        try:
            for device in sorted(self.sysfs_pci.iterdir()):
                if _read(device / "vendor") != GOOGLE_PCI_VENDOR:
                    continue
                kind = chip_kind(_read(device / "device"), _read(device / "subsystem_device"))
                if kind is not None:
                    chips.append((device.name, kind))
        except PermissionError as exc:
            return unavailable(self.source, f"cannot read {exc.filename}: permission denied")
        except OSError as exc:
            return unavailable(self.source, f"cannot read the PCI tree: {exc}")
        if not chips:
            return unavailable(self.source, "no TPU chips on this machine")
        return Reading(
            self.source,
            {
                "chips": [
                    {
                        "pci": pci,
                        "kind": kind.name,
                        "hbm_gib": kind.hbm_gib,
                        "node": kind.device_node.format(i),
                        "jax_devices": kind.devices_per_chip,
                    }
                    for i, (pci, kind) in enumerate(chips)
                ]  # fmt: skip
            },
        )
