"""`nvtui send --nvme-cli LINE`: the CLI face of an imported nvme-cli line (called from `nvtui.cli`).

The send options apply on top of the line: `--json`, `--data-out`, `--data-in`, `--backend`,
`--allow-destructive`, and a DEV given to nvtui runs the line on that device instead of the line's own
(e.g. an nvme-cli line from a lab notebook, tried on the simulator first). nvme-cli's `-b` / `-o binary`
writes the data read, raw, to standard output; `--dry-run` prints the command and both nvme-cli lines and
sends nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from nvtui.errors import UsageError

EXIT_OK, EXIT_STATUS = 0, 1


def run_send(args: argparse.Namespace, catalogue: object) -> int:
    import asyncio
    import json

    from nvtui.nvmecli.parse import parse_nvme_cli
    from nvtui.nvmecli.session import prepare_imported
    from nvtui.render import hexdump, record_table, status_text
    from nvtui.session import Session

    if args.command is not None:
        raise UsageError(
            "send --nvme-cli takes the command from the line; give no CMD (DEV may replace its device)"
        )
    if args.fields:
        raise UsageError("send --nvme-cli takes the fields from the line; give no FIELD=VALUE")
    imported = parse_nvme_cli(args.nvme_cli, catalogue)  # type: ignore[arg-type]
    options = imported.options
    if args.data_in is not None:
        options = replace(options, data_in=args.data_in)
    if args.data_out is not None:
        options = replace(options, data_out=args.data_out)
    if args.data_len is not None:
        options = replace(options, data_len=args.data_len)
    imported = replace(imported, options=options)
    device = args.device or imported.device
    as_json = args.json or imported.display.json

    async def go() -> int:
        session = Session(catalogue, args.send_backend or args.backend)  # type: ignore[arg-type]
        try:
            prepared = await prepare_imported(
                session, imported, allow_destructive=args.allow_destructive, device=device
            )
            for warning in prepared.warnings:
                print(f"nvtui: warning: {warning}", file=sys.stderr)
            if imported.display.dry_run or imported.display.show_command:
                _show_command(prepared, session, device)
                for note in imported.notes:
                    print(f"  note: {note}")
            if imported.display.dry_run:
                return EXIT_OK
            from nvtui.safeio import OutputFile

            # The output file is checked and reserved before the command goes out: its answer is not lost.
            out = OutputFile(options.data_out) if options.data_out is not None else None
            try:
                result = await session.send(prepared)
            except BaseException:
                if out is not None:
                    out.discard()
                raise
        finally:
            await session.close()
        c = result.completion
        for notice in result.notices:
            print(f"nvtui: {notice}", file=sys.stderr)
        data = c.data
        if data is not None and options.data_size is not None:
            data = data[: options.data_size].ljust(options.data_size, b"\0")
        if out is not None:
            with out:
                if data is not None and c.ok:
                    out.commit(data)
        if as_json:
            extra = {"nvme_cli_input": imported.line, "nvme_cli_notes": list(imported.notes)}
            from nvtui.structures.jsonschema import with_version

            print(json.dumps(with_version({**result.to_json(), **extra}), indent=2))
        elif imported.display.binary and options.data_out is None:
            if data is not None and c.ok:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:
                print(f"{result.prepared.defn.id} on {device}: {status_text(c.status)}", file=sys.stderr)
        else:
            print(f"{result.prepared.defn.id} on {device}: {status_text(c.status)}")
            print(
                f"result  {c.result:#x}  latency {c.latency_ns / 1000:.1f} us  "
                f"data {prepared.command.data_len} bytes"
            )
            if result.decoded is not None:
                print(record_table(result.decoded))
            elif c.data and c.ok and options.data_out is None:
                print(hexdump(c.data))
        return EXIT_OK if c.ok else EXIT_STATUS

    return asyncio.run(go())


def _show_command(prepared: object, session: object, device: str) -> None:
    from nvtui.nvmecli.export import nvme_cli_lines

    p = prepared
    cmd = p.command  # type: ignore[attr-defined]
    print(f"{p.defn.id} on {device}: " + " ".join(f"{k}={v}" for k, v in p.values.items()))  # type: ignore[attr-defined]
    print(
        "  "
        + " ".join(f"{name}={value:#x}" for name, value in cmd.cdws.items())
        + f" data_len={cmd.data_len}"
    )
    idiomatic, passthru = nvme_cli_lines(session.catalogue, p.defn, p.values, cmd, device)  # type: ignore[attr-defined]
    if idiomatic:
        print(f"  {idiomatic}")
    print(f"  {passthru}")
