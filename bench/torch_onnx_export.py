"""The comparator graph of bench/fp32-forward.ts: PyTorch's own torch.onnx.export of improved-diffusion's UNetModel
with the bench's weights (what a user without qdm would run in onnxruntime). Inputs `x` [N,3,H,W], `t` [N], output
`out`, batch dynamic, opset 17, constant folding on (torch's defaults otherwise).
Usage: IMPROVED_DIFFUSION=/path/to/improved-diffusion /usr/bin/python3 bench/torch_onnx_export.py FLAGS.json \
  WEIGHTS.npz OUT.onnx
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch_unet_forward import load_model  # noqa: E402


def main():
    flags_path, weights_path, out_path = sys.argv[1:4]
    model, flags = load_model(flags_path, weights_path)
    size = flags["image_size"]
    x = torch.randn(2, 3, size, size)
    t = torch.full((2,), 500.25)
    with torch.no_grad():
        torch.onnx.export(model, (x, t), out_path, input_names=["x", "t"], output_names=["out"],
                          dynamic_axes={"x": {0: "N"}, "t": {0: "N"}, "out": {0: "N"}}, opset_version=17,
                          do_constant_folding=True)
    print(json.dumps({"torch": torch.__version__, "opset": 17, "ops": op_counts(out_path)}), flush=True)


def op_counts(path):
    """Node count per op type of the exported graph (None without python3-onnx)."""
    try:
        import onnx
    except ImportError:
        return None
    counts = {}
    for node in onnx.load(path).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()
