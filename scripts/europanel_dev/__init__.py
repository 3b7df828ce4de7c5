"""europanel_dev: development tools (benchmark, simulated cohorts, demo generator).

Not part of the runtime: no rule imports this package (tests/test_envs.py checks it).
"""
