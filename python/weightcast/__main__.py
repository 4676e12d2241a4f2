"""`python -m weightcast` and the `weightcast` command: the C++ command line shipped in the
package, run in place of this process so signals and exit codes are its own."""

import os
import sys
from pathlib import Path


def binary() -> Path:
    return Path(__file__).resolve().parent / "bin" / "weightcast"


def main() -> None:
    path = binary()
    if not os.access(path, os.X_OK):
        sys.exit(f"weightcast: the command-line binary is missing from the package ({path})")
    os.execv(path, [str(path), *sys.argv[1:]])


if __name__ == "__main__":
    main()
