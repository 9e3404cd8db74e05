"""The help says what each option does and what the command really does (issue 23, item 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from es_ltrr.cli import main

REPO = Path(__file__).resolve().parents[2]


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_option_of_every_command_has_a_help_text():
    missing = [f"{' '.join(path)} {option.opts[0]}" for path, command in _commands(main)
               for option in command.params
               if isinstance(option, click.Option) and not option.hidden and not option.help]
    assert missing == []


def test_models_promote_says_a_running_server_switches_without_a_restart():
    text = " ".join(CliRunner().invoke(main, ["models", "--help"]).output.split())
    assert "next start" not in text
    assert "within ~2 s" in text


def test_the_upload_script_shows_its_own_usage_and_runs_it():
    script = [sys.executable, str(REPO / "scripts" / "upload_model.py")]
    shown = subprocess.run([*script, "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "Usage: upload_model.py [OPTIONS] MODEL_FILE" in shown.stdout
    assert "upload-model" not in shown.stdout.split("\n")[0]
    # the usage it shows is one that runs: a missing file is the command's own error, not "no such command"
    run = subprocess.run([*script, "nope.json", "--cluster", "http://127.0.0.1:1"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and "nope.json" in run.stderr and "No such command" not in run.stderr


def test_the_feedback_docs_list_every_field_an_event_takes():
    from es_ltrr.feedback.events import _FIELDS

    docs = (REPO / "docs" / "feedback.md").read_text()
    nested = ["event_attributes.object.object_id", "event_attributes.object.object_id_field",
              "event_attributes.position.ordinal", "event_attributes.dwell_ms"]
    assert [name for name in [*sorted(_FIELDS - {"event_attributes"}), *nested] if f"`{name}`" not in docs] == []
