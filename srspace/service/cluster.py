"""The batch command on a Ray cluster (Ray Data): the same jobs, skip/resume and failure rules.

Each worker actor builds its ``Upscaler`` (ONNX Runtime sessions) once and then takes one
input path at a time from a stream of paths; it reads the image, upscales it and writes the
result itself (atomically), so images never pass through the driver. Inputs and --out must be
on storage every node sees (the same machine, NFS, a mounted bucket). The project's code
travels to the workers as Ray's working_dir; each node exports the models it lacks itself.
Ray is an optional extra: ``pip install -r requirements-ray.txt``.
"""
from __future__ import annotations

import logging
import os
import platform
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .batch import Job, Outcome, Summary, process
from ..contract import ROOT

# What a worker needs from the driver's environment (where the weights come from).
FORWARDED_ENV = ("SRSPACE_CACHE", "SRSPACE_WEIGHTS", "SRSPACE_MIRROR")
UPLOAD_EXCLUDES = ["/node_modules", "/models", "/benchmarks/results", "**/__pycache__", "/.pytest_cache"]  # gitignore syntax: "/models" is the top folder, not srspace/models


class Worker:
    """One actor: the models loaded once, then any number of jobs (Ray Data batches of one)."""

    def __init__(self, models_dir: str, key: str, factor: float, weights: str, fmt: str):
        import ray

        from ..buildtime.export import export_all
        from .upscaler import Upscaler

        export_all(Path(models_dir), weights=os.environ.get("SRSPACE_WEIGHTS", "auto"), log=lambda *_: None)
        self.upscaler = Upscaler(Path(models_dir), threads=1)
        self.settings = (key, factor, weights, fmt)
        self.node = f"{platform.node()}/{ray.get_runtime_context().get_node_id()[:8]}"

    def __call__(self, batch: dict) -> dict:
        rows = {"source": [], "target": [], "status": [], "seconds": [], "megapixels": [], "error": [], "node": []}
        for source, target in zip(batch["source"], batch["target"]):
            outcome = process(self.upscaler, Job(Path(source), Path(target)), *self.settings, node=self.node)
            for name in rows:
                rows[name].append(str(getattr(outcome.job, name)) if name in ("source", "target") else getattr(outcome, name))
        return rows


def run_on_ray(jobs: list[Job], models_dir: Path, key: str, factor: float, weights: str, fmt: str,
               address: str | None = None, workers: int | None = None) -> Summary:
    """Run ``jobs`` on the Ray cluster at ``address`` (None: $RAY_ADDRESS, else a local one)."""
    import ray

    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
             runtime_env={"working_dir": str(ROOT), "excludes": UPLOAD_EXCLUDES, "env_vars": env})
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.wait_for_min_actors_s = 600  # start when every worker has its models loaded, not with the first
        context.max_tasks_in_flight_per_actor = 1  # images differ in size: hand out one at a time
        cpus = int(ray.cluster_resources().get("CPU", 1))
        nodes = [n for n in ray.nodes() if n["Alive"]]
        workers = workers or cpus
        print(f"Ray: {len(nodes)} node(s), {cpus} CPU(s), {workers} worker actor(s)")
        items = [{"source": str(j.source.resolve()), "target": str(j.target.resolve())} for j in jobs]
        stream = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            Worker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
            fn_constructor_kwargs={"models_dir": str(Path(models_dir).resolve()), "key": key, "factor": factor,
                                   "weights": weights, "fmt": fmt},
        )
        summary, start = Summary(), time.perf_counter()
        with tqdm(total=len(items), unit="img", dynamic_ncols=True) as bar:
            for row in stream.iter_rows():
                job = Job(Path(row["source"]), Path(row["target"]))
                outcome = Outcome(job, row["status"], row["seconds"], row["megapixels"], row["error"], row["node"])
                summary.outcomes.append(outcome)
                if outcome.status == "failed":
                    bar.write(f"failed: {job.source}: {outcome.error}", file=sys.stderr)
                bar.update(1)
        summary.seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    for node in sorted({o.node for o in summary.outcomes}):
        mine = [o for o in summary.outcomes if o.node == node]
        print(f"node {node}: {sum(o.status == 'done' for o in mine)} done, "
              f"{sum(o.status == 'skipped' for o in mine)} skipped, {sum(o.status == 'failed' for o in mine)} failed")
    return summary
