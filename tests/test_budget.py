"""The memory-budget planner on its own: pure decisions over snapshots of what each
model holds (the same rules on real models are in ``test_memory.py``)."""

from __future__ import annotations

from typing import Any

from altlas.budget import (
    Budget,
    Evict,
    Fits,
    Holder,
    Insufficient,
    Wait,
    charge_of,
    describe_holders,
    load_need,
    plan_room,
)
from altlas_sdk import MemoryEstimate

MB = 1024 * 1024
NOW = 1000.0
#: 250 MB of RAM, no GPU limit, no minimum residency.
BUDGET = Budget(ram_bytes=250 * MB, gpu_bytes=None, min_residency=0.0)


def ram(mb: int, gpu_mb: int = 0) -> MemoryEstimate:
    return MemoryEstimate(ram_bytes=mb * MB, gpu_bytes=gpu_mb * MB)


def loaded(model_id: str, mb: int = 100, gpu_mb: int = 0, **fields: Any) -> Holder:
    """A loaded model charged ``mb`` MB of RAM (and ``gpu_mb`` of GPU memory), idle and
    loaded long ago unless told otherwise."""
    return Holder(model_id, ram(mb, gpu_mb), loaded=True, **fields)


def test_a_load_that_fits_evicts_nothing():
    assert plan_room("new", ram(100), [loaded("a")], BUDGET, NOW) == Fits()


def test_the_loading_model_own_entry_is_not_counted():
    # A model asking for room again (say after an eviction) does not compete with itself.
    assert plan_room("a", ram(200), [loaded("a", 200)], BUDGET, NOW) == Fits()


def test_the_least_recently_used_idle_model_is_evicted():
    holders = [loaded("a", last_used_at=30.0), loaded("b", last_used_at=10.0)]
    assert plan_room("new", ram(100), holders, BUDGET, NOW) == Evict("b")


def test_a_model_never_used_goes_before_one_that_was():
    holders = [loaded("used", last_used_at=5.0), loaded("unused")]
    assert plan_room("new", ram(100), holders, BUDGET, NOW) == Evict("unused")


def test_a_pinned_model_is_never_evicted():
    holders = [loaded("pinned", pinned=True, last_used_at=1.0), loaded("b", last_used_at=50.0)]
    assert plan_room("new", ram(100), holders, BUDGET, NOW) == Evict("b")


def test_a_busy_model_is_never_evicted_the_load_waits_for_it():
    holders = [loaded("a", in_flight=1), loaded("b", in_flight=2)]
    assert plan_room("new", ram(100), holders, BUDGET, NOW) == Wait(1.0)


def test_a_model_still_loading_is_never_evicted():
    holders = [Holder("a", ram(100), loading=True), loaded("b", in_flight=1)]
    assert isinstance(plan_room("new", ram(100), holders, BUDGET, NOW), Wait)


def test_a_recently_loaded_model_makes_the_load_wait_out_its_residency():
    budget = Budget(ram_bytes=250 * MB, gpu_bytes=None, min_residency=10.0)
    holders = [loaded("a", resident_since=NOW - 4.0), loaded("b", resident_since=NOW - 7.0)]
    assert plan_room("new", ram(100), holders, budget, NOW) == Wait(3.0)


def test_once_residency_ran_out_the_model_is_evicted():
    budget = Budget(ram_bytes=250 * MB, gpu_bytes=None, min_residency=10.0)
    holders = [loaded("a", resident_since=NOW - 4.0), loaded("b", resident_since=NOW - 10.0)]
    assert plan_room("new", ram(100), holders, budget, NOW) == Evict("b")


def test_a_model_that_frees_nothing_of_what_is_short_is_not_evicted():
    budget = Budget(ram_bytes=1000 * MB, gpu_bytes=100 * MB, min_residency=0.0)
    holders = [loaded("cpu-only", 300, last_used_at=1.0), loaded("gpu", 10, 80, last_used_at=9.0)]
    assert plan_room("new", ram(10, 50), holders, budget, NOW) == Evict("gpu")


