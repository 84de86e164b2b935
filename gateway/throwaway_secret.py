"""Run a command with a throwaway Django secret key: for processes that sign nothing with it.

Production settings refuse to start without ``SECRET_KEY`` (a missing secret must never mean a
guessable default). The de-identification workers and beat never use it, so they are not given
the real one: a compromised worker then cannot forge password-reset links or session data.

    python -m gateway.throwaway_secret celery -A gateway worker ...
"""

import os
import secrets
import sys


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m gateway.throwaway_secret COMMAND [ARGS...]")
    os.environ.pop("SECRET_KEY_FILE", None)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
    os.execvp(argv[0], argv)  # noqa: S606 (the container's own command)


if __name__ == "__main__":
    main(sys.argv[1:])
