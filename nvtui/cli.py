"""The headless CLI (DESIGN.md, "CLI contract"). Errors are one line on stderr; exit codes:
0 the device returned success, 1 an error status, 2 bad usage or input, 3 device, permission or kernel error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from nvtui import __version__
from nvtui.errors import CommandTimeout, DeviceError, NvtuiError, UsageError, one_line
from nvtui.locations import ENV_DEBUG

EXIT_OK, EXIT_STATUS, EXIT_USAGE, EXIT_DEVICE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 (argparse would print the whole usage)."""

    def error(self, message: str) -> NoReturn:
        # The message quotes what was typed (`nvtui $'-\r'`): one printable line, whatever it holds.
        self.exit(EXIT_USAGE, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        # Python 3.11 argparse: `send DEV -- --` leaves the missing CMD as [] instead of reporting it.
        missing = [
            a.metavar or a.dest
            for a in self._actions
            if not a.option_strings and a.nargs is None and getattr(parsed, a.dest, None) == []
        ]
        if missing:
            self.error(f"the following arguments are required: {', '.join(map(str, missing))}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nvtui", description="Interactive terminal explorer for NVMe devices.")
    p.add_argument("--version", action="version", version=f"nvtui {__version__}")
    p.add_argument("--device", help="device to open in the TUI (ngXnY, /dev/nvmeX, sim0n1, ...)")
    p.add_argument("--catalogue", action="append", default=[], type=Path, metavar="FILE",
                   help="an extra command catalogue (YAML); repeatable")  # fmt: skip
    p.add_argument("--backend", choices=("uring", "ioctl", "sim"), help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)

    ls = sub.add_parser("list", help="controllers, namespaces and their char/block devices")
    ls.add_argument("--json", action="store_true")

    send = sub.add_parser("send", help="send one command")
    send.add_argument("device", metavar="DEV", nargs="?")
    send.add_argument("command", metavar="CMD", nargs="?")
    send.add_argument("fields", nargs="*", metavar="FIELD=VALUE",
                      help="VALUE is decimal, 0x-hex or an enum name (a KV key: text or 0x-hex)")  # fmt: skip
    send.add_argument("--data-len", type=_byte_count, metavar="N",
                      help="data buffer length; sets an unset length field (numd, nlb) to match")  # fmt: skip
    send.add_argument("--data-in", type=Path, metavar="FILE", help="data sent to the controller")
    send.add_argument("--data-out", type=Path, metavar="FILE", help="where the data read is written")
    send.add_argument("--metadata-in", type=Path, metavar="FILE",
                      help="metadata sent with a write (namespaces with separate metadata)")  # fmt: skip
    send.add_argument("--metadata-out", type=Path, metavar="FILE", help="where the metadata read is written")
    send.add_argument("--zero-metadata", action="store_true",
                      help="a write stores zeros as its metadata (instead of --metadata-in)")  # fmt: skip
    send.add_argument("--no-data", action="store_true",
                      help="a raw command whose opcode says it moves data moves none")  # fmt: skip
    send.add_argument("--whole-log", action="store_true",
                      help="a telemetry log (lid 07h/08h) whole, header then data areas, in MDTS-sized "
                           "pieces into --data-out")  # fmt: skip
    send.add_argument("--data-area", type=int, choices=(1, 2, 3, 4), default=3,
                      help="with --whole-log: the last data area read (default 3; 4 where enabled)")
    _add_timeout_option(send)
    _add_catalogue_option(send)
    send.add_argument("--backend", dest="send_backend", choices=("uring", "ioctl", "sim"))
    send.add_argument("--allow-destructive", action="store_true")
    send.add_argument("--json", action="store_true")
    send.add_argument(
        "--nvme-cli", metavar="LINE", help="an nvme-cli line to send instead of CMD (DEV replaces its device)"
    )

    run = sub.add_parser("run", help="replay a saved command script")
    run.add_argument("script", type=Path, metavar="SCRIPT")
    run.add_argument("--device", dest="run_device", metavar="[OLD=]NEW", action="append",
                     help="NEW: every step goes to NEW; OLD=NEW: the steps recorded on OLD go to NEW; "
                          "repeatable")  # fmt: skip
    run.add_argument("--backend", dest="run_backend", choices=("uring", "ioctl", "sim"))
    run.add_argument("--allow-destructive", action="store_true")
    run.add_argument("--json", action="store_true")
    _add_timeout_option(run)
    _add_catalogue_option(run)

    bench = sub.add_parser("bench", help="load namespaces and measure IOPS and latency")
    bench.add_argument("device", metavar="DEV", nargs="+", help="one or more namespaces, loaded at once")
    bench.add_argument("--rw", choices=("randread", "randwrite", "read", "write"), default="randread")
    bench.add_argument("--bs", type=_byte_count, default=4096, metavar="N")
    bench.add_argument("--qd", type=_positive_int, default=32, metavar="N")
    bench.add_argument("--seconds", type=_positive_float, default=5.0, metavar="S")
    bench.add_argument("--backend", dest="bench_backend", choices=("uring", "ioctl", "sim"))
    bench.add_argument("--fixed-buffers", action="store_true")
    bench.add_argument("--poll", action="store_true", help="polled completions (IOPOLL)")
    bench.add_argument("--allow-destructive", action="store_true")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--fio-job", type=Path, metavar="FILE", help="also write the run as a fio job file")
    bench.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                       help="engine threads, each with its own ring (default 1)")  # fmt: skip
    bench.add_argument("--ladder", action="store_true",
                       help="run the workload through every interface in turn: block, ioctl, uring_cmd and "
                            "its options")  # fmt: skip

    serve = sub.add_parser("serve", help="the TUI in a browser (textual-serve), on 127.0.0.1 by default")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, metavar="P")
    serve.add_argument(
        "--allow-remote", action="store_true", help="listen on a non-loopback address"
    )

    doctor = sub.add_parser("doctor", help="check the machine and the devices for what nvtui needs")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument("--poll", action="store_true", help="polled completions wanted: poll queues")
    doctor.add_argument(
        "devices",
        nargs="*",
        metavar="DEV",
        help="check these devices, or a subsystem by its NQN (nqn....) (default: all found)",
    )
    doctor.add_argument(
        "--transport",
        choices=("tcp", "rdma", "fc", "loop"),
        default="tcp",
        help="a named subsystem's transport",
    )
    doctor.add_argument("--traddr", default="", help="a named subsystem's target address (for nvme connect)")
    doctor.add_argument("--trsvcid", default="", help="its service id, the TCP port (default 4420)")

    cat = sub.add_parser("catalogue", help="list the command catalogue or check a catalogue file")
    cat_sub = cat.add_subparsers(dest="catalogue_verb", metavar="ACTION", parser_class=_Parser, required=True)
    cat_list = cat_sub.add_parser("list", help="every command, user catalogues included")
    cat_list.add_argument("--json", action="store_true")
    _add_catalogue_option(cat_list)
    cat_check = cat_sub.add_parser("check", help="validate a catalogue file; exit 2 on any error")
    cat_check.add_argument("file", type=Path, metavar="FILE")

    schema = sub.add_parser("schema", help="JSON Schema of what --json shows decoded, per structure")
    schema.add_argument("structures", nargs="*", metavar="STRUCTURE",
                        help="structure ids (default: every structure, in one document)")  # fmt: skip
    _add_catalogue_option(schema)

    sim = sub.add_parser("sim", help="the simulated controller's own files")
    sim_sub = sim.add_subparsers(dest="sim_verb", metavar="ACTION", parser_class=_Parser, required=True)
    sim_reset = sim_sub.add_parser("reset", help="erase the simulated drive (its files in its folder)")
    sim_reset.add_argument("--yes", action="store_true", help="do not ask")
    return p


