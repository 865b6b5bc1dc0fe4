"""Run one command and write its CPU time and peak RSS, as JSON, to a file.

    python -S measure_child.py RESULT_PATH CMD [ARGS...]

A small parent of its own keeps the measure honest: a child's `ru_maxrss` includes the
memory of the process that forked it, so the benchmark (which may hold a sandbox) must
not be that process. Standard library only, no site packages.
"""

import json
import os
import subprocess
import sys


def main() -> int:
    result_path, cmd = sys.argv[1], sys.argv[2:]
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w") as out:
        json.dump(
            {
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "maxrss_kib": usage.ru_maxrss,
                "returncode": code,
            },
            out,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
