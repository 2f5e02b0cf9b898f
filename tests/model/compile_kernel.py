"""Compile the fused kernel (sgns.model.fused_kernel) for sm_80 and sm_90 with no GPU, as a
GPU run compiles it (sgns.model.sgd_fused.GPU_SHAPE), and print what each holds as JSON; run
by tests/model/test_sgd_fused.py in a process of its own, without TRITON_INTERPRET.

Registers and spills are ptxas's own report (`ptxas -v`, which Triton runs and prints with
TRITON_DUMP_PTXAS_LOG=1): register allocation happens there, after the PTX is written.
"""

import contextlib
import io
import json
import os
import re

# Compile every time, so that ptxas runs and reports, rather than reading Triton's cache.
os.environ["TRITON_ALWAYS_COMPILE"] = "1"
os.environ["TRITON_DUMP_PTXAS_LOG"] = "1"

import torch  # noqa: E402
from triton import compile as triton_compile  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from sgns.model.fused_kernel import sgns_groups  # noqa: E402
from sgns.model.sgd_fused import GPU_SHAPE, kernel_sizes, row_multiple  # noqa: E402

TYPES = ["*fp32", "*fp32", "*i64", "*i64", "*i64", "*fp32", "i32", "i32", "i32"]
TYPES += ["fp32", "fp32", "i32", "i32", "i32"]
# Relaxed float adds into global memory: red or atom, any scope, no acquire-release fence;
# of one float, or of 2 or 4 at once.
ATOMIC_ADD = re.compile(
    r"\b(?:red|atom)\.global(?:\.\w+)*?\.relaxed(?:\.\w+)*?\.add\.(?:v[24]\.)?f32"
)
VECTOR_ATOMIC_ADD = re.compile(r"\.add\.v[24]\.f32")
# The six tensors' data, 16-byte aligned as torch allocates it: Triton's launcher tells the
# compiler so for every such pointer.
ALIGNED = {(i,): [["tt.divisibility", 16]] for i in range(6)}
CASES = [(32, 5, 300), (8, 15, 300), (1, 1, 7)]  # (shared, n_samples, dim)


def compiled(arch: int, shared: int, n_samples: int, dim: int) -> dict:
    tables = torch.empty(2, dim), torch.empty(2, dim)
    blocks = kernel_sizes(shared, n_samples, dim, GPU_SHAPE.block_d, row_multiple(*tables))
    names = sgns_groups.arg_names
    source = ASTSource(
        fn=sgns_groups,
        signature=dict(zip(names, TYPES + ["constexpr"] * len(blocks), strict=True)),
        constexprs={(names.index(name),): value for name, value in blocks.items()},
        attrs=ALIGNED,
    )
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        kernel = triton_compile(source, target=GPUTarget("cuda", arch, 32),
                                options=GPU_SHAPE.launch_options())  # fmt: skip
    report = log.getvalue()
    registers = re.search(r"Used (\d+) registers", report)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report)
    if registers is None or spills is None:
        raise SystemExit(f"no ptxas report (TRITON_DUMP_PTXAS_LOG) from this Triton: {report!r}")
    ptx = kernel.asm["ptx"]
    return {
        "arch": arch, "shared": shared, "n_samples": n_samples, "dim": dim,
        "entry": ".entry sgns_groups" in ptx,
        "registers": int(registers.group(1)),
        "spilled_bytes": int(spills.group(1)) + int(spills.group(2)),
        "atomic_adds": len(ATOMIC_ADD.findall(ptx)),
        "vector_atomic_adds": len(VECTOR_ATOMIC_ADD.findall(ptx)),
        "row_multiple": blocks["ROW_MULTIPLE"],
        "shared_memory": kernel.metadata.shared,
        "num_warps": GPU_SHAPE.num_warps,
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps([compiled(arch, *case) for arch in (80, 90) for case in CASES]))
