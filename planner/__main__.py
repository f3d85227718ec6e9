"""Command line: python -m planner {demo, eval, shiftbench, bench, train, info}."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # its own options (--config FILE, --set key=JSON, ...)
        from .models.train import main_train

        return main_train(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m planner", description="latent-planner command line")
    sub = ap.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser(
        "demo", help="the shipped learned Pendulum model, planned closed loop at nominal and shifted dynamics"
    )
    d.add_argument("--optimizer", choices=["mppi", "cem", "icem"], default="mppi")
    d.add_argument("--episodes", type=int, default=4, help="episodes per condition and model")
    d.add_argument("--model", default=None, help="a Pendulum model file (default: the shipped one)")
    d.add_argument("--threads", type=int, default=2)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--plot", default=None, help="write a PNG (angle over time, latency histogram)")
    d.add_argument("--json", default=None, help="write the results as JSON")
    d.add_argument("--no-progress", action="store_true")

    b = sub.add_parser("bench", help="benchmarks against peer planners")
    bsub = b.add_subparsers(dest="suite", required=True)
    bp = bsub.add_parser("plan", help="pendulum-mppi and pendulum-cem: ours vs torch, pytorch-mppi, mbrl, torchrl")
    bp.add_argument("--json", default=None, help="write results to this JSON file")
    bp.add_argument("--impls", default="ours,torch,pytorch_mppi,mbrl,torchrl")
    bp.add_argument("--configs", default="pendulum-mppi,pendulum-cem")
    bp.add_argument("--calls", type=int, default=20)
    bp.add_argument("--episodes", type=int, default=1)
    bp.add_argument("--threads", type=int, default=2)
    bp.add_argument("--seed", type=int, default=0)
    bp.add_argument("--markdown", default=None, help="also write a markdown report here")
    bp.add_argument("--plot", default=None, help="also write a PNG bar chart here")

    bl = bsub.add_parser("latent", help="latent-small and latent-tdmpc2-1m: ours vs plain torch and the peer libraries")
    bl.add_argument("--json", default=None, help="write results to this JSON file")
    bl.add_argument("--impls", default="ours,torch,pytorch_mppi,mbrl,torchrl")
    bl.add_argument("--configs", default="latent-small,latent-tdmpc2-1m")
    bl.add_argument("--calls", type=int, default=20)
    bl.add_argument("--threads", type=int, default=2)
    bl.add_argument("--seed", type=int, default=0)
    bl.add_argument("--markdown", default=None, help="also write a markdown report here")
    bl.add_argument("--plot", default=None, help="also write a PNG bar chart here")

    bg = bsub.add_parser("gpu", help="GPU: planner.cuda vs torch eager and torch.compile on CUDA (same weights)")
    bg.add_argument("--json", default=None, help="write results to this JSON file")
    bg.add_argument("--impls", default="ours,ours-tf32,ours-bf16,torch,torch-compile")
    bg.add_argument(
        "--configs", default="latent-tdmpc2-1m,latent-tdmpc2-5m,batched-64,diff-drive-2048,diff-drive-16384"
    )
    bg.add_argument("--calls", type=int, default=200, help="timed plans per row (>= 100)")
    bg.add_argument("--seed", type=int, default=0)
    bg.add_argument("--plot", default=None, help="also write a PNG bar chart here")

    blp = bsub.add_parser("loop", help="the real-time loop at 100 Hz with the latent-small HalfCheetah model")
    blp.add_argument("--json", default=None)
    blp.add_argument("--markdown", default=None)
    blp.add_argument("--plot", default=None)
    blp.add_argument("--hz", type=float, default=100.0)
    blp.add_argument("--steps", type=int, default=1000)
    blp.add_argument("--threads", type=int, default=2)
    blp.add_argument("--budget-fraction", type=float, default=0.8)
    blp.add_argument("--model", default=None, help="model file (default: the shipped HalfCheetah model)")
    blp.add_argument("--task", default="HalfCheetah-v5")

    sb = sub.add_parser("shiftbench", help="ShiftBench: closed-loop return, prediction error, ranking under shift")
    sb.add_argument("--tier", choices=["smoke", "standard", "full"], default="smoke")
    sb.add_argument("--json", default=None, help="write the report here")
    sb.add_argument("--markdown", default=None)
    sb.add_argument("--plot", default=None)
    sb.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="TASK:ARM=FILE",
        help="add an arm's model, e.g. Pendulum-v1:PC-oracle=runs/pendulum_pc.lpm.safetensors (repeatable)",
    )
    sb.add_argument("--workers", type=int, default=None)
    sb.add_argument("--executor", choices=["auto", "ray", "process", "inline"], default="auto")
    sb.add_argument("--threads", type=int, default=1, help="planner threads per cell")
    sb.add_argument("--no-progress", action="store_true")
    sb.add_argument("--tasks", default=None, help="comma-separated tasks of the tier to run (default: all)")
    sb.add_argument(
        "--merge", nargs="+", default=None, metavar="JSON", help="merge earlier reports instead of running cells"
    )
    sb.add_argument("--arms", default=None, help="comma-separated arms to run (default: every arm with a model)")

    cx = sub.add_parser("contexts", help="outcome-context checks: latent geometry of a model's context encoder")
    cxs = cx.add_subparsers(dest="what", required=True)
    cg = cxs.add_parser("geometry", help="linear probe of c onto the parameters, monotonicity along sweeps")
    cg.add_argument("--model", required=True, help="a model file with a context encoder")
    cg.add_argument("--task", default="Pendulum-v1")
    cg.add_argument("--episodes", type=int, default=8, help="episodes per setting")
    cg.add_argument("--steps", type=int, default=40)
    cg.add_argument("--seed", type=int, default=0)
    cg.add_argument("--json", default=None)

    cr = cxs.add_parser("report", help="every arm on a task (ShiftBench), OC geometry, targets checked; md/json/png")
    cr.add_argument("--task", default="Pendulum-v1")
    cr.add_argument("--tier", choices=["smoke", "standard", "full"], default="standard")
    cr.add_argument("--out", default="reports/contexts_pendulum", help="path stem of the .md/.json/.png written")
    cr.add_argument("--model", action="append", default=[], metavar="ARM=FILE", help="override an arm's model")
    cr.add_argument("--workers", type=int, default=None)
    cr.add_argument("--executor", choices=["auto", "ray", "process", "inline"], default="auto")
    cr.add_argument("--no-progress", action="store_true")
    cr.add_argument("--arms", nargs="+", default=None, help="run only these arms (default: every arm with a model)")
    cr.add_argument(
        "--merge", nargs="+", default=None, metavar="JSON", help="build the report from earlier runs' JSON instead"
    )

    sub.add_parser("train", help="train a latent world model and export it (needs torch): train --config FILE")

    e = sub.add_parser("eval", help="plan natively with a model file on a gymnasium task; print and write JSON")
    e.add_argument("--model", default=None, help="model file (default: the shipped Pendulum model)")
    e.add_argument("--task", default="Pendulum-v1")
    e.add_argument("--optimizer", choices=["mppi", "cem", "icem"], default="mppi")
    e.add_argument("--samples", type=int, default=500)
    e.add_argument("--horizon", type=int, default=20)
    e.add_argument("--iterations", type=int, default=2)
    e.add_argument("--sigma", type=float, default=1.0, help="initial std / MPPI sigma, in action units")
    e.add_argument("--temperature", type=float, default=1.0)
    e.add_argument("--episodes", type=int, default=10)
    e.add_argument("--seed", type=int, default=100)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument(
        "--shift", default=None, help='dynamics shift: "m=1.3,l=1.2", "action_scale=0.6", a JSON spec or a .json file'
    )
    e.add_argument("--hz", type=float, default=None, help="control rate (default: the task's); sets the plan budget")
    e.add_argument("--budget-fraction", type=float, default=0.8)
    e.add_argument("--max-steps", type=int, default=None)
    e.add_argument("--json", default=None)
    e.add_argument("--no-progress", action="store_true")

    sub.add_parser("info", help="print what this build contains")

    args = ap.parse_args(argv)
    if args.cmd == "demo":
        from .demo import run_demo

        if args.episodes < 1:
            ap.error("--episodes must be >= 1")
        result = run_demo(
            args.optimizer, args.episodes, args.threads, args.seed, args.plot, not args.no_progress, args.model
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return 0
    if args.cmd == "bench" and args.suite == "plan":
        from .bench.plan_bench import plot_report, run_plan_bench, write_markdown

        report = run_plan_bench(
            args.json,
            impls=tuple(x for x in args.impls.split(",") if x),
            configs=tuple(x for x in args.configs.split(",") if x),
            calls=args.calls,
            episodes=args.episodes,
            threads=args.threads,
            seed=args.seed,
        )
        if args.markdown:
            write_markdown(
                report, args.markdown, "python -m planner " + " ".join(sys.argv[1:] if argv is None else argv)
            )
        if args.plot:
            plot_report(report, args.plot)
        return 0
    if args.cmd == "bench" and args.suite == "latent":
        from .bench import latent_bench

        report = latent_bench.run_latent_bench(
            args.json,
            impls=tuple(x for x in args.impls.split(",") if x),
            configs=tuple(x for x in args.configs.split(",") if x),
            calls=args.calls,
            threads=args.threads,
            seed=args.seed,
        )
        if args.markdown:
            cmd = "python -m planner " + " ".join(argv)
            latent_bench.write_markdown(report, args.markdown, cmd)
        if args.plot:
            latent_bench.plot_report(report, args.plot)
        return 0
    if args.cmd == "bench" and args.suite == "gpu":
        from .bench import gpu_bench

        if args.calls < 100:
            ap.error("--calls must be >= 100 (p99 over at least 100 plans)")
        try:
            report = gpu_bench.run_gpu_bench(
                args.json,
                impls=tuple(x for x in args.impls.split(",") if x),
                configs=tuple(x for x in args.configs.split(",") if x),
                calls=args.calls,
                seed=args.seed,
            )
        except gpu_bench.GpuUnavailable as exc:
            print(f"python -m planner bench gpu: {exc}", file=sys.stderr)
            return 2
        if args.plot:
            gpu_bench.plot_report(report, args.plot)
        return 0
    if args.cmd == "eval":
        from .config import config_from_dict
        from .envs import parse_shift
        from .evaluate import ASSETS, evaluate

        knobs = dict(samples=args.samples, horizon=args.horizon, iterations=args.iterations)
        if args.optimizer == "mppi":
            knobs.update(sigma=args.sigma, temperature=args.temperature)
        else:
            knobs.update(init_std=args.sigma, elites=max(2, args.samples // 10))
        model = args.model or str(ASSETS / "pendulum_small.lpm.safetensors")
        r = evaluate(
            model,
            config_from_dict(args.optimizer, knobs),
            task=args.task,
            episodes=args.episodes,
            seed=args.seed,
            threads=args.threads,
            shift=parse_shift(args.shift) if args.shift else None,
            hz=args.hz,
            budget_fraction=args.budget_fraction,
            max_steps=args.max_steps,
            progress=not args.no_progress,
        )
        print(
            f"{r['task']}{' shifted ' + args.shift if args.shift else ''}: mean return {r['mean']:.1f} "
            f"(95% CI {r['ci95'][0]:.1f} .. {r['ci95'][1]:.1f}) over "
            f"{r['episodes']} episodes; plan p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms"
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(r, f, indent=2)
        return 0
    if args.cmd == "bench" and args.suite == "loop":
        from .bench import loop_bench

        report = loop_bench.run_loop_bench(
            args.json,
            hz=args.hz,
            steps=args.steps,
            threads=args.threads,
            budget_fraction=args.budget_fraction,
            model=args.model,
            task=args.task,
        )
        print(loop_bench.format_table(report))
        if args.markdown:
            loop_bench.write_markdown(report, args.markdown, "python -m planner " + " ".join(argv))
        if args.plot:
            loop_bench.plot_report(report, args.plot)
        return 0
    if args.cmd == "shiftbench":
        from .bench import shiftbench

        models: dict[str, dict[str, str]] = {}
        for item in args.model:
            head, eq, path = item.partition("=")
            task, colon, arm = head.rpartition(":")
            if not (eq and colon and task and arm and path):
                ap.error(f"--model: expected TASK:ARM=FILE, got {item!r}")
            models.setdefault(task, {})[arm] = path
        if args.merge:
            reports = []
            for path in args.merge:
                with open(path) as f:
                    reports.append(json.load(f))
            report = shiftbench.merge_reports(reports)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(shiftbench._rounded(report), f, separators=(",", ":"))
        else:
            report = shiftbench.run_shiftbench(
                args.tier,
                json_path=args.json,
                models=models,
                workers=args.workers,
                executor=args.executor,
                threads=args.threads,
                progress=not args.no_progress,
                tasks=tuple(t for t in args.tasks.split(",") if t) if args.tasks else None,
                arms=tuple(a for a in args.arms.split(",") if a) if args.arms else None,
            )
        for row in report["summary"]:
            ci = row["return_ci95"]
            print(
                f"{row['task']:<16} {row['condition']:<28} {row['arm']:<10} return {row['return_mean']:9.1f} "
                f"({ci[0]:.1f} .. {ci[1]:.1f})  1-step mse {row['k_step_mse'].get('1') or float('nan'):.3g}  "
                f"rho {row['rank_rho'] if row['rank_rho'] is not None else float('nan'):.2f}  "
                f"plan p50 {row['plan_p50_ms']:.2f} ms"
            )
        if args.markdown:
            shiftbench.write_markdown(report, args.markdown, "python -m planner " + " ".join(argv))
        if args.plot:
            shiftbench.plot_report(report, args.plot)
        return 0
    if args.cmd == "contexts" and args.what == "geometry":
        from .context.geometry import context_geometry

        r = context_geometry(args.model, args.task, episodes=args.episodes, steps=args.steps, seed=args.seed)
        print("linear probe R^2 (held-out episodes): " + ", ".join(f"{n} {v:.3f}" for n, v in r["probe_r2"].items()))
        for n, sw in r["sweeps"].items():
            print(
                f"sweep {n} {sw['factors']}: |Spearman| episodes {sw['spearman_episodes']:.2f}, "
                f"setting means {sw['spearman_means']:.2f}; projection {[round(x, 2) for x in sw['projection_mean']]}"
            )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(r, f, indent=2)
        return 0
    if args.cmd == "contexts" and args.what == "report":
        from .context.report import run_contexts_report

        arm_models = {}
        for item in args.model:
            arm, eq, path = item.partition("=")
            if not (eq and arm and path):
                ap.error(f"--model: expected ARM=FILE, got {item!r}")
            arm_models[arm] = path
        r = run_contexts_report(
            args.out,
            task=args.task,
            tier=args.tier,
            models=arm_models,
            workers=args.workers,
            executor=args.executor,
            progress=not args.no_progress,
            command="python -m planner " + " ".join(argv),
            arms=tuple(args.arms) if args.arms else None,
            merge=args.merge,
        )
        print(f"wrote {r['markdown']}")
        return 0
    if args.cmd == "info":
        from . import build_info

        print(json.dumps(build_info(), indent=2))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
