"""Where a benchmark ran, for its JSON: device, its model name, load, versions."""

from __future__ import annotations

import os
import platform


def cpu_model():
    """The processor's model name (``platform.processor()`` is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device):
    """JSON-able facts about the machine that ran on ``device`` ("cpu", "cuda", ...)."""
    import torch

    cuda = str(device).startswith("cuda")
    return dict(
        device=str(device),
        device_name=torch.cuda.get_device_name(torch.device(device)) if cuda else cpu_model(),
        cpu=cpu_model(), cpu_count=os.cpu_count(), load_average=os.getloadavg(),
        torch=torch.__version__, platform=platform.platform(),
    )


def mnist_folder(root):
    """The first of ``$SKPOISON_MNIST_DIR``, ``$SKPOISON_DATA/mnist`` (skpoison's
    data home) and the team's shared copy beside the repository ``root`` that
    holds the MNIST IDX files (the last one if none does)."""
    from pathlib import Path

    candidates = [Path(os.environ[name]) / sub for name, sub in
                  (("SKPOISON_MNIST_DIR", ""), ("SKPOISON_DATA", "mnist"))
                  if os.environ.get(name)]
    candidates.append(Path(root).parent / "shared" / "data" / "mnist")
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file():
            return folder
    return candidates[-1]


def probe_env(root):
    """This process's environment for a probe subprocess, with the repository
    ``root`` first on PYTHONPATH (a path set before, wheels carried to
    /tmp/site say, stays after it)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(root) + (os.pathsep + path if path else "")}
