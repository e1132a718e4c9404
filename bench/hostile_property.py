"""The property-based hostile test's longer profile: `--examples` draws (tests/hostile_draws.py) against a fresh
stack under small limits, issue 27's own cases first, each checked as in tests/service/test_hostile_property.py
(an answer within the timeout plus slack and under a size bound, API RSS growth under a bound, other clients
served). A broken property stops the run with Hypothesis's smallest failing draw. Prints key=value figures:
examples=<n> seed=<n> answers=<n> statuses=<code>x<count>,...
worst_answer_s=<n> worst_answer_kb=<n> worst_rss_growth_mb=<n> worst_rss_drift_mb=<n> worst_probe_s=<n>
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _stack import stack  # noqa: F401  (puts the repo root on sys.path)
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.hostile_draws import draws
from tests.hostile_judge import Judge, hostile_site
from tests.service.test_hostile_property import ISSUE_27


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--verbose", action="store_true", help="a line per draw: its answers' statuses and times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rnncast-hostile-") as tmp, hostile_site(Path(tmp)) as site:
        judge = Judge(site)
        began = time.monotonic()

        @seed(args.seed)
        @settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def check(data: st.DataObject) -> None:
            judge.run(data.draw(draws(site.bounds), label="draw"))

        try:
            for draw in ISSUE_27:
                judge.run(draw)
            check()
        finally:
            judge.stop()
            for draw, answers in judge.trace if args.verbose else []:
                print(draw, " ".join(f"{a.status}/{a.seconds:.2f}s/{a.size}B" for a in answers[:6]))
    w = judge.worst
    codes = ",".join(f"{code}x{n}" for code, n in sorted(judge.statuses.items()))
    print(f"examples={args.examples} seed={args.seed} answers={sum(judge.statuses.values())} statuses={codes} "
          f"seconds={time.monotonic() - began:.0f}")
    print(f"worst_answer_s={w['answer_s']:.2f} worst_answer_kb={w['answer_kb']:.1f} "
          f"worst_rss_growth_mb={w['rss_growth_mb']:.0f} worst_rss_drift_mb={w['rss_drift_mb']:.0f} "
          f"worst_probe_s={w['probe_s']:.2f}")


if __name__ == "__main__":
    main()
