"""Aurora-compatible job configs: `.aurora` files in, plain `JobSpec`s out.

The only room that imports pystachio. Everything it returns is plain data from
`daybreak.model`; nothing outside this package sees a pystachio object.
"""

from daybreak.config.bindings import parse_bindings
from daybreak.config.isolation import Limits
from daybreak.config.load import LoadedJob, load_config, load_job, pick_job
from daybreak.model.render import render_task

__all__ = [
    "Limits",
    "LoadedJob",
    "load_config",
    "load_job",
    "parse_bindings",
    "pick_job",
    "render_task",
]
