"""``mlops privacy consent import|show``: the consent store (``privacy.consent`` in the platform config).

``import FILE`` checks every line first and stores nothing when any is bad (each bad line is
named with its file and line number; exit code 1). ``show --subject ID`` prints the subject's
current consent per purpose (``--history``: every record); ``show`` alone counts subjects per
purpose and status by their latest record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops.errors import PrivacyError
from mlops_cli.options import ConfigDir, EnvOpt, JsonOpt, load_platform

if TYPE_CHECKING:
    from platform_config import PlatformConfig
    from privacy.consent import ConsentRecord, ConsentStore

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
consent_app = typer.Typer(help="Consent records: import them, show a subject's or the totals.", no_args_is_help=True)

EXIT_ERROR = 1


def _open(platform: PlatformConfig) -> ConsentStore:
    from mlops.secrets import SecretResolver
    from privacy.consent import ConsentStore

    return ConsentStore.open(platform.privacy.consent, platform.state_dir, SecretResolver(platform.vault).resolve)


def _fail(exc: PrivacyError) -> typer.Exit:
    for line in str(exc).splitlines():
        err.print(f"[red]error:[/] {escape(line)}")
    return typer.Exit(EXIT_ERROR)


@consent_app.command("import")
def import_command(
    file: Annotated[
        Path, typer.Argument(help="CSV (subject_id,purpose,status,time[,source]) or JSON lines (.jsonl) of records.")
    ],
    encoding: Annotated[
        str,
        typer.Option(
            "--encoding", help='The file\'s text encoding, e.g. cp1252 (what Windows spreadsheets save as "CSV").'
        ),
    ] = "utf-8",
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    as_json: JsonOpt = False,
) -> None:
    """Check every record of FILE, then store them all in one transaction (none if any line is bad).

    A CSV's delimiter (comma, semicolon, tab or |) is told from its header line."""
    import time

    from privacy.consent import read_consent_file

    platform = load_platform(config_dir, env)
    started = time.perf_counter()
    try:
        records = read_consent_file(file, platform.privacy.consent.purposes, encoding=encoding)
        with _open(platform) as store:
            result = store.add(records)
            where = store.where
    except PrivacyError as exc:
        raise _fail(exc) from None
    seconds = time.perf_counter() - started
    if as_json:
        payload = {"file": str(file), "read": result.read, "added": result.added, "store": where, "seconds": seconds}
        console.print_json(json.dumps(payload))
        return
    console.print(
        f"imported {result.added} record(s) from {escape(str(file))} into {escape(where)} in {seconds:.1f} s"
        + (f" ({result.already_stored} already stored)" if result.already_stored else "")
    )


def _records_table(records: list[ConsentRecord]) -> Table:
    table = Table()
    for col in ("purpose", "status", "time (UTC)", "source"):
        table.add_column(col)
    for r in records:
        style = "green" if r.status == "granted" else "red"
        table.add_row(
            escape(r.purpose), f"[{style}]{r.status}[/]", r.time.isoformat(timespec="seconds"), escape(r.source)
        )
    return table


def _record_json(r: ConsentRecord) -> dict[str, str]:
    return {"purpose": r.purpose, "status": r.status, "time": r.time.isoformat(), "source": r.source}


@consent_app.command("show")
def show_command(
    subject: Annotated[str | None, typer.Option(help="A data subject's id; without it, totals per purpose.")] = None,
    history: Annotated[bool, typer.Option(help="With --subject: every record, oldest first.")] = False,
    config_dir: ConfigDir = Path("config"),
    env: EnvOpt = "dev",
    as_json: JsonOpt = False,
) -> None:
    """A subject's current consent per purpose (latest record wins), or the totals of the store."""
    platform = load_platform(config_dir, env)
    try:
        with _open(platform) as store:
            if subject is None:
                _summary(store, platform.privacy.consent.purposes, as_json)
                return
            current = store.current(subject)
            records = store.history(subject) if history else current
    except PrivacyError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps({"subject": subject, "records": [_record_json(r) for r in records]}))
        return
    if not current:
        console.print(f"no consent records for subject {escape(subject)!r}: no purpose is granted")
        return
    granted = [r.purpose for r in current if r.status == "granted"]
    console.print(
        f"subject {escape(subject)!r}: granted for {escape(', '.join(granted)) or 'no purpose'}"
        + (f" ({len(records)} records)" if history else "")
    )
    console.print(_records_table(records))


def _summary(store: ConsentStore, purposes: list[str], as_json: bool) -> None:
    summary = store.summary()
    names = list(dict.fromkeys([*purposes, *(p for p, _ in summary.counts)]))
    if as_json:
        payload = {
            "store": store.where,
            "subjects": summary.subjects,
            "records": summary.records,
            "purposes": {p: {s: summary.counts.get((p, s), 0) for s in ("granted", "withdrawn")} for p in names},
        }
        console.print_json(json.dumps(payload))
        return
    console.print(f"{summary.records} record(s) of {summary.subjects} subject(s) in {escape(store.where)}")
    table = Table()
    for col in ("purpose", "granted", "withdrawn"):
        table.add_column(col)
    for p in names:
        unknown = "" if p in purposes else " (no longer configured)"
        table.add_row(
            escape(p) + unknown,
            str(summary.counts.get((p, "granted"), 0)),
            str(summary.counts.get((p, "withdrawn"), 0)),
        )
    console.print(table)


__all__ = ["consent_app"]
