"""QEMU's own python/ package (qemu.machine, qemu.qmp), from the QEMU work
tree: env WORK_TREE, default build/qemu of this repository."""

import os
import sys

WORK_TREE = os.environ.get("WORK_TREE") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "build", "qemu")
if not os.path.isdir(os.path.join(WORK_TREE, "python", "qemu")):
    sys.exit("bench: no QEMU work tree with python/qemu at %s: set WORK_TREE"
             % WORK_TREE)
sys.path.insert(0, os.path.join(WORK_TREE, "python"))
from qemu.machine import QEMUMachine  # noqa: E402
from qemu.machine.qtest import QEMUQtestMachine  # noqa: E402

__all__ = ["WORK_TREE", "QEMUMachine", "QEMUQtestMachine"]
