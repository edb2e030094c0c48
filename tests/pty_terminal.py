"""Run a real command in a pseudo-terminal: keep every byte it writes, and emulate the screen.

`PtyProgram` forks the command onto a new pty (TERM=xterm-256color, the size
given), reads its output on a thread into `raw` (the exact bytes a terminal
would get) and into a `pyte` screen (what an operator would see). Tests send
keys and wait for text to appear, never for a fixed time.

The emulated terminal supports synchronized output (DEC mode 2026), as most
modern terminals do: it answers the program's query for it, and what `text`
shows is the screen as of the end of the last frame, never one half drawn (a
frame of Textual's reaches the pty in several reads; between two of them the
screen holds the new top over the old bottom).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import pyte

KEYS = {
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "enter": b"\r",
    "tab": b"\t",
    "escape": b"\x1b",
    "space": b" ",
    "backspace": b"\x7f",
    "ctrl+s": b"\x13",
    "ctrl+t": b"\x14",
}


# Synchronized output: the program asks whether the terminal has it (DECRQM), then wraps each frame.
SYNC = re.compile(rb"\x1b\[\?2026(\$p|h|l)")
SYNC_PREFIXES = tuple(marker[:n] for marker in (b"\x1b[?2026$p", b"\x1b[?2026h", b"\x1b[?2026l") for n in range(1, len(marker)))
SYNC_SUPPORTED = b"\x1b[?2026;2$y"  # DECRPM: the mode is known, and reset until a frame sets it


class ScreenTimeout(AssertionError):
    """What was awaited did not appear; the message shows the screen as it was."""


class PtyProgram:
    def __init__(self, argv: Sequence[str], *, size: tuple[int, int], env: Mapping[str, str], cwd: str | None = None) -> None:
        self.argv = list(argv)
        self.columns, self.lines = size
        self.env = dict(env)
        self.cwd = cwd
        self.raw = bytearray()
        self.pid = 0
        self.fd = -1
        self.exit_status: int | None = None
        self._lock = threading.Lock()
        self._screen = pyte.Screen(self.columns, self.lines)
        self._stream = pyte.ByteStream(self._screen)
        self._held = b""  # the start of a mode-2026 sequence whose end has not been read yet
        self._in_frame = False
        self._shown: list[str] = []  # the screen as of the end of the last frame
        self._reader: threading.Thread | None = None
        self.titles: list[str] = []  # every window title the program set (OSC 0 / 2)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PtyProgram:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", self.lines, self.columns, 0, 0))
                if self.cwd:
                    os.chdir(self.cwd)
                os.execvpe(self.argv[0], self.argv, self.env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self._reader = threading.Thread(target=self._read, name="pty reader", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the program closed the terminal (it exited)
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk
                self._feed(chunk)
                title = self._screen.title
                if title and (not self.titles or self.titles[-1] != title):
                    self.titles.append(title)

    def _feed(self, chunk: bytes) -> None:
        """Into the emulated screen, frame by frame (under the lock)."""
        data = self._held + chunk
        held = next((len(p) for p in sorted(SYNC_PREFIXES, key=len, reverse=True) if data.endswith(p)), 0)
        data, self._held = data[: len(data) - held], data[len(data) - held :]
        pos = 0
        for marker in SYNC.finditer(data):
            self._stream.feed(data[pos : marker.end()])
            pos = marker.end()
            kind = marker.group(1)
            if kind == b"$p":
                os.write(self.fd, SYNC_SUPPORTED)
            elif kind == b"h":
                self._in_frame = True
            else:
                self._in_frame = False
                self._shown = self._display()
        self._stream.feed(data[pos:])
        if not self._in_frame:
            self._shown = self._display()

    def _display(self) -> list[str]:
        return [line.rstrip() for line in self._screen.display]

    def resize(self, columns: int, lines: int) -> None:
        """A new window size: the kernel sends SIGWINCH to the program."""
        with self._lock:
            self.columns, self.lines = columns, lines
            self._screen.resize(lines, columns)
            if not self._in_frame:
                self._shown = self._display()
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))

    def send(self, *keys: str | bytes) -> None:
        """Key names from `KEYS`, single characters, or raw bytes."""
        for key in keys:
            data = key if isinstance(key, bytes) else KEYS.get(key, key.encode())
            os.write(self.fd, data)
            if data == b"\x1b":
                # A lone ESC is only a key once no sequence follows it: let the program see it alone.
                self.wait_for_quiet(0.15)

    def wait_exit(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
                if self._reader is not None:
                    self._reader.join(timeout=5)
                return self.exit_status
            time.sleep(0.05)
        raise ScreenTimeout(f"{self.argv[0]} did not exit within {timeout}s\n{self.text()}")

    def close(self) -> None:
        """End the program if it is still running (it was started here; by its id only)."""
        if self.pid and self.exit_status is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.wait_exit(5)
            except (ProcessLookupError, ChildProcessError):
                pass
            except ScreenTimeout:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    def __enter__(self) -> PtyProgram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def text(self) -> str:
        """The screen as shown now (as of the last complete frame), one line per terminal row."""
        with self._lock:
            return "\n".join(self._shown)

    def bytes_so_far(self) -> int:
        with self._lock:
            return len(self.raw)

    def wait_for(self, expected: str | Callable[[str], bool], timeout: float = 30.0, *, what: str = "") -> str:
        """Wait until the screen shows ``expected`` (text, or a predicate on the screen text); return the screen."""
        test = (lambda screen: expected in screen) if isinstance(expected, str) else expected
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if test(screen):
                return screen
            if time.monotonic() > deadline:
                raise ScreenTimeout(f"waited {timeout}s for {what or expected!r}; the screen shows:\n{screen}")
            if self.exit_status is None:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.exit_status = os.waitstatus_to_exitcode(status)
                    raise ScreenTimeout(f"the program exited ({self.exit_status}) while waiting for {what or expected!r}:\n{screen}")
            time.sleep(0.05)

    def wait_for_quiet(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until the program has written nothing for ``quiet`` seconds (it finished drawing)."""
        deadline = time.monotonic() + timeout
        last, since = self.bytes_so_far(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.bytes_so_far()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def find(self, pattern: str) -> re.Match[str] | None:
        return re.search(pattern, self.text())
