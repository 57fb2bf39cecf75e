"""Error types the CLI turns into a one-line message and an exit status."""


def printable(text: str) -> str:
    """Return text with control characters (newlines, escapes) shown as escapes, for one-line messages."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class SfecaError(Exception):
    """An error the user can act on; the CLI prints it on one line and exits with status 1."""


class InputError(SfecaError):
    """A connected-app or ECA input that cannot be read: missing, malformed or of the wrong type."""

    def __init__(self, path: str, problem: str, *, line: int | None = None, hint: str = "") -> None:
        self.path = path
        self.problem = problem
        self.line = line
        self.hint = hint
        where = f"{printable(path)}:{line}" if line else printable(path)
        message = f"{where}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class ConfigError(SfecaError):
    """An invalid mapping or requirement-profile file."""


class PlanError(SfecaError):
    """A saved plan that cannot be used: unreadable, stale, or made for other inputs."""


class OutputError(SfecaError):
    """An output folder or file that cannot be written."""
