"""Run every bench module's ``run(scale)`` and print its figures.

    python -m bench                      # full sizes
    python -m bench --scale 0.01         # a quick check
    python -m bench sql_extract file_parse   # only these modules
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import time
from pathlib import Path


# Run only when named: the nightly bench takes hours at full size (python -m bench nightly).
OPT_IN = frozenset({"nightly"})


def _modules(only: list[str]) -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                   if not m.name.startswith("_"))
    unknown = sorted(set(only) - set(found))
    if unknown:
        raise SystemExit(f"no bench module(s) {unknown}; known: {found}")
    return [name for name in found if name in only or (not only and name not in OPT_IN)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("modules", nargs="*", help="bench modules to run (default: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor, e.g. 0.01")
    args = parser.parse_args()
    for name in _modules(args.modules):
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        figures = module.run(scale=args.scale)
        print(f"{name} (scale {args.scale:g}, {time.perf_counter() - started:.1f} s)")
        for key, value in figures.items():
            print(f"  {key:<40} {value:>14,.2f}")


if __name__ == "__main__":
    main()