def test_the_gpu_budget_counts_gpu_memory():
    budget = Budget(ram_bytes=1000 * MB, gpu_bytes=100 * MB, min_residency=0.0)
    holders = [loaded("gpu", 10, 60)]
    assert plan_room("small", ram(10, 40), holders, budget, NOW) == Fits()
    assert plan_room("large", ram(10, 41), holders, budget, NOW) == Evict("gpu")


def test_without_a_gpu_budget_gpu_memory_is_not_limited():
    holders = [loaded("gpu", 10, 60_000)]
    assert plan_room("new", ram(10, 60_000), holders, BUDGET, NOW) == Fits()


def test_a_load_larger_than_the_budget_is_insufficient_naming_the_holders():
    holders = [loaded("a", 100, in_flight=2), Holder("b", ram(50), loading=True)]
    plan = plan_room("huge", ram(300), holders, BUDGET, NOW)
    assert isinstance(plan, Insufficient)
    assert plan.message == (
        "model 'huge' needs 300 MB RAM but the budget is 250 MB RAM (RAM_MEMORY_LIMIT); "
        "memory is held by a 100 MB (2 request(s) in flight), b 50 MB (loading)"
    )


def test_a_load_that_fits_only_without_the_pinned_models_is_insufficient():
    holders = [loaded("pinned", 200, pinned=True), loaded("idle", 30)]
    plan = plan_room("new", ram(100), holders, BUDGET, NOW)
    assert isinstance(plan, Insufficient)
    assert "memory is held by pinned 200 MB (pinned), idle 30 MB (idle)" in plan.message


def test_an_insufficient_gpu_budget_names_it():
    budget = Budget(ram_bytes=1000 * MB, gpu_bytes=100 * MB, min_residency=0.0)
    plan = plan_room("new", ram(10, 200), [], budget, NOW)
    assert plan == Insufficient(
        "model 'new' needs 10 MB RAM and 200 MB GPU memory but the budget is 1000 MB RAM "
        "(RAM_MEMORY_LIMIT), 100 MB GPU (GPU_MEMORY_LIMIT); memory is held by no model"
    )


def test_describe_holders_says_why_each_model_stays():
    holders = [
        loaded("asking"),
        loaded("fresh", resident_since=NOW - 1.0),
        loaded("gpu", 10, 20),
        Holder("gone", MemoryEstimate()),
    ]
    assert describe_holders("asking", holders, 5.0, NOW) == (
        "memory is held by fresh 100 MB (loaded less than MIN_RESIDENCY ago), "
        "gpu 10 MB + 20 MB GPU (idle)"
    )


def test_the_charge_is_declared_else_the_larger_of_measured_and_estimated():
    measured, estimated = ram(70, 5), ram(90, 8)
    assert charge_of(100 * MB, measured, estimated) == ram(100, 5)
    assert charge_of(None, measured, estimated) == ram(90, 8)
    assert charge_of(None, ram(120, 2), estimated) == ram(120, 8)
    assert charge_of(None, measured, None) == measured
    assert charge_of(None, None, estimated) == estimated
    # A measurement that saw no GPU memory leaves the estimate's in place.
    assert charge_of(None, ram(100), estimated) == ram(100, 8)


def test_a_load_needs_what_its_last_load_took_and_the_declared_ram():
    assert load_need(ram(50), None, None) == ram(50)
    assert load_need(ram(50), ram(60, 30), None) == ram(60, 30)
    assert load_need(ram(50, 40), ram(40, 30), None) == ram(50, 40)
    assert load_need(ram(50), ram(60, 30), 100 * MB) == ram(100, 30)


def test_a_measurement_over_the_whole_budget_is_not_trusted_while_the_estimate_fits():
    # RSS growth during a load counts whatever ran beside it: a model measured at 458 MB
    # once must not be refused for good under a 390 MB budget it fits by its estimate.
    assert load_need(ram(160), ram(458), None, 390 * MB) == ram(160)
    # Within the budget, the measurement still wins; an estimate over it is kept.
    assert load_need(ram(160), ram(300), None, 390 * MB) == ram(300)
    assert load_need(ram(400), ram(458), None, 390 * MB) == ram(458)
