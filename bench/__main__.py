"""`python -m bench` (`make bench`): run every benchmark and write BENCHMARKS.md.

The orchestration is imported only when run as a program: spawned sweep workers re-import this module, and must
not pull in the emulator.
"""

import sys

if __name__ == "__main__":
    from bench.run import main

    sys.exit(main())
