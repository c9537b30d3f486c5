"""The README's commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    blocks, inside = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            inside = line.strip() == "```bash"
            continue
        if inside:
            blocks.append(line.strip())
    return blocks


def test_ci_runs_the_readme_test_command():
    commands = _bash_blocks((ROOT / "README.md").read_text())
    assert len(commands) >= 2, "the README starts with two commands"
    test_command = commands[1]
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_main_command_runs_an_experiment_script():
    main_command = _bash_blocks((ROOT / "README.md").read_text())[0]
    script = main_command.split("python ")[-1].split()[0]
    assert script == "experiments/lavaland.py" and (ROOT / script).is_file()


def test_figures_shown_in_the_readme_exist():
    import re

    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (ROOT / "README.md").read_text()):
        assert (ROOT / path).is_file(), path
