"""The README as written: its settings table, its first screen, its links and its commands.

Commands are checked offline, without running them: a script or module exists and its
`--help` lists every flag used, a console script likewise, and a `meltano` command names
plugins, settings, plugin commands and jobs that `meltano.yml` declares. The slow test asks
Meltano itself for the flags of each subcommand used.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.settings_table import README, render, settings_table

REPO = README.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
#: Folders tools fill (venvs, dbt's output, Meltano's plugins): not the project's pages.
TOOL_FOLDERS = {"target", "dbt_packages", "output", "logs", "node_modules", "__pycache__"}


def project_pages() -> list[Path]:
    """The repository's other Markdown pages."""
    found = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in TOOL_FOLDERS]
        found += [Path(folder) / f for f in files if f.endswith(".md")]
    return sorted(p for p in found if p != README and p.parent != REPO / "docs")


PAGES = project_pages()
FIRST_SCREEN = 60  # lines
#: First words of lines the checks below leave alone: the shell's own, and other programs.
SHELL = {"export", "read", "unset", "echo", "curl", "jq", "case", "esac", "[", "source", "cd"}
SHELL |= {"in", "exit", "crontab", "mail", "touch", "sudo"}
SHELL |= {"target"}  # `tap-x-dm | target`: any Singer target
MELTANO = REPO / ".venv-meltano" / "bin" / "meltano"


def test_readme_settings_table_is_current() -> None:
    readme = README.read_text()
    assert render(readme, settings_table()) == readme, (
        "run: .venv/bin/python scripts/settings_table.py"
    )


def test_the_first_screen_goes_from_install_to_postgresql_and_a_schedule() -> None:
    lines = README.read_text().splitlines()
    screen = "\n".join(lines[:FIRST_SCREEN])
    steps = [
        "bash scripts/bootstrap.sh",
        "meltano install",
        "meltano config set tap-x-dm client_id",
        "meltano invoke tap-x-dm:auth",
        "meltano config set target-postgres host",
        "meltano run x-dm-to-postgres-models",
        "meltano schedule list",
        "bash scripts/demo.sh",
        "bash scripts/test.sh",
    ]
    at = [screen.find(step) for step in steps]
    assert -1 not in at, [s for s, i in zip(steps, at, strict=True) if i == -1]
    assert at[:7] == sorted(at[:7])  # in the order a newcomer runs them
    # Then, about where the first screen ends, the way to the rest.
    assert "## Contents" in lines[FIRST_SCREEN - 10 : FIRST_SCREEN + 5]
    # What the schedule line says is what meltano.yml declares.
    (schedule,) = project()["schedules"]
    claim = f"{schedule['name']}: {schedule['interval']}, job {schedule['job']}"
    assert claim in screen


# -- links -------------------------------------------------------------------------------


