"""The `simrenew` command: Django's manage.py under the project's own name."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simrenew.settings")
    from django.core.management import execute_from_command_line

    from simrenew.kit.actors import Actor, acting_as
    from simrenew.kit.config import ConfigurationRefused

    try:
        with acting_as(Actor.for_cli()):  # who the audit trail names for changes made from here
            execute_from_command_line(sys.argv)
    except ConfigurationRefused as refused:  # what to set, without a traceback
        sys.stderr.write(f"{refused}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
