"""A bounded, seeded mutation-fuzzing run for CI (tests/fuzz_mutations.py; `make fuzz` runs a long one):
every mutant of the corpus must give a result or a typed BlobcalcError within the time limit."""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest

from tests import fuzz_mutations, fuzz_weights
from tests.fuzz_mutations import HANG, RESULT, TYPED, UNCAUGHT, Seed, load_seeds, make_input, run_campaign, seed_files

CI_INPUTS = 300
CI_SEED = 20240501


@pytest.fixture(scope="module")
def seeds() -> list[Seed]:
    found = load_seeds(seed_files())
    if not found:
        pytest.skip("no seed prototxt files")
    return found


def test_mutated_corpus_gives_results_or_typed_errors(seeds: list[Seed], tmp_path: Path) -> None:
    started = time.monotonic()
    campaign = run_campaign(seeds, CI_INPUTS, CI_SEED, jobs=2, timeout=20.0, failures_dir=tmp_path)
    report = "\n\n".join(f"input {index} ({description}): {outcome}\n{detail}"
                         for index, outcome, detail, description in campaign.failures)
    assert not campaign.failures, f"{campaign.summary()}\n{report}"
    assert campaign.inputs == CI_INPUTS
    assert campaign.outcomes[RESULT] > 0 and campaign.outcomes[TYPED] > 0
    assert time.monotonic() - started < 120  # ~10 s on one core; the budget is for a loaded machine


def test_inputs_are_reproducible(seeds: list[Seed]) -> None:
    assert make_input(seeds, 7, 123) == make_input(seeds, 7, 123)
    assert make_input(seeds, 7, 123) != make_input(seeds, 7, 124)


@pytest.mark.parametrize("name", sorted(fuzz_mutations.MUTATORS))
def test_each_mutator_returns_bytes(name: str) -> None:
    seeds = [Seed("a", b'name: "a"\nlayer {\n  name: "x"\n  type: "ReLU"\n  bottom: "in"\n  top: "out"\n}\n'),
             Seed("b", b'layers { type: RELU bottom: "b" top: "b" }\ninput_dim: 1\n')]
    mutator = fuzz_mutations.MUTATORS[name]
    for i in range(50):
        rng = random.Random(i)
        for data in (seeds[0].data, seeds[1].data, b"", b"}"):
            assert isinstance(mutator(data, rng, seeds), bytes)


def _misbehaving(data: bytes, path: str, index: int = 0) -> tuple[str, str]:
    if b"HANG" in data:
        time.sleep(60)
    if b"CRASH" in data:
        sys.exit(7)
    if b"BUG" in data:
        raise ZeroDivisionError("a bug")
    return RESULT, ""


@pytest.mark.skipif(sys.platform == "win32", reason="the worker gets the patched function by fork")
def test_runner_reports_hangs_crashes_and_bugs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The runner itself: a worker that never answers is a hang (and is replaced), one that dies is
    counted, and every failing input is saved with a way to reproduce it."""
    monkeypatch.setattr(fuzz_mutations, "analyze_bytes", _misbehaving)
    monkeypatch.setattr(fuzz_mutations, "make_input",
                        lambda seeds, seed, index: ([b"fine", b"HANG", b"CRASH", b"fine"][index], f"case {index}"))
    campaign = run_campaign([Seed("s", b"x")], 4, 0, jobs=2, timeout=1.0, failures_dir=tmp_path)
    assert campaign.inputs == 4
    assert campaign.outcomes == {RESULT: 2, HANG: 1, UNCAUGHT: 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "hang-0-1.prototxt", "hang-0-1.txt", "uncaught-0-2.prototxt", "uncaught-0-2.txt"]
    assert "--seed 0 --only 1" in (tmp_path / "hang-0-1.txt").read_text()


def test_weights_fuzzer_finds_no_bug_in_a_short_run(tmp_path: Path) -> None:
    """A short seeded run of tests/fuzz_weights.py (`make fuzz-weights` runs a long one)."""
    seeds = fuzz_weights.load_weight_seeds(seed_files()[:30])
    if not seeds:
        pytest.skip("no seed nets")
    campaign = run_campaign(seeds, 60, CI_SEED, jobs=1, timeout=30.0, failures_dir=tmp_path,
                            maker=fuzz_weights.make_weights_input, runner=fuzz_weights.audit_bytes,
                            suffix=".caffemodel")
    report = "\n\n".join(f"input {index} ({description}): {outcome}\n{detail}"
                         for index, outcome, detail, description in campaign.failures)
    assert not campaign.failures, f"{campaign.summary()}\n{report}"
    assert campaign.inputs == 60 and campaign.outcomes[TYPED] > 0


@pytest.mark.parametrize("name", sorted(fuzz_weights.MUTATORS))
def test_each_weights_mutator_gives_bytes(name: str) -> None:
    seed = fuzz_weights.weights_bytes_for_test()
    for i in range(20):
        fields = fuzz_weights.decode(seed)
        assert fields is not None
        mutated = fuzz_weights.encode(fuzz_weights.MUTATORS[name](fields, random.Random(i)))
        assert isinstance(mutated, bytes)
