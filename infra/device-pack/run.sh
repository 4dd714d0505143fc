#!/bin/sh
# The device pack's one command: `run.sh OUT_DIR [bench arguments]`. Next to the archive (.device/), it unpacks
# qdm-device-pack.tar.gz to /tmp and runs the copy inside; inside the pack, it runs the bundled GPU bench
# (bench/gpu.ts) with the packed Node on --devices cpu,webgpu and writes OUT_DIR/gpu.json. Needs nothing installed
# but a shell, tar and gzip (and, for webgpu, the GPU's Vulkan driver).
set -eu
if [ $# -lt 1 ]; then
  echo "usage: run.sh OUT_DIR [bench arguments, e.g. --model tiny]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/bin/node" ]; then
  archive="$here/qdm-device-pack.tar.gz"
  if [ ! -f "$archive" ]; then
    echo "run.sh: neither a pack (bin/node) nor $archive beside this script; build it with npm run device:pack" >&2
    exit 2
  fi
  dest=${QDM_PACK_DIR:-/tmp}
  rm -rf "$dest/qdm-device-pack"
  tar -xzf "$archive" -C "$dest"
  exec "$dest/qdm-device-pack/run.sh" "$@"
fi
if ! problem=$("$here/bin/node" -e 0 2>&1); then
  echo "run.sh: the packed Node cannot start here (it needs glibc >= 2.28, libstdc++6 and libgcc-s1): $problem" | head -1 >&2
  exit 1
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
# The packed Vulkan loader (Debian's libvulkan1), and the NVIDIA driver's ICD where the machine has it.
export LD_LIBRARY_PATH="$here/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then
  export VK_ICD_FILENAMES="$nvidia_icd"
fi
# The driver library that ICD names, where the NVIDIA container layout keeps it.
for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  case ":$LD_LIBRARY_PATH:" in *":$dir:"*) ;; *) [ -d "$dir" ] && LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir" ;; esac
done
QDM_COMMIT=$(cat "$here/COMMIT")
export QDM_COMMIT
echo "qdm device pack $QDM_COMMIT: VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-<loader default>}" >&2
"$here/bin/node" "$here/app/gpu.mjs" --devices cpu,webgpu --out "$out/gpu.json" "$@"
echo "run.sh: wrote $out/gpu.json" >&2
