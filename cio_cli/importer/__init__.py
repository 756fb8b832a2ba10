"""``cio validate`` and ``cio import``: the plan, the two passes, the run."""
