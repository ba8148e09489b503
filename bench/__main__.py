"""python -m bench [--quick] [encode | compose | replay | clips | chat | hls | fanout | latency
| loss | soak] [options]: print tables, write JSON (soak is never part of a run of all)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import chat, clips, compose, encode, fanout, hls, latency, lossy, replay, sendpath, soak
from .common import write_results
from .fanout import FanoutOptions

QUICK_VIEWERS = [1, 2, 4, 8, 16]
FULL_VIEWERS = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quick", action="store_true", help="a short run (all: under 2 min)")
    common.add_argument(
        "--results-dir", type=Path, default=None, help="where JSON goes (bench/results)"
    )
    return common


def _fanout_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--viewers", type=_ints, help="N values, e.g. 1,2,4,8")
    parser.add_argument("--seconds", type=float, help="measurement window per N")
    parser.add_argument("--warmup", type=float, help="seconds between joins and the window")
    parser.add_argument("--clients", type=int, default=4, help="viewer client processes")
    parser.add_argument("--preset", default="veryfast", help="LiveStudio's x264 preset")
    parser.add_argument(
        "--designs", type=_names, help="lean,aiortc,naive (quick: lean,aiortc; full: all three)"
    )
    parser.add_argument(
        "--sender",
        type=_names,
        help="LiveStudio send paths to run: lean (default path), aiortc (the one before), or both",
    )
    parser.add_argument("--no-naive", action="store_true", help="LiveStudio only")
    parser.add_argument("--naive-codec", choices=("vp8", "h264"), default="vp8")
    parser.add_argument("--decode-every", type=int, default=8, help="1 viewer in K decodes")
    parser.add_argument("--max-decoding", type=int, default=2, help="decoding viewers at most")
    parser.add_argument("--keep-logs", type=Path, help="run servers here and keep their logs")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        help="seconds a step may wait for the server's core to be quiet (quick 0, full 60)",
    )
    parser.add_argument(
        "--fanout-workers", type=int, default=0, help="LiveStudio's fan-out worker processes"
    )
    parser.add_argument(
        "--light-viewers",
        choices=("srtp", "rtp", "decoder"),
        default="srtp",
        help="how non-decoding viewers count frames (bench/counting.py)",
    )
    parser.add_argument("--join-probes", type=int, help="single joins timed after the steps")
    parser.add_argument(
        "--profile-server", type=Path, help="run LiveStudio under pyinstrument, report here"
    )


def parser() -> argparse.ArgumentParser:
    """The command line."""
    common = _common()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__, parents=[common])
    sub = p.add_subparsers(dest="command", metavar="BENCHMARK")
    enc = sub.add_parser("encode", parents=[common], help="ProgramEncoder ms/frame per preset")
    enc.add_argument("--sizes", type=_names, help="720p,1080p")
    enc.add_argument("--presets", type=_names, help=",".join(encode.PRESETS))
    enc.add_argument("--frames", type=int, help="frames per measurement")
    fan = sub.add_parser("fanout", parents=[common], help="server CPU and fps against viewers")
    _fanout_flags(fan)
    comp = sub.add_parser(
        "compose",
        parents=[common],
        help="overlay ms/frame: ours, BGR round-trip, FFmpeg; fit to program: swscale, cv2",
    )
    comp.add_argument("--sizes", type=_names, help="720p,1080p")
    comp.add_argument("--frames", type=int, help="frames per measurement")
    sub.add_parser("replay", parents=[common], help="show end → replay ready; publish cost")
    sub.add_parser("sendpath", parents=[common], help="µs per RTP packet to one viewer, by step")
    sub.add_parser(
        "clips", parents=[common], help="a 60 s chapter as a clip: no re-encode (ms), vertical (s)"
    )
    cht = sub.add_parser(
        "chat", parents=[common], help="chat delivery latency and server CPU, reaction bursts"
    )
    cht.add_argument("--clients", type=int, help="WebSocket clients (quick 200, full 500)")
    cht.add_argument("--seconds", type=float, help="length of each window (quick 8, full 20)")
    cht.add_argument("--rate", type=float, help="chat messages/s, all clients together (20)")
    cht.add_argument("--taps", type=float, help="reaction taps/s per client (2)")
    cht.add_argument("--client-procs", type=int, help="client processes (one per client CPU)")
    sub.add_parser(
        "hls",
        parents=[common],
        help="HLS/LL-HLS latency, origin requests with and without nginx, CPU per 100 players",
    )
    los = sub.add_parser(
        "loss", parents=[common], help="fps and freezes at 0/1/3/5 %% host uplink loss"
    )
    los.add_argument("--loss", type=_ints, help="loss levels in %%, e.g. 0,3")
    los.add_argument("--modes", type=_names, help="recovery off,on (default both)")
    los.add_argument("--seconds", type=float, help="measured seconds per step (quick 8, full 30)")
    sk = sub.add_parser(
        "soak",
        parents=[common],
        help="a live show for N minutes (viewers coming and going, chat, pins): memory, CPU, "
        "recording, ERROR lines",
    )
    sk.add_argument("--minutes", type=float, default=None, help="how long (30; quick: 1)")
    sk.add_argument("--viewers", type=int, default=6, help="WHEP viewers at any time")
    sk.add_argument("--pages", type=int, default=12, help="viewer pages (events + chat)")
    sk.add_argument("--keep-logs", type=Path, help="run the server here and keep its files")
    lat = sub.add_parser("latency", parents=[common], help="latency at 1 and 8 viewers, join")
    _fanout_flags(lat)
    return p


def fanout_options(args: argparse.Namespace, default_viewers: list[int]) -> FanoutOptions:
    """FanoutOptions from flags, with quick/full defaults."""
    quick = args.quick
    designs = args.designs or (["lean", "aiortc"] if quick else ["lean", "aiortc", "naive"])
    designs = ["lean" if d == "livestudio" else d for d in designs]
    if args.sender:
        designs = [d for d in designs if d not in fanout.SENDERS]
        designs = [*args.sender, *designs]
    if args.no_naive:
        designs = [d for d in designs if d != "naive"]
    probes = args.join_probes if args.join_probes is not None else (3 if quick else 20)
    return FanoutOptions(
        viewers=args.viewers or default_viewers,
        seconds=args.seconds or (4.0 if quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if quick else 2.0),
        clients=args.clients,
        preset=args.preset,
        designs=tuple(designs),
        naive_codec=args.naive_codec,
        decode_every=args.decode_every,
        max_decoding=args.max_decoding,
        fanout_workers=args.fanout_workers,
        keep_logs=args.keep_logs,
        quiet_wait=args.quiet_wait if args.quiet_wait is not None else (0.0 if quick else 60.0),
        light_viewers=args.light_viewers,
        stop_when_starved=not quick and args.viewers is None,
        join_probes=probes,
        profile=getattr(args, "profile_server", None),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmark, or all of them."""
    args = parser().parse_args(argv)
    started = time.monotonic()
    quick = args.quick
    command = args.command
    if command in (None, "encode"):
        encode.run(
            sizes=getattr(args, "sizes", None) or (["720p"] if quick else ["720p", "1080p"]),
            presets=getattr(args, "presets", None) or list(encode.PRESETS),
            frames=getattr(args, "frames", None) or (60 if quick else 300),
            results_dir=args.results_dir,
        )
    if command in (None, "compose"):
        composed = compose.run(
            quick=quick,
            sizes=(getattr(args, "sizes", None) if command == "compose" else None)
            or (["720p"] if quick else None),
            frames=getattr(args, "frames", None) if command == "compose" else None,
        )
        print(compose.table(composed), flush=True)
        write_results("compose", composed, args.results_dir)
    if command in (None, "sendpath"):
        steps = sendpath.run(0.3 if quick else 1.0)
        print(sendpath.report(steps), flush=True)
        write_results("sendpath", {"steps": steps}, args.results_dir)
    if command in (None, "replay"):
        ready = replay.run(quick)
        print(replay.report(ready), flush=True)
        write_results("replay", ready, args.results_dir)
    if command in (None, "clips"):
        clipped = clips.run(quick)
        print(clips.report(clipped), flush=True)
        write_results("clips", clipped, args.results_dir)
    if command in (None, "chat"):
        talk = chat.run(
            quick,
            clients=getattr(args, "clients", None) if command == "chat" else None,
            seconds=getattr(args, "seconds", None) if command == "chat" else None,
            rate=getattr(args, "rate", None),
            taps=getattr(args, "taps", None),
            procs=getattr(args, "client_procs", None),
        )
        print(chat.report(talk), flush=True)
        write_results("chat", talk, args.results_dir)
    if command in (None, "hls"):
        live = hls.run(quick)
        print(hls.report(live), flush=True)
        write_results("hls", live, args.results_dir)
    if command == "loss":
        lossy_result = lossy.run(
            quick,
            losses=[n / 100 for n in args.loss] if args.loss else None,
            modes=args.modes,
            seconds=args.seconds,
        )
        print(lossy.report(lossy_result), flush=True)
        write_results("loss", lossy_result, args.results_dir)
    if command is None:
        defaults = argparse.Namespace(**{**vars(parser().parse_args(["fanout"])), "quick": quick})
        results = fanout.run(
            fanout_options(defaults, QUICK_VIEWERS if quick else FULL_VIEWERS), args.results_dir
        )
        latency.report(results, args.results_dir)
    elif command == "fanout":
        fanout.run(fanout_options(args, QUICK_VIEWERS if quick else FULL_VIEWERS), args.results_dir)
    elif command == "latency":
        if args.designs is None:
            args.designs = ["lean"]
        latency.run(fanout_options(args, list(latency.LATENCY_VIEWERS)), args.results_dir)
    elif command == "soak":
        minutes = args.minutes if args.minutes is not None else (1.0 if quick else 30.0)
        soaked = soak.run(minutes, args.viewers, args.pages, args.keep_logs)
        print(soak.report(soaked), flush=True)
        write_results("soak", soaked, args.results_dir)
        print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
        return 0 if soaked["ok"] else 1
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
