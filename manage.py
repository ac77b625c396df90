#!/usr/bin/env python
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Any of these in the environment (or a .env file) means the site is configured: use it as it is.
SETTINGS_VARIABLES = ("DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL")


def development_defaults():
    """In a checkout with no environment, run as `make demo` does (DEBUG on: SQLite under var/, tasks
    in-process), so that commands a developer copies from the demo's output run as printed. A deployed
    site always sets its variables, and gunicorn does not start through this file."""
    configured = any(name in os.environ for name in SETTINGS_VARIABLES) or (HERE / ".env").is_file()
    if not configured and (HERE / ".git").exists():
        os.environ["DEBUG"] = "1"


def main():
    development_defaults()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