def outside_code(text: str) -> str:
    """The text without fenced blocks and inline code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    found: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", outside_fences(path.read_text()), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def outside_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def links(path: Path) -> Iterator[str]:
    yield from re.findall(r"\]\(([^)\s]+)\)", outside_code(path.read_text()))


@pytest.mark.parametrize("path", [README, *DOCS, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_a_file_and_heading_that_exist(path: Path) -> None:
    broken = []
    for link in links(path):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto:
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(f"{link}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{link}: no heading #{anchor} in {file.name}")
    assert not broken


def test_the_link_check_finds_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## The part\n\n[ok](#the-part) [broken](#the-parts)\n")
    assert [link for link in links(page) if link[1:] not in anchors(page)] == ["#the-parts"]


# -- commands ----------------------------------------------------------------------------


@cache
def project() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "meltano.yml").read_text()))


def plugins() -> dict[str, dict[str, Any]]:
    return {p["name"]: p for kind in project()["plugins"].values() for p in kind}


def readme_commands(path: Path = README) -> list[list[str]]:
    """Every command of a page's bash blocks and inline code, as shell words.

    Continuation lines are joined; `&&`, `;` and `|` split commands; variable assignments in
    front of a command are dropped; a command in a comment (`# or cron: ... meltano run ...`)
    counts too.
    """
    text = path.read_text()
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        block = block.replace("\\\n", " ")
        for line in block.splitlines():
            code, _, comment = (
                line.partition(" #")
                if not line.strip().startswith("#")
                else (
                    "",
                    "",
                    line,
                )
            )
            lines.append(code)
            found = re.findall(r"((?:\S*/)?meltano (?:run|invoke) [^&|;#()]*)", comment)
            lines += [command.split(" ->")[0] for command in found]
    lines += re.findall(
        r"`((?:meltano|bash scripts/|\.venv/bin/|tap-x-dm|pip install|dbt) [^`]*)`", text
    )
    commands: list[list[str]] = []
    for line in lines:
        words = shlex.split(line.replace("$(", " ( "), comments=True)
        current: list[str] = []
        for word in [*words, "&&"]:
            if word in {"&&", ";", "|", "||", "(", ")"} or word.endswith(";"):
                if word.endswith(";") and len(word) > 1:
                    current.append(word[:-1])
                while current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", current[0]):
                    current.pop(0)
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


@cache
def help_text(*command: str) -> str:
    result = subprocess.run(
        list(command), capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )
    assert result.returncode == 0, (command, result.stderr[-2000:])
    return result.stdout


def flags(words: list[str]) -> list[str]:
    return [w.split("=")[0] for w in words if w.startswith("--")]


def unknown(flag_list: list[str], usage: str) -> list[str]:
    """The flags `usage` (a --help text) does not list, as whole words."""
    return [f for f in flag_list if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", usage)]


def placeholder(word: str) -> bool:
    return word.isupper() or word.startswith("<") or word in {"...", "PLUGIN", "SETTING"}


def check(words: list[str]) -> str | None:
    """Return why `words` would not run as written, or None."""
    program, *args = words
    name = Path(program).name
    scripts = {e.name for e in metadata.entry_points(group="console_scripts")}
    if program in SHELL or program.endswith(")"):
        return None
    if program == "bash":
        script = REPO / args[0]
        if not script.is_file():
            return f"no {args[0]}"
        if args[1:]:
            usage = help_text("bash", str(script), "--help")
            return next((f"{f} not in {args[0]} --help" for f in unknown(flags(args), usage)), None)
        return None
    if name in {"python", "python3"} and args[:1] == ["-m"]:
        module = args[1]
        usage = help_text(sys.executable, "-m", module, "--help")
        return next((f"{f} not in {module} --help" for f in unknown(flags(args), usage)), None)
    if name in {"tap-x-dm", "tap-x-dm-auth", "tap-x-dm-sandbox"} & scripts:
        executable = str(Path(sys.executable).parent / name)
        if name == "tap-x-dm-auth" and args[:1] == ["xchat-export"]:  # a subcommand
            name, args = f"{name} xchat-export", args[1:]
            usage = help_text(executable, "xchat-export", "--help")
        else:
            usage = help_text(executable, "--help")
        return next((f"{f} not in {name} --help" for f in unknown(flags(args), usage)), None)
    if name == "meltano":
        return check_meltano(args)
    if program == "pip":
        extras = re.findall(r"\[(\w+)\]", " ".join(args))
        optional = metadata.metadata("tap-x-dm").get_all("Provides-Extra") or []
        return next((f"no extra {e}" for e in extras if e not in optional), None)
    if program == "dbt":
        package = yaml.safe_load((REPO / "transform" / "dbt_project.yml").read_text())["name"]
        selected = [w.split(":", 1)[1] for w in args if w.startswith("package:")]
        return next((f"no dbt package {p}" for p in selected if p != package), None)
    return f"{program}: not a command this test knows (add a check)"


@cache
def tap_streams() -> set[str]:
    """The tap's streams, every opt-in one included."""
    from tap_x_dm.tap import TapXDM

    return set(TapXDM(config={"access_token": "x"}, validate_config=False).streams)


