"""The scheduler side: how a schedule becomes the PUT of `triggers/<group>`."""

from triggers.request import TriggerRequest as TriggerRequest
from triggers.request import build_trigger_request as build_trigger_request
from triggers.request import render_curl as render_curl

__all__ = ["TriggerRequest", "build_trigger_request", "render_curl"]
