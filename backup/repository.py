"""The backup repository: restic (encrypted, deduplicated), in the object store's ``backups``
bucket or a local folder.

The repository key is a file (default ``<state>/secrets/backup-key``, mode 600, created when the
repository is created), not a value read from OpenBao: OpenBao is one of the things a backup
must bring back, so its own loss must not lock the backups away. An operator keeps a copy of
the key offline (a password manager or a sealed envelope, as for OpenBao's unseal key); without
it the repository cannot be read by anyone.

Every call first checks that the object store answers (bounded: :data:`TRIES` tries with
exponential backoff, a short timeout each), so a store that is down or hung fails within
seconds with its endpoint named, instead of restic's own retries taking minutes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backup.environment import ObjectStoreEndpoint
from mlops.errors import BackupError, BackupKeyError, BackupNotFoundError, BackupUnavailableError

TRIES = 3
BACKOFF_S = 0.5
PROBE_TIMEOUT_S = 2.0
RESTIC_TIMEOUT_S = 6 * 3600.0
BACKUP_TAG = "mlops-backup"
_UNREACHABLE = ("connection refused", "dial tcp", "no such host", "i/o timeout", "connection reset")
_NO_REPO = "Is there a repository at the following location?"


def default_key_file(state: Path) -> Path:
    return state.expanduser().resolve() / "secrets" / "backup-key"


@dataclass
class Repository:
    """A restic repository: ``location`` is ``s3:http://host:port/bucket/prefix`` or a folder."""

    location: str
    key_file: Path
    store: ObjectStoreEndpoint | None = None
    host: str = "mlops"  # one host name for every run: retention groups snapshots by it
    cache_dir: Path | None = None
    # False when the key is provided from outside (on a cluster: Vault renders it): a missing
    # key file is then an error, never a reason to generate a new key.
    generate_key: bool = True
    tries: int = TRIES
    backoff_s: float = BACKOFF_S

    # ------------------------------------------------------------------ plumbing
    def _env(self) -> dict[str, str]:
        # Explicit store credentials replace any AWS_* of the caller; without them the caller's
        # AWS_* stay (on a cluster: the pod's workload identity, AWS_ROLE_ARN + token file).
        drop = ("RESTIC_", "AWS_") if self.store is not None and self.store.has_keys else ("RESTIC_",)
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env |= {"RESTIC_REPOSITORY": self.location, "RESTIC_PASSWORD_FILE": str(self.key_file)}
        if self.store is not None:
            env |= self.store.child_env()
        if self.cache_dir is not None:
            env["RESTIC_CACHE_DIR"] = str(self.cache_dir)
        return env

    def _probe(self) -> str | None:
        """None when the object store answers HTTP (any status), else why not."""
        if self.store is None:
            return None
        try:
            with urllib.request.urlopen(self.store.probe_url(), timeout=PROBE_TIMEOUT_S):
                return None
        except urllib.error.HTTPError:
            return None  # it answered (403 without a signature): it is up
        except (OSError, ValueError) as exc:
            return str(getattr(exc, "reason", exc))

    def _wait_for_store(self) -> None:
        why = None
        for attempt in range(self.tries):
            why = self._probe()
            if why is None:
                return
            if attempt + 1 < self.tries:
                time.sleep(self.backoff_s * 2**attempt)
        endpoint = self.store.probe_url() if self.store else self.location
        raise BackupUnavailableError(
            f"the backup repository's object store at {endpoint} does not answer after {self.tries} tries ({why})"
        )

    def run(
        self, args: Sequence[str], *, cwd: Path | None = None, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``restic <args>``; connection failures are retried (bounded), a wrong key is named."""
        self._wait_for_store()
        done: subprocess.CompletedProcess[str] | None = None
        for attempt in range(self.tries):
            try:
                done = subprocess.run(
                    ["restic", *args],
                    cwd=cwd,
                    input=stdin,
                    env=self._env(),
                    capture_output=True,
                    text=True,
                    timeout=RESTIC_TIMEOUT_S,
                )
            except FileNotFoundError:
                raise BackupError("`restic` is not installed: apt-get install restic (make system-tools)") from None
            if done.returncode == 0 or not any(m in done.stderr.lower() for m in _UNREACHABLE):
                break
            if attempt + 1 < self.tries:
                time.sleep(self.backoff_s * 2**attempt)
        assert done is not None
        if done.returncode != 0 and check:
            raise self._error(args, done)
        return done

    def _error(self, args: Sequence[str], done: subprocess.CompletedProcess[str]) -> BackupError:
        stderr = done.stderr.strip()
        if "wrong password" in stderr or "no key found" in stderr:
            return BackupKeyError(f"the repository key in {self.key_file} does not open {self.location}")
        if _NO_REPO in stderr:
            return BackupNotFoundError(f"no backup repository at {self.location} (`mlops backup create` makes one)")
        if any(m in stderr.lower() for m in _UNREACHABLE):
            return BackupUnavailableError(
                f"the backup repository at {self.location} does not answer after {self.tries} tries: {stderr[-300:]}"
            )
        last = stderr.splitlines()[-1] if stderr else done.stdout.strip()[-300:]
        return BackupError(f"restic {args[0]} failed (exit {done.returncode}): {last}")

    def json(self, args: Sequence[str]) -> Any:
        return json.loads(self.run([*args, "--json"]).stdout or "null")

    # ------------------------------------------------------------------ repository life
    def exists(self) -> bool:
        done = self.run(["cat", "config"], check=False)
        if done.returncode == 0:
            return True
        if _NO_REPO in done.stderr:
            return False
        raise self._error(["cat"], done)

    def ensure(self, *, create: bool) -> None:
        """Check the key file; with ``create``, make the repository (and its key) when missing.

        Without ``create`` the repository itself is not probed: the command that follows fails
        with "no backup repository" when there is none (each restic call costs a key derivation)."""
        if not self.key_file.exists():
            self._wait_for_store()
            if not create or not self.generate_key or self.exists_without_key():
                raise BackupKeyError(
                    f"the repository key file {self.key_file} is missing: put back the operator's copy of the key"
                )
            self._new_key()
        if create and not self.exists():
            self.run(["init"])

    def manifest(self, snapshot: str, path: str) -> str | None:
        """The text of ``path`` in ``snapshot``; cached by snapshot id (a snapshot never changes)."""
        cached = self.cache_dir / "manifests" / f"{snapshot}.json" if self.cache_dir else None
        if cached is not None and cached.exists():
            return cached.read_text()
        done = self.run(["dump", snapshot, path], check=False)
        if done.returncode != 0:
            if _NO_REPO in done.stderr or "wrong password" in done.stderr:
                raise self._error(["dump"], done)
            return None
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(done.stdout)
        return done.stdout

    def exists_without_key(self) -> bool:
        """Whether a repository exists (readable without a key: its config object is there)."""
        if self.store is None:
            return (Path(self.location) / "config").exists()
        bucket_path = self.location.split("://", 1)[1].split("/", 1)[1]
        from pyarrow import fs

        info = self.store.filesystem().get_file_info(f"{bucket_path.rstrip('/')}/config")
        return bool(info.type == fs.FileType.File)

    def _new_key(self) -> None:
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        self.key_file.parent.chmod(0o700)
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")

    def unlock_stale(self) -> None:
        """Remove stale locks only (a killed run's); a live run's lock stays."""
        self.run(["unlock"])

    # ------------------------------------------------------------------ snapshots
    def snapshots(self, *tags: str) -> list[dict[str, Any]]:
        # One --tag with a comma list: only snapshots that carry every one of the tags.
        found = self.json(["snapshots", "--tag", ",".join((BACKUP_TAG, *tags))])
        return sorted(found or [], key=lambda s: s["time"])

    def version(self) -> str:
        return self.run(["version"]).stdout.strip()


__all__ = ["BACKUP_TAG", "Repository", "default_key_file"]
