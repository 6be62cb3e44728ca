#!/usr/bin/env python
"""Django's command-line utility for Tickwire."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tickwire.settings.local")
    from tickwire.env import SettingError

    try:
        from django.core.management import execute_from_command_line

        import django.conf

        django.conf.settings.INSTALLED_APPS  # noqa: B018 - load settings now to report errors
    except SettingError as exc:
        print(f"tickwire: {exc}", file=sys.stderr)
        sys.exit(2)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