def _add_catalogue_option(parser: argparse.ArgumentParser) -> None:
    # A dest of its own: a subparser's default would otherwise overwrite the top-level option's value.
    parser.add_argument("--catalogue", dest="sub_catalogue", action="append", default=[], type=Path,
                        metavar="FILE", help="an extra command catalogue (YAML); repeatable")  # fmt: skip


def _add_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=_timeout_seconds, metavar="SECONDS",
                        help="how long to wait for each command's completion (default: the catalogue "
                             "entry's, else 60); also the kernel's timeout for it")  # fmt: skip


def _timeout_seconds(text: str) -> int:
    from nvtui.nvme.timeouts import MAX_TIMEOUT_S, MIN_TIMEOUT_S

    value = _option_number(text, "a number of seconds")
    if not MIN_TIMEOUT_S <= value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"{text} out of range {MIN_TIMEOUT_S}-{MAX_TIMEOUT_S} seconds")
    return value


def catalogue_files(args: argparse.Namespace) -> list[Path]:
    """--catalogue given before or after the verb."""
    return [*args.catalogue, *getattr(args, "sub_catalogue", [])]


def _option_number(text: str, what: str) -> int:
    """An option's number under the rule every field and file follows (`nvtui.numbers`): decimal or 0x-hex."""
    from nvtui.numbers import NumberTooLong, parse_number

    try:
        value = parse_number(text.strip())
    except NumberTooLong as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what} (decimal or 0x-hex)")
    return value


