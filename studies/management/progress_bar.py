"""A text progress bar for the management commands."""

from __future__ import annotations


def format_progress(
    done: int, total: int, width: int = 30, rate: float | None = None, eta: float | None = None, label: str = ""
) -> str:
    """A text progress bar for the management commands: `label [#####.....] 12/40  30%  2.1/s  ~11 s left`."""
    frac = (done / total) if total else 1.0
    filled = int(round(width * min(max(frac, 0.0), 1.0)))
    text = f"{label}[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {100 * frac:5.1f}%"
    if rate:
        text += f"  {rate:.2f}/s"
    if eta is not None:
        text += f"  ~{eta:.0f} s left"
    return text.strip()


class ProgressPrinter:
    """Prints a progress bar to a command's stdout: redrawn in place on a terminal, one line per 10% otherwise."""

    def __init__(self, stdout, label: str = ""):
        self.stdout = stdout
        self.label = label
        self.tty = bool(getattr(getattr(stdout, "_out", stdout), "isatty", lambda: False)())
        self.last_decile = -1
        self.last_text = ""

    def __call__(self, done: int, total: int, rate=None, eta=None):
        text = format_progress(done, total, rate=rate, eta=eta, label=self.label)
        if self.tty:
            self.stdout.write("\r" + text, ending="")
            self.stdout.flush()
        else:
            decile = int(10 * done / total) if total else 10
            if decile != self.last_decile:
                self.stdout.write(text)
                self.last_decile = decile
        self.last_text = text

    def finish(self):
        if self.tty:
            self.stdout.write("")
