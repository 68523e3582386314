"""Test settings: the project's own, in sandbox mode (test cards, test clock)."""

import os

os.environ.setdefault("SIMRENEW_SANDBOX", "1")

from simrenew.settings import *  # noqa: F403