def _byte_count(text: str) -> int:
    value = _option_number(text, "a byte count")
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text} out of range 0-4294967295")
    return value


def _positive_int(text: str) -> int:
    value = _option_number(text, "a whole number")
    if not 1 <= value <= 65536:
        raise argparse.ArgumentTypeError(f"{text} out of range 1-65536")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} out of range (0, 86400] seconds")
    return value


def _print_json(obj: object) -> None:
    """A JSON document on stdout, with `schema_version` (nvtui.structures.jsonschema) first."""
    import json

    from nvtui.structures.jsonschema import with_version

    print(json.dumps(with_version(obj), indent=2))


# --- verbs ----------------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from nvtui.backend.discovery import list_controllers

    controllers = list_controllers()
    if args.json:
        _print_json({"controllers": [asdict(c) for c in controllers]})
        return EXIT_OK
    from nvtui.backend.discovery import path_line, transport_text

    for c in controllers:
        kind = transport_text(c)
        print(f"{c.name}  {c.char_dev or '-'}  {c.model} (sn {c.serial}, fw {c.firmware}, {kind}, {c.state})")
        if c.fabrics:
            print(f"  subsysnqn {c.subsysnqn}  hostnqn {c.hostnqn}")
        if c.access_error:
            print(f"  ! {c.access_error}")
        for ns in c.namespaces:
            size = f"{ns.size_bytes / 2**30:.2f} GiB"
            fmt = f"{ns.lba_size}" + (f"+{ns.metadata_size}" if ns.metadata_size else "")
            kind = "key-value" if ns.command_set == "kv" else f"lba {fmt}" + (" zoned" if ns.zoned else "")
            devs = " ".join(d for d in (ns.char_dev, ns.block_dev) if d) or "(simulated)"
            print(f"  {ns.name}  nsid {ns.nsid}  {size}  {kind}  {devs}")
            for path in ns.paths:
                print(f"    path {path_line(path)}")
            if ns.access_error:
                print(f"    ! {ns.access_error}")
    return EXIT_OK


def _load_catalogue(files: Sequence[Path]) -> object:
    from nvtui.catalogue import load_catalogue
    from nvtui.catalogue.loader import catalogue_file_problem

    for f in files:
        problem = catalogue_file_problem(f)  # absent, a folder, a FIFO, a device, too big: nothing read
        if problem:
            raise UsageError(problem)
    catalogue = load_catalogue(list(files))
    for err in catalogue.errors:
        print(f"nvtui: warning: {err}", file=sys.stderr)
    for notice in catalogue.notices:
        print(f"nvtui: notice: {notice}", file=sys.stderr)
    return catalogue


