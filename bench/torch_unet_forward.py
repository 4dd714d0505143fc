"""PyTorch side of bench/fp32-forward.ts: improved-diffusion's own UNetModel on CPU, timed per forward. Runs as a
child process: reads "run <batch> <iterations>" lines on stdin, answers one JSON line each with the per-iteration
milliseconds. The bench passes the model flags (a JSON file of create_model's arguments) and the weights (.npz of
state_dict keys) so both sides run the same network. Needs Debian's python3-torch and an improved-diffusion
checkout (IMPROVED_DIFFUSION=/path/to/improved-diffusion).
Usage: /usr/bin/python3 bench/torch_unet_forward.py THREADS FLAGS.json WEIGHTS.npz
"""
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("IMPROVED_DIFFUSION", "../improved-diffusion"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from improved_diffusion.script_util import create_model  # noqa: E402


def load_model(flags_path, weights_path):
    """create_model(**flags) with the .npz weights loaded strictly, in eval mode."""
    with open(flags_path) as f:
        flags = json.load(f)
    model = create_model(**flags).eval()
    with np.load(weights_path) as npz:
        state = {key: torch.from_numpy(npz[key]) for key in npz.files}
    model.load_state_dict(state, strict=True)
    return model, flags


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    model, flags = load_model(sys.argv[2], sys.argv[3])
    size = flags["image_size"]
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "parameters": sum(p.numel() for p in model.parameters())}), flush=True)
    for line in sys.stdin:
        _, batch, iterations = line.split()
        batch, iterations = int(batch), int(iterations)
        x = torch.randn(batch, 3, size, size)
        t = torch.full((batch,), 500.25)
        times = []
        with torch.no_grad():
            for _ in range(iterations):
                start = time.perf_counter()
                model(x, t)
                times.append((time.perf_counter() - start) * 1000)
        print(json.dumps({"ms": times}), flush=True)


if __name__ == "__main__":
    main()
