"""The commands that do one job and exit: ``validate-config``, ``reference build``,
``simulate``, ``backtest``, ``schemas`` and ``demo``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from stream_monitor.errors import ReferenceError_
from stream_monitor.settings import ServiceSettings

__all__ = ["add_parsers", "cmd_backtest", "cmd_demo", "cmd_reference_build", "cmd_schemas", "cmd_simulate",
           "cmd_validate", "first_line"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the one-job commands to the CLI's subcommands."""
    val = sub.add_parser("validate-config", help="validate a configuration file")
    val.add_argument("path", help="the YAML configuration file to check")
    val.set_defaults(func=cmd_validate)

    ref = sub.add_parser("reference", help="reference profiles")
    ref_sub = ref.add_subparsers(dest="reference_command", required=True)
    rb = ref_sub.add_parser("build", help="profile a CSV/JSONL reference file")
    rb.add_argument("--config", required=True, help="YAML configuration that declares the model")
    rb.add_argument("--model", help="model_id to profile (default: the only model of the configuration)")
    rb.add_argument("--input", required=True, help="reference data, CSV or JSONL")
    rb.add_argument("--output", required=True, help="where to write the profile (JSON)")
    rb.set_defaults(func=cmd_reference_build)

    sim = sub.add_parser("simulate", help="generate a labelled synthetic stream")
    sim.add_argument("--scenario", default="abrupt",
                     choices=["stationary", "abrupt", "gradual", "variance", "new_category", "correlation"],
                     help="what changes in the stream (default: %(default)s)")
    sim.add_argument("--events", type=int, default=10_000, help="number of events (default: %(default)s)")
    sim.add_argument("--change-at", type=int, help="index of the first changed event (default: none, no change)")
    sim.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    sim.add_argument("--model-version", default="v1", help="model_version of the events (default: %(default)s)")
    sim.add_argument("--output", help="write JSON lines here instead of producing to Kafka")
    sim.add_argument("--bootstrap-servers", default="127.0.0.1:9092", help="Kafka to produce to (default: %(default)s)")
    sim.add_argument("--topic", default="model-predictions", help="topic to produce to (default: %(default)s)")
    sim.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    sim.add_argument("--batch", type=int, default=1, help="events per Kafka message (batch envelope)")
    sim.set_defaults(func=cmd_simulate)

    bt = sub.add_parser("backtest", help="run the monitor over a JSONL file of events, without Kafka")
    bt.add_argument("--config", required=True, help="YAML configuration file")
    bt.add_argument("--input", required=True, help="JSONL of prediction records (or a dump of several kinds)")
    bt.add_argument("--labels", help="JSONL of label events, merged with --input by event time")
    bt.add_argument("--output", help="write the window reports and requests here (JSON lines; default: stdout)")
    bt.add_argument("--chunk", type=int, default=1000, help="events per observe() call (default: %(default)s)")
    bt.set_defaults(func=cmd_backtest)

    sch = sub.add_parser("schemas", help="export the JSON Schemas of every event")
    sch.add_argument("--output", default="schemas", help="directory to write to (default: %(default)s)")
    sch.set_defaults(func=cmd_schemas)

    demo = sub.add_parser("demo", help="broker + worker + traffic with drift, end to end")
    demo.add_argument("--events", type=int, default=12_000, help="prediction events to produce (default: %(default)s)")
    demo.add_argument("--change-at", type=int, default=6_000, help="first drifted event (default: %(default)s)")
    demo.add_argument("--workdir", default=".demo", help="worker state and log directory (default: %(default)s)")
    demo.set_defaults(func=cmd_demo)


def cmd_validate(args: argparse.Namespace) -> int:
    """The configuration, then every reference and profile it names, loaded as the
    worker loads them."""
    from stream_monitor.config.references import load_references, load_version_references

    settings = ServiceSettings.from_yaml(args.path)
    problems = []
    for spec in settings.models:
        for attr in ("path", "profile"):
            p = getattr(spec.reference, attr)
            if p is not None and not p.exists():
                problems.append(f"{args.path}: models.{spec.model_id}.reference.{attr}: file not found: {p}")
        for version, vr in spec.version_references.items():
            for attr in ("path", "profile"):
                p = getattr(vr, attr)
                if p is not None and not p.exists():
                    problems.append(f"{args.path}: models.{spec.model_id}.version_references.{version}.{attr}: "
                                    f"file not found: {p}")
    if not problems:
        try:
            load_references(settings)
            load_version_references(settings)
        except ReferenceError_ as exc:
            problems.append(f"{args.path}: {first_line(exc)}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    print(f"{args.path}: ok ({len(settings.models)} model(s))")
    return 0


def cmd_reference_build(args: argparse.Namespace) -> int:
    from stream_monitor.config.references import build_from_file, save_profile

    settings = ServiceSettings.from_yaml(args.config)
    specs = {m.model_id: m for m in settings.models}
    model = args.model or (next(iter(specs)) if len(specs) == 1 else None)
    if model not in specs:
        print(f"choose a model with --model: {', '.join(specs)}", file=sys.stderr)
        return 2
    profile = build_from_file(specs[model], Path(args.input))
    save_profile(profile, Path(args.output))
    print(f"{args.output}: profile of {profile.rows} rows, {len(profile.features)} features, "
          f"fingerprint {profile.fingerprint()}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from stream_monitor.tools.simulate import Scenario, generate, to_json

    scenario = Scenario(kind=args.scenario, change_at=args.change_at, seed=args.seed,
                        model_version=args.model_version)
    events = (to_json(e) for e in generate(scenario, args.events))
    if args.output:
        with open(args.output, "wb") as fh:
            for raw in events:
                fh.write(raw + b"\n")
        print(json.dumps({"events": args.events, "scenario": args.scenario, "change_at": args.change_at,
                          "changed_features": list(scenario.changed_features())}))
        return 0
    from stream_monitor.tools.kafka_admin import check_broker
    from stream_monitor.tools.simulate import stamped_from
    from stream_monitor.tools.traffic import produce

    check_broker(args.bootstrap_servers)
    scenario = stamped_from(scenario, time.time(), args.rate)  # live traffic: stamped now, at its rate
    events = (to_json(e) for e in generate(scenario, args.events))
    n = produce(args.bootstrap_servers, args.topic, events, key=scenario.model_id.encode(),
                rate=args.rate, batch=args.batch)
    print(f"produced {n} events to {args.topic}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from stream_monitor.config.references import load_references, load_version_references
    from stream_monitor.tools.backtest import run_backtest

    settings = ServiceSettings.from_yaml(args.config)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        summary = run_backtest(settings, load_references(settings), Path(args.input), out, chunk=args.chunk,
                               version_references=load_version_references(settings),
                               labels=Path(args.labels) if args.labels else None)
    finally:
        if out is not sys.stdout:
            out.close()
    print(json.dumps(summary), file=sys.stderr)
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from stream_monitor.tools.docs_gen import write_schemas

    for path in write_schemas(Path(args.output)):
        print(path)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream_monitor.tools.demo import run_demo

    return run_demo(events=args.events, change_at=args.change_at, workdir=Path(args.workdir))


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type name when it has none)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
