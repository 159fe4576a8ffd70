"""Third-party code copied into the package, because Lambda-side code may import only
the standard library and boto3 (DESIGN.md §2): the Lambda zip is every `bridge/**/*.py`
file and nothing else (terraform/modules/aws/functions.tf), so a dependency the sweeper
needs at run time must live here as source.

- `cronsim.py`: cronsim 2.8 (https://github.com/cuu508/cronsim, PyPI `cronsim==2.8`,
  BSD-3-Clause, licence in `cronsim.LICENSE` and at the top of the file), the cron
  evaluator healthchecks.io uses; one module, standard library only. Copied unchanged
  but for the licence header. Its `explain.py` is not vendored, so `CronSim.explain()`
  is not available. Upgrade by copying a newer `cronsim/cronsim.py` over it (keep the
  header) and running tests/unit/test_schedules.py.

Nothing here is linted or type-checked as ours (pyproject.toml excludes it); only
bridge.domain.schedules imports it.
"""
