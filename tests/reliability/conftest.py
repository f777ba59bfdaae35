"""Helpers for the reliability suite: the session's ledger (written to
reports/reliability.md at the end), and ways to run khabar in-process or in a subprocess
and tell a clean user error from a crash."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from khabar.cli import main

from .ledger import Ledger

PROJECT = Path(__file__).resolve().parents[2]
REPORT = PROJECT / "reports" / "reliability.md"
# Exit codes a user may see: success, a user error, an interruption.
CLEAN_EXIT_CODES = (0, 2, 130)


# Features for the suite's full training runs: a small vocabulary keeps the model (and
# saving it with skops) quick; what is tested does not depend on its size.
SMALL_FEATURES = {"char": {"analyzer": "char_wb", "ngram_range": [2, 3], "min_df": 2}}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: full training runs (MLflow, report, model); -m 'not slow' skips them"
    )


@pytest.fixture(scope="session")
def ledger():
    book = Ledger([])
    yield book
    if book.cases:
        book.write(REPORT)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def crashed(self) -> bool:
        return "Traceback" in self.err or self.code not in CLEAN_EXIT_CODES

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("khabar: error:")]

    def summary(self) -> str:
        shown = self.error_lines[-1] if self.error_lines else self.err.strip()[-300:]
        shown = shown.replace(os.getcwd() + os.sep, "")  # the test's scratch folder
        return f"exit {self.code}: {shown}" if shown else f"exit {self.code}"


def run_main(*argv: str) -> CliResult:
    """`khabar ARGV` in this process: fast, and the return value is the exit code the
    console script passes to sys.exit. Any exception escaping main() is a crash."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    return CliResult(code, out.getvalue(), err.getvalue())


def khabar_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "khabar.cli", *map(str, argv)]


def process_env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    env.update(extra)
    return env


def run_process(*argv: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> CliResult:
    """`khabar ARGV` as a real process: the exit code and stderr a user would see."""
    done = subprocess.run(
        khabar_command(*argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def one_error_line(result: CliResult) -> str:
    """The message of a clean user error: exit 2, exactly one `khabar: error:` line, no
    traceback. Returns the message."""
    assert not result.crashed, result.err[-2000:]
    assert result.code == 2, (result.code, result.err[-1000:])
    assert len(result.error_lines) == 1, result.err
    return result.error_lines[0]


def only_line(result: CliResult) -> str:
    """A user error raised before any work: stderr holds that one line and nothing else."""
    message = one_error_line(result)
    assert [line for line in result.err.splitlines() if line.strip()] == [message], result.err
    return message


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under folder (hidden ones included)."""
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Half-written files or folders: `.partial` report folders, `.tmp` files."""
    if not folder.exists():
        return []
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name.endswith((".partial", ".tmp"))
    )


def lost_files(before: dict[str, str], after: dict[str, str]) -> int:
    """Files that existed before and are now missing or changed."""
    return sum(1 for name, digest in before.items() if after.get(name) != digest)
