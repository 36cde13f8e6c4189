"""An exclusive, advisory lock on a store directory, so two runs never interleave."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from motorec.errors import StoreError


class StoreLock:
    """`flock` on `<store>/lock`; released when the process exits, even after kill -9.

    While held, the file holds the holder's pid (for the "in use" message); it is emptied on release.

    Args:
        path: The lock file.
        wait_s: Seconds to wait for another run to finish; 0 fails at once with a clear message.
    """

    def __init__(self, path: str | Path, wait_s: float = 0.0):
        self.path, self.wait_s = Path(path), wait_s
        self._fd: int | None = None

    def acquire(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise StoreError(
                        f"store {self.path.parent} is in use by another motorec run (pid {holder}); "
                        "wait for it to finish, or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            # forget the holder's pid first, so a released store's files are byte-identical to before
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
