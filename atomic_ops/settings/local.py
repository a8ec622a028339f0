"""Development profile: `make run` on a workstation."""

from atomic_ops.settings.base import *  # noqa: F403
from atomic_ops.settings.base import ENV

PROFILE = "local"
DEBUG = True if ENV.debug is None else ENV.debug