def cmd_send(args: argparse.Namespace) -> int:
    import asyncio

    from nvtui.render import hexdump, record_table, status_text
    from nvtui.session import Session

    catalogue = _load_catalogue(catalogue_files(args))
    if args.nvme_cli is not None:
        from nvtui.nvmecli.face import run_send

        return run_send(args, catalogue)
    if args.device is None or args.command is None:
        raise UsageError("send: DEV and CMD are required (or --nvme-cli LINE)")
    if args.whole_log:
        return _send_whole_log(args, catalogue)

    async def go() -> int:
        session = Session(catalogue, args.send_backend or args.backend, history_limit=0)  # type: ignore[arg-type]
        try:
            prepared = await session.prepare(
                args.device, args.command, args.fields, data_len=args.data_len, data_in=args.data_in,
                data_out=args.data_out, metadata_in=args.metadata_in, metadata_out=args.metadata_out,
                zero_metadata=args.zero_metadata, no_data=args.no_data,
                allow_destructive=args.allow_destructive, timeout=args.timeout,
            )  # fmt: skip
            for warning in prepared.warnings:
                print(f"nvtui: warning: {warning}", file=sys.stderr)
            if prepared.notice:
                print(f"nvtui: notice: {prepared.notice}", file=sys.stderr, flush=True)
            try:
                result = await session.send(prepared)
            except CommandTimeout as exc:
                raise CommandTimeout(f"{exc}; --timeout sets how long") from None
        finally:
            await session.close()
        for notice in result.notices:
            print(f"nvtui: {notice}", file=sys.stderr)
        c = result.completion
        if args.json:
            _print_json(result.to_json())
        else:
            print(f"{result.prepared.defn.id} on {args.device}: {status_text(c.status)}")
            latency_us = c.latency_ns / 1000
            data_len, metadata_len = prepared.command.data_len, prepared.command.metadata_len
            sizes = f"data {data_len} bytes" + (f", metadata {metadata_len} bytes" if metadata_len else "")
            print(f"result  {c.result:#x}  latency {latency_us:.1f} us  {sizes}")
            for what, where in (("data", result.data_out), ("metadata", result.metadata_out)):
                if where is not None:
                    print(f"{what} written to {where}")
            if result.decoded is not None:
                print(record_table(result.decoded))
            elif c.data and c.ok and result.data_out is None:
                print(hexdump(c.data))
        if result.output_error is not None:
            return EXIT_DEVICE
        return EXIT_OK if c.ok else EXIT_STATUS

    return asyncio.run(go())


def _send_whole_log(args: argparse.Namespace, catalogue: object) -> int:
    """`send DEV get-log-page lid=telemetry-host --whole-log --data-out FILE`: the whole telemetry log."""
    import asyncio

    from nvtui.render import record_table
    from nvtui.session import Session
    from nvtui.telemetry import TelemetryFailed, fetch_telemetry

    if args.data_out is None:
        raise UsageError("--whole-log writes the log to a file: give --data-out FILE")
    options = (("--data-in", args.data_in), ("--data-len", args.data_len),
               ("--metadata-in", args.metadata_in), ("--metadata-out", args.metadata_out))  # fmt: skip
    unused = [name for name, given in options if given]
    if unused:
        raise UsageError(f"--whole-log reads the log in pieces of its own: not with {', '.join(unused)}")
    defn = catalogue.get(args.command)  # type: ignore[attr-defined]
    if defn.id != "get-log-page" and getattr(defn, "preset_of", None) != "get-log-page":
        raise UsageError(f"--whole-log fetches a telemetry log: {defn.id} is not get-log-page")
    values = defn.complete(defn.parse_given(args.fields))
    progress_shown = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        if progress_shown:
            print(f"\rtelemetry: {done:,} of {total:,} bytes ({100 * done // total}%)", end="",
                  file=sys.stderr, flush=True)  # fmt: skip

    async def go() -> int:
        session = Session(catalogue, args.send_backend or args.backend, history_limit=0)  # type: ignore[arg-type]
        try:
            log = await fetch_telemetry(
                session, args.device, args.data_out, lid=values["lid"], data_area=args.data_area,
                create=bool(values.get("lsp", 0) & 1), progress=progress, timeout=args.timeout,
            )  # fmt: skip
        except TelemetryFailed as exc:
            if progress_shown:
                print(file=sys.stderr)
            print(f"nvtui: {exc}", file=sys.stderr)
            if args.json:
                failed = {"device": args.device, "command": "get-log-page", "status": exc.status.to_json()}
                _print_json(failed)
            return EXIT_STATUS
        finally:
            await session.close()
        if progress_shown:
            print(file=sys.stderr)
        for notice in log.notices:
            print(f"nvtui: {notice}", file=sys.stderr)
        if args.json:
            _print_json(log.to_json())
            return EXIT_OK
        print(f"telemetry log {log.lid:02X}h on {args.device}: data areas 1-{log.data_area}, "
              f"{log.size:,} bytes in {log.pieces} pieces of up to {log.piece:,} bytes, into {log.path}")
        print(record_table(log.header))
        return EXIT_OK

    return asyncio.run(go())


