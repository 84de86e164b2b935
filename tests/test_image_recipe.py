"""The production image carries every app the settings install (a missing COPY only shows when
the image is built, minutes into a deploy)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def copied_folders() -> set[str]:
    dockerfile = (ROOT / "Dockerfile").read_text()
    return set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))


def test_the_image_copies_every_installed_app_of_the_project():
    ours = {
        app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()
    }
    assert ours, "no project app found in INSTALLED_APPS"
    assert ours <= copied_folders()


def test_the_image_copies_every_package_the_project_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {
        name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert declared <= copied_folders()
