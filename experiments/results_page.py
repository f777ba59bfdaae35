"""One generated results page per benchmark: docs/results/<name>.md.

Every script in experiments/ calls `start()` before it measures anything and
`write_results_page(...)` at the end. The page opens with what the script measures, the
exact command, when it ran, the machine, the code it ran and the wall time; then come the
script's own tables (`sections`). Pages are written only by completed runs: a script that
skips (no ../shared/data) writes none.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT / "docs" / "results"


@dataclass(frozen=True)
class Started:
    at: datetime
    load_average: tuple[float, float, float]
    code: str  # the commit and uncommitted changes the run started with


def start() -> Started:
    """The run's start: its date and time, the machine's load average and the code then
    (taken at the start: a commit made while a long run goes on is not the code it ran)."""
    return Started(datetime.now().astimezone(), os.getloadavg(), code_version())


def command_line(script: str | Path, argv: Sequence[str] | None = None) -> str:
    """The command as typed from the project root: interpreter, script, arguments
    (`argv`, default sys.argv[1:], what the script's main() parsed)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([shown(Path(sys.executable)), shown(Path(script).resolve()), *arguments])


def machine() -> str:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    parts = [f"{cores} cores" + (f" ({usable} usable)" if usable != cores else "")]
    cpu = _cpu_model()
    if cpu:
        parts[0] += f" ({cpu})"
    ram = _ram_gb()
    if ram:
        parts.append(f"{ram:.1f} GB RAM")
    import sklearn

    parts += [f"Python {platform.python_version()}", f"scikit-learn {sklearn.__version__}"]
    parts.append(f"{platform.system()} {platform.release()}")
    return ", ".join(parts)


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def _ram_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        return None


def code_version() -> str:
    """The commit the run's code is at, and which files of src/, configs/, data/ or
    experiments/ had uncommitted changes (then the commit alone may not reproduce it)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "configs", "experiments", "data"],
            cwd=PROJECT, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not changed:
        return f"git commit {commit}"
    areas = ["src/", "configs/", "data/", "experiments/"]  # what moves figures most, first
    names = sorted(
        (line[3:] for line in changed),
        key=lambda n: (next((i for i, a in enumerate(areas) if n.startswith(a)), 9), n),
    )
    listed = ", ".join(f"`{n}`" for n in names[:8]) + (", …" if len(names) > 8 else "")
    return f"git commit {commit} with uncommitted changes in {len(names)} files: {listed}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results_page(
    name: str,
    title: str,
    command: str,
    sections: Sequence[tuple[str | None, str]],
    started: Started,
    *,
    measures: str,
    partial: str | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write docs/results/<name>.md and return its path.

    command: `command_line(__file__, argv)` of the script. sections: (heading or None,
    Markdown body) in order. measures: one or two sentences on what the script measures.
    partial: set when the run did only part of the script's work, saying what was left
    out; the page then says so in its header. notes: more header lines (settings, data).
    """
    ended = datetime.now().astimezone()
    seconds = (ended - started.at).total_seconds()
    load = f"{started.load_average[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    until = (
        f"{ended:%H:%M:%S}" if ended.date() == started.at.date() else f"{ended:%Y-%m-%d %H:%M:%S}"
    )
    header = [f"# {title}", "", "*Generated by the script below; do not edit by hand.*", ""]
    header += [measures, ""]
    if partial:
        header += [f"**Partial run:** {partial}", ""]
    header += [
        f"- Command (from the project root): `{command}`",
        f"- Run: {started.at:%Y-%m-%d %H:%M:%S %Z} to {until}; wall time {_duration(seconds)}",
        f"- Machine: {machine()}; load average (1 min) {load}",
        f"- Code (at the start): {started.code}",
    ]
    header += [f"- {note}" for note in notes]
    body = []
    for heading, text in sections:
        if heading:
            body += [f"## {heading}", ""]
        body += [text.strip("\n"), ""]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text("\n".join([*header, "", *body]).rstrip("\n") + "\n", encoding="utf-8")
    return path


def shown(path: Path) -> str:
    """A path for messages and commands: relative to the project when inside it."""
    return str(path.relative_to(PROJECT)) if path.is_relative_to(PROJECT) else str(path)