def cmd_catalogue(args: argparse.Namespace) -> int:
    from nvtui.catalogue.loader import catalogue_file_problem, inspect_file

    if args.catalogue_verb == "check":
        problem = catalogue_file_problem(args.file)
        if problem:
            raise UsageError(problem)
        checked = inspect_file(args.file)
        for err in checked.errors:
            print(str(err), file=sys.stderr)
        for notice in checked.notices:
            print(f"{notice} (notice)")
        if checked.errors:
            return EXIT_USAGE
        print(f"{args.file}: ok")
        return EXIT_OK
    catalogue = _load_catalogue(catalogue_files(args))
    entries = catalogue.entries  # type: ignore[attr-defined]
    if args.json:
        from nvtui import structures

        commands = [
            {
                "id": e.id,
                "name": e.name,
                "set": e.set,
                "opcode": e.opcode,
                "queue": e.queue,
                "destructive": e.destructive,
                "refused": e.refused,
                "refused_on": dict(e.refused_on),  # transport -> why it is not sent there
                "timeout": e.timeout_for(),  # seconds a send waits (--timeout changes it)
                "waits_for_event": e.waits_for_event,
                "source": str(catalogue.source_of(e.id)),  # type: ignore[attr-defined]
            }
            for e in entries
        ]
        layouts = [
            {"id": s.id, "name": s.name, "spec": s.spec, "source": s.source}
            for s in sorted(structures.layouts().values(), key=lambda s: s.id)
        ]
        _print_json({"commands": commands, "structures": layouts})
        return EXIT_OK
    for e in entries:
        flags = " destructive" if e.destructive else ""
        flags += " refused" if e.refused else ""
        print(f"{e.set:7} {e.opcode:#04x} {e.queue:5} {e.id:28} {e.name}{flags}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Exit 0: every step matched its recorded status; 1: a status differed; 3: a device error ended it.

    Each step is printed as it completes and nothing is kept (the session keeps no history), so a replay's
    memory does not grow with the script. `--json` streams too: the `steps` array is written step by step
    and the document closed at the end (also when a device error or Ctrl+C ends the replay)."""
    import asyncio

    from nvtui.render import JsonStream
    from nvtui.scripts import CommandScript, DeviceMap, StepOutcome, recorded_devices, replay_stream
    from nvtui.session import Session

    devices = DeviceMap.parse(args.run_device)
    if not args.script.is_file():
        raise UsageError(f"script {args.script} not found")
    script = CommandScript.load(args.script)
    catalogue = _load_catalogue(catalogue_files(args))
    mapping = {old: devices.target(old) for old in recorded_devices(script)}
    targets = set(mapping.values()) | ({devices.default} if devices.default else set())
    total = len(script.steps)
    out = sys.stdout
    from nvtui.structures.jsonschema import SCHEMA_VERSION

    head = {"schema_version": SCHEMA_VERSION, "script": str(args.script),
            "device": next(iter(targets)) if len(targets) == 1 else None, "devices": mapping}  # fmt: skip
    doc = JsonStream(out, head, "steps") if args.json else None
    done = matched = 0
    failed: str | None = None

    def show(o: StepOutcome) -> None:
        nonlocal done, matched, failed
        done, matched = done + 1, matched + o.matches
        failed = failed or o.error
        for notice in o.result.notices if o.result is not None else ():
            print(f"nvtui: {notice}", file=sys.stderr)  # the simulator's, an output file's: once each
        if doc is not None:
            doc.add(o.to_json())
        elif o.result is None:
            out.write(f"[{o.index + 1}/{total}] {o.step.command}: device error: {o.error}\n")
        else:
            c = o.result.completion
            recorded = f" (recorded: {o.step.expect.name})" if o.step.expect else ""
            mark = "ok" if o.status_matches else "DIFFERS"
            mark += ", data differs" if o.data_differs else ""
            where = f" on {o.device}" if len(targets) > 1 else ""
            out.write(f"[{o.index + 1}/{total}] {o.step.command}{where}: {c.status.name}{recorded} {mark} "
                      f"{c.latency_ns / 1e3:.1f} us\n")  # fmt: skip

    async def go() -> None:
        session = Session(catalogue, args.run_backend or args.backend, history_limit=0)  # type: ignore[arg-type]
        try:
            stream = replay_stream(
                session, script, devices, allow_destructive=args.allow_destructive,
                decode=False,  # neither output shows decoded data
                timeout=args.timeout,
            )  # fmt: skip
            async for outcome in stream:
                show(outcome)
        finally:
            await session.close()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        if doc is not None and doc.count:
            doc.close({"matched": matched, "total": total, "interrupted_after": done})
        raise
    if doc is not None:
        doc.close({"matched": matched, "total": total})
    else:
        out.write(f"{matched}/{total} steps matched their recorded status\n")
    if failed:
        raise DeviceError(failed)
    return EXIT_OK if matched == total else EXIT_STATUS


def cmd_bench(args: argparse.Namespace) -> int:
    """Exit 0: every I/O succeeded; 1: some completed with an error status; 2, 3 as everywhere."""
    import asyncio

    from nvtui.bench import run_bench, run_bench_many

    devices: list[str] = args.device
    if args.ladder:
        return _bench_ladder(args)
    if len(devices) > 1 or args.jobs > 1:
        if args.fio_job is not None:
            raise UsageError("--fio-job writes the job of one device on one thread: drop it, or --jobs")
        if args.bench_backend not in (None, "uring"):
            raise UsageError(
                f"several devices or --jobs run the C engine over uring, not --backend {args.bench_backend}"
            )
        many = asyncio.run(
            run_bench_many(
                devices, rw=args.rw, bs=args.bs, qd=args.qd, seconds=args.seconds, jobs=args.jobs,
                fixed_buffers=args.fixed_buffers, poll=args.poll, allow_destructive=args.allow_destructive,
            )
        )  # fmt: skip
        if args.json:
            _print_json(many.to_json())
        else:
            for one in (*many.devices, many.aggregate):
                _print_bench(one)
        return EXIT_STATUS if many.errors else EXIT_OK
    args.device = devices[0]
    if args.fio_job is not None:
        _write_fio_job(args)
    result = asyncio.run(
        run_bench(
            args.device, rw=args.rw, bs=args.bs, qd=args.qd, seconds=args.seconds,
            backend_kind=args.bench_backend or args.backend, fixed_buffers=args.fixed_buffers, poll=args.poll,
            allow_destructive=args.allow_destructive,
        )
    )  # fmt: skip
    if args.json:
        _print_json(result.to_json())
    else:
        _print_bench(result)
    return EXIT_STATUS if result.errors else EXIT_OK


def _print_bench(result: Any) -> None:
    h = result.latency
    flags = (("fixed-buffers", result.fixed_buffers), ("poll", result.poll))
    options = "".join(f" +{o}" for o, on in flags if on)
    print(
        f"{result.device} {result.rw} bs={result.bs} qd={result.qd} ({result.backend}, "
        f"{result.engine} engine{options}): {result.seconds:.2f} s"
    )
    print(f"  IOPS {result.iops:,.0f}  bandwidth {result.mb_per_s:,.1f} MB/s  I/Os {result.ios:,}")
    lat = [("mean", h.mean_ns)] + [(f"p{p:g}", h.percentile(p)) for p in (50, 90, 99, 99.9)]
    lat.append(("max", h.max_ns))
    print("  latency " + "  ".join(f"{name} {ns / 1e3:,.1f}" for name, ns in lat) + " us")
    if result.cpu_seconds is not None:
        print(f"  CPU {result.cpu_seconds:.3f} s, {result.cpu_per_io_ns / 1e3:.2f} us per I/O")
    if result.errors:
        print(f"  errors {result.errors:,} (first: {result.first_error})")
    for event in result.path_events:
        print(f"  path change at {event}")


def _bench_ladder(args: argparse.Namespace) -> int:
    """`bench DEV --ladder`: every rung of nvtui.ladder.RUNGS, one table (or `{"rungs": [...]}`)."""
    import asyncio

    from nvtui.ladder import Workload, run_ladder

    if len(args.device) > 1:
        raise UsageError("--ladder takes one device: it compares the interfaces to one namespace")
    given = [o for o, on in (("--jobs", args.jobs > 1), ("--fixed-buffers", args.fixed_buffers),
                             ("--poll", args.poll), ("--backend", args.bench_backend is not None),
                             ("--fio-job", args.fio_job is not None)) if on]  # fmt: skip
    if given:
        raise UsageError(f"--ladder runs every interface and option itself: drop {', '.join(given)}")
    workload = Workload(rw=args.rw, bs=args.bs, qd=args.qd, seconds=args.seconds)
    ladder = asyncio.run(run_ladder(args.device[0], workload, allow_destructive=args.allow_destructive))
    if args.json:
        _print_json(ladder.to_json())
        return EXIT_STATUS if ladder.errors else EXIT_OK
    t = ladder.target
    print(
        f"{t.name} (nsid {t.nsid}, block device {t.block_dev or 'none'}): {workload.rw} bs={workload.bs} "
        f"qd={workload.qd}, {workload.seconds:g} s per rung, {ladder.elapsed_s:.1f} s in all"
    )
    head = ("rung", "IOPS", "MB/s", "p50 us", "p99 us", "p99.9 us", "CPU/IO us", "vs block")
    print(f"  {head[0]:<17}" + "".join(f"{h:>11}" for h in head[1:]))
    for r in ladder.rungs:
        if r.skipped is not None:
            print(f"  {r.rung.name:<17}  skipped: {r.skipped}")
            continue
        h = r.latency
        cells = [f"{r.iops:,.0f}", f"{r.mb_s:,.1f}"]
        cells += [f"{h.percentile(p) / 1e3:,.1f}" for p in (50, 99, 99.9)]
        cells += [f"{r.cpu_per_io_ns / 1e3:,.2f}", "-" if r.vs_block is None else f"{r.vs_block:.2f}x"]
        line = f"  {r.rung.name:<17}" + "".join(f"{c:>11}" for c in cells)
        if r.errors:
            line += f"  errors {r.errors:,} (first: {r.first_error})"
        print(line)
    return EXIT_STATUS if ladder.errors else EXIT_OK


def _write_fio_job(args: argparse.Namespace) -> None:
    """The bench's parameters as a fio job file (io_uring_cmd), written before the run, checked first."""
    from nvtui.nvmecli.fio import fio_job
    from nvtui.safeio import OutputFile

    device = args.device if args.device.startswith(("/dev/", "sim")) else f"/dev/{args.device}"
    text = fio_job(device, rw=args.rw, bs=args.bs, qd=args.qd, seconds=args.seconds,
                   fixed_buffers=args.fixed_buffers, poll=args.poll)  # fmt: skip
    with OutputFile(args.fio_job, "--fio-job") as out:
        out.commit(text.encode())


def cmd_schema(args: argparse.Namespace) -> int:
    """`nvtui schema [STRUCTURE ...]`: one structure's JSON Schema, several in a list, or all in one
    document (user catalogues' structures included). Exit 2 for a structure that does not exist."""
    from nvtui import structures
    from nvtui.catalogue.model import close_matches
    from nvtui.structures.jsonschema import all_schemas, structure_schema

    _load_catalogue(catalogue_files(args))  # registers user catalogues' structures
    layouts = structures.layouts()
    for sid in args.structures:
        if sid not in layouts:
            close = close_matches(sid, sorted(layouts), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(f"no structure named {sid!r}{hint} (nvtui schema lists them all)")
    if not args.structures:
        _print_json(all_schemas(layouts))
    elif len(args.structures) == 1:
        _print_json(structure_schema(layouts, args.structures[0]))
    else:
        _print_json({"schemas": [structure_schema(layouts, sid) for sid in args.structures]})
    return EXIT_OK


def cmd_sim(args: argparse.Namespace) -> int:
    """`nvtui sim reset`: the one deliberate way to start the simulated drive over (nvtui never does it on
    its own, not even when the state is damaged)."""
    from nvtui.backend.sim.state import reset, state_dir

    folder = state_dir()
    if not args.yes:
        question = f"erase the simulated drive in {folder} (data, formats, saved features, logs)? [y/N] "
        if not sys.stdin.isatty():
            raise UsageError(
                f"nvtui sim reset erases the simulated drive in {folder}: pass --yes to confirm "
                "(or move the folder away to keep it)"
            )
        if input(question).strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return EXIT_OK
    removed = reset(folder)
    print(f"removed {', '.join(removed)} from {folder}" if removed else f"nothing to remove in {folder}")
    return EXIT_OK


def cmd_tui(args: argparse.Namespace) -> int:
    from nvtui.app import run_app

    return run_app(device=args.device, catalogue_files=args.catalogue, backend=args.backend)


def cmd_serve(args: argparse.Namespace) -> int:
    from nvtui.serve import serve

    return serve(args.host, args.port, allow_remote=args.allow_remote, device=args.device,
                 catalogue_files=args.catalogue, backend=args.backend)  # fmt: skip


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0: everything nvtui needs is there; 1: warnings; 3: problems."""
    from nvtui.doctor import render, run_doctor

    report = run_doctor(
        args.devices, poll=args.poll, transport=args.transport, traddr=args.traddr, trsvcid=args.trsvcid
    )
    if args.json:
        _print_json(report.to_json())
    else:
        print(render(report))
    return report.exit_code


VERBS = {
    "list": cmd_list, "send": cmd_send, "run": cmd_run, "bench": cmd_bench, "catalogue": cmd_catalogue,
    "serve": cmd_serve, "doctor": cmd_doctor, "sim": cmd_sim, "schema": cmd_schema,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verb = VERBS.get(args.verb, cmd_tui)
    try:
        return verb(args)
    except NvtuiError as exc:
        print(f"nvtui: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nvtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal error is still one line; NVTUI_DEBUG=1 shows the traceback
        if os.environ.get(ENV_DEBUG):
            raise
        kind = EXIT_DEVICE if isinstance(exc, OSError) else EXIT_USAGE
        what = one_line(f"{type(exc).__name__}: {exc}")
        print(f"nvtui: internal error: {what} (NVTUI_DEBUG=1 shows where)", file=sys.stderr)
        return kind


if __name__ == "__main__":
    sys.exit(main())