def check_meltano(args: list[str]) -> str | None:
    declared = plugins()
    jobs = {job["name"] for job in project()["jobs"]}
    words = [w for w in args if not w.startswith("-") and not placeholder(w)]
    sub, rest = (words[0], words[1:]) if words else ("--version", [])
    if sub == "run":
        if "--state-id-suffix" in args:  # its value is no block
            rest.remove(args[args.index("--state-id-suffix") + 1])
        for block in rest:
            plugin, _, command = block.partition(":")
            if block not in jobs and plugin not in declared:
                return f"meltano run {block}: no such job or plugin"
            if command and command not in declared[plugin].get("commands", {}):
                return f"meltano run {block}: {plugin} has no command {command}"
        return None
    if sub == "invoke":
        plugin, _, command = rest[0].partition(":")
        if plugin not in declared:
            return f"meltano invoke {plugin}: no such plugin"
        if command and command not in declared[plugin].get("commands", {}):
            return f"meltano invoke {rest[0]}: no such command"
        return None
    if sub == "config":
        action, *rest = rest
        if rest and rest[0] not in declared:
            return f"meltano config {action} {rest[0]}: no such plugin"
        settings = {s["name"] for s in declared[rest[0]].get("settings", [])} if rest else set()
        if action == "set" and len(rest) > 1 and rest[1] not in settings:
            return f"meltano config set {rest[0]} {rest[1]}: no such setting"
        return None
    if sub == "install":
        return next(
            (f"meltano install {p}: no such plugin" for p in rest if p not in declared), None
        )
    if sub == "add":
        if "--from-ref" not in args[:-1]:  # named in the text (`meltano add --from-ref`)
            return None
        ref = args[args.index("--from-ref") + 1]
        definition = REPO / "plugin" / "extractors" / Path(ref).name
        return None if definition.is_file() else f"meltano add: no definition {ref}"
    if sub == "select":  # meltano select PLUGIN STREAM ATTRIBUTES
        if rest[0] not in declared:
            return f"meltano select {rest[0]}: no such plugin"
        if rest[0] == "tap-x-dm" and rest[1] not in tap_streams():
            return f"meltano select tap-x-dm {rest[1]}: no such stream"
        return None
    if sub in {"schedule", "state", "init", "--version"}:
        return None
    return f"meltano {sub}: not a subcommand this test knows (add a check)"


def test_the_readme_finds_every_kind_of_command() -> None:
    programs = {Path(words[0]).name for words in readme_commands()}
    assert {"bash", "meltano", "python", "tap-x-dm-auth", "tap-x-dm", "pip", "dbt"} <= programs


def test_every_readme_command_names_what_exists() -> None:
    problems = [f"{' '.join(w)}: {why}" for w in readme_commands() if (why := check(w))]
    assert not problems


def test_the_command_check_catches_what_does_not_exist() -> None:
    assert check(["bash", "scripts/demo.sh", "--postgress"]) is not None
    assert check(["bash", "scripts/no_such.sh"]) is not None
    assert check(["meltano", "run", "x-dm-to-postgress"]) is not None
    assert check(["meltano", "invoke", "dbt-postgres:fresh"]) is not None
    assert check(["meltano", "config", "set", "tap-x-dm", "acces_token", "x"]) is not None
    assert check(["tap-x-dm-auth", "--token-stor", "x"]) is not None
    assert check(["tap-x-dm-auth", "xchat-export", "--outt", "x"]) is not None
    assert check(["meltano", "select", "tap-x-dm", "chat_message", "*"]) is not None
    assert check([".venv/bin/python", "-m", "scripts.report", "--out", "x"]) is not None


@pytest.mark.slow
@pytest.mark.skipif(not MELTANO.exists(), reason="Meltano is installed by scripts/bootstrap.sh")
def test_meltano_knows_every_flag_the_readme_gives_it() -> None:
    missing = []
    for words in readme_commands():
        if Path(words[0]).name != "meltano" or not flags(words):
            continue
        sub = [w for w in words[1:3] if w in {"run", "invoke", "config", "set", "install", "add"}]
        mine = words
        if "invoke" in sub:  # after the plugin, the flags are the plugin's own
            plugin = next(w for w in words[2:] if not w.startswith("-"))
            mine = words[: words.index(plugin)]
        usage = help_text(str(MELTANO), *sub, "--help")
        missing += [f"{' '.join(words)}: {f}" for f in unknown(flags(mine), usage)]
    assert not missing
