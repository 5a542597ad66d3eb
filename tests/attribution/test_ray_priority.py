"""The one-machine Ray that olab starts (attribution.ray_address: null, the LDS experiment's --executor ray)."""

from __future__ import annotations

import os

import pytest


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_ray_olab_starts_runs_its_workers_at_the_drivers_priority():
    """Ray renices its workers by +15 by default; the Ray olab starts on this machine keeps them at the driver's."""
    pytest.importorskip("ray")
    from olab.attribution.ray_executor import connect

    ray, started = connect(None, 1)
    try:
        assert started
        assert ray.get(ray.remote(lambda: os.nice(0)).remote()) == os.nice(0)
    finally:
        ray.shutdown()
