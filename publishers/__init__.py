"""Fan-out: publisher units (the tree, and a paced run's lanes), targets, example workers."""

from publishers.publish import UnitOutcome as UnitOutcome
from publishers.publish import run_publisher_unit as run_publisher_unit
from publishers.targets import TargetSpec as TargetSpec
from publishers.targets import load_python_handler as load_python_handler
from publishers.targets import parse_target as parse_target

__all__ = [
    "TargetSpec",
    "UnitOutcome",
    "load_python_handler",
    "parse_target",
    "run_publisher_unit",
]
