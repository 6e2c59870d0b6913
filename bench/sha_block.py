"""Instructions one SHA-256 block costs on a CPU with SHA extensions, in a given build.

Valgrind does not emulate the SHA extensions, so under callgrind the `sha2` crate runs its
software rounds; on the machines uid-gate runs on it runs `sha2::sha256::x86::digest_blocks`,
whose loop handles one 64-byte block per turn with no branch but the loop's own. This counts
the instructions of that loop in the built module (bench/instructions.sh multiplies it by the
blocks an HMAC of the bench token needs).

    python3 bench/sha_block.py target/profiling/libuid_gate_envoy.so   # prints e.g. 164
"""

import re
import subprocess
import sys


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def main(module: str) -> int:
    symbols = run("nm", "-S", "--defined-only", module)
    found = re.search(r"^([0-9a-f]+) ([0-9a-f]+) [tT] \S*sha2\S*sha256\S*x86\S*digest_blocks", symbols, re.M)
    if not found:
        sys.exit(f"{module}: no sha2 x86 digest_blocks symbol (a build without symbols?)")
    start, size = int(found.group(1), 16), int(found.group(2), 16)
    listing = run("objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
                  f"--stop-address={start + size:#x}", module)
    insns = [(int(a, 16), ops.split()) for a, ops in re.findall(r"^\s+([0-9a-f]+):\s+(.*)$", listing, re.M)]
    # The loop: the last jump backwards, from its target to itself.
    loops = [(int(ops[1], 16), at) for at, ops in insns
             if len(ops) > 1 and ops[0].startswith("j") and re.fullmatch(r"[0-9a-f]+", ops[1])
             and int(ops[1], 16) < at]
    if not loops:
        sys.exit(f"{module}: digest_blocks has no loop")
    first, last = loops[-1]
    print(sum(first <= at <= last for at, _ in insns))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
