"""Compile the fused kernel (sgns.model.fused_kernel) for sm_80 and sm_90 with no GPU, and print
what each PTX holds as JSON; run by tests/model/test_sgd_fused.py in a process of its own,
without TRITON_INTERPRET."""

import json
import re

from triton import compile as triton_compile
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from sgns.model.fused_kernel import sgns_groups
from sgns.model.sgd_fused import LAUNCH_OPTIONS, block_sizes

TYPES = ["*fp32", "*fp32", "*i64", "*i64", "*i64", "*fp32", "i32", "i32", "i32"]
TYPES += ["fp32", "fp32", "i32", "i32", "i32"]
# Relaxed float adds into global memory: red or atom, any scope, no acquire-release fence.
ATOMIC_ADD = re.compile(r"\b(?:red|atom)\.global(?:\.\w+)*?\.relaxed(?:\.\w+)*?\.add\.f32")
CASES = [(32, 5, 100), (8, 15, 300), (1, 1, 7)]  # (shared, n_samples, dim)


def compiled(arch: int, shared: int, n_samples: int, dim: int) -> dict:
    blocks = block_sizes(shared, n_samples, dim)
    names = sgns_groups.arg_names
    source = ASTSource(
        fn=sgns_groups,
        signature=dict(zip(names, TYPES + ["constexpr"] * len(blocks), strict=True)),
        constexprs={(names.index(name),): value for name, value in blocks.items()},
    )
    kernel = triton_compile(source, target=GPUTarget("cuda", arch, 32),
                            options=LAUNCH_OPTIONS)  # fmt: skip
    ptx = kernel.asm["ptx"]
    return {
        "arch": arch, "shared": shared, "entry": ".entry sgns_groups" in ptx,
        "local_stores": ptx.count("st.local"),
        "atomic_adds": len(ATOMIC_ADD.findall(ptx)),
        "shared_memory": kernel.metadata.shared,
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps([compiled(arch, *case) for arch in (80, 90) for case in CASES]))
