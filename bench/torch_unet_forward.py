"""PyTorch side of bench/fp32-forward.ts: improved-diffusion's own UNetModel (CIFAR-10 flags, random weights) on
CPU, timed per forward. Runs as a child process: reads "run <batch> <iterations>" lines on stdin, answers one JSON
line each with the per-iteration milliseconds. Needs Debian's python3-torch and an improved-diffusion checkout
(IMPROVED_DIFFUSION=/path/to/improved-diffusion). Usage: /usr/bin/python3 bench/torch_unet_forward.py THREADS
"""
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("IMPROVED_DIFFUSION", "../improved-diffusion"))
import torch  # noqa: E402
from improved_diffusion.script_util import create_model  # noqa: E402

threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = create_model(
    image_size=32, num_channels=128, num_res_blocks=3, learn_sigma=True, class_cond=False, use_checkpoint=False,
    attention_resolutions="16,8", num_heads=4, num_heads_upsample=-1, use_scale_shift_norm=True, dropout=0.3,
).eval()
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "parameters": sum(p.numel() for p in model.parameters())}), flush=True)
for line in sys.stdin:
    cmd, batch, iterations = line.split()
    batch, iterations = int(batch), int(iterations)
    x = torch.randn(batch, 3, 32, 32)
    t = torch.full((batch,), 500.25)
    times = []
    with torch.no_grad():
        for _ in range(iterations):
            start = time.perf_counter()
            model(x, t)
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"ms": times}), flush=True)
