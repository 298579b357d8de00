#!/usr/bin/env python3
"""Head to head for compare.sh: is plexgate ahead of a peer in one cell, or is it noise?

The medians in compare.sh's tables move by ±0.05 between runs at one connection, which is as
large as the gaps they are meant to show. Every round measures all targets within seconds of
each other, so a round is a fair pair: the host's slow spells hit both. This compares plexgate
with a peer round by round and counts who won each round; a two-sided sign test on the wins
says whether the split could be chance (a fair coin). Only a split that a coin would give less
than 5 % of the time is called "ahead" or "behind"; anything else is a "tie".

    paired.py higher "A1 A2 …" "B1 B2 …"   req/s per round (plexgate, peer): more is better
    paired.py lower  "A1 A2 …" "B1 B2 …"   TTFB per round in ms: less is better
    paired.py lower  "A1 A2 …" "B1 B2 …" µs   the same in another unit (fixed_cost.sh)

Prints one line: the median per-round ratio (req/s) or difference (ms), wins/decided rounds,
and the verdict. Fewer than 6 rounds can never reach 5 % (5 of 5 is p = 0.0625).
"""

import math
import statistics
import sys


def sign_test(wins: int, losses: int) -> float:
    """Two-sided p of a split at least this lopsided from a fair coin (ties dropped)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2**n)


def main() -> None:
    mode, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
    unit = sys.argv[4] if len(sys.argv) > 4 else "ms"
    if mode not in ("higher", "lower") or not a or len(a) != len(b):
        sys.exit(f"usage: {sys.argv[0]} higher|lower 'plexgate values' 'peer values' (same count)")
    pairs = [(float(x), float(y)) for x, y in zip(a, b)]
    if mode == "higher":
        shown = f"{statistics.median(x / y for x, y in pairs):.2f}x"
        wins = sum(x > y for x, y in pairs)
        losses = sum(x < y for x, y in pairs)
    else:
        shown = f"{statistics.median(x - y for x, y in pairs):+.2f} {unit}"
        wins = sum(x < y for x, y in pairs)
        losses = sum(x > y for x, y in pairs)
    p = sign_test(wins, losses)
    if p < 0.05:
        verdict = "ahead" if wins > losses else "behind"
    else:
        verdict = "tie"
    print(f"{shown} {wins}/{wins + losses} {verdict}")


if __name__ == "__main__":
    main()
