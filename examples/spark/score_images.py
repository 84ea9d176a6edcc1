"""Scores a list of images with gaussian-ad on Spark.

Each partition of the list is piped (RDD.pipe) into one `gaussian-ad score MODEL - --json`
process, so the model and the network load once a partition and every image gets one JSON
line: path, score, per-level distances and verdict, or path and error. The lines are written,
in no particular order, to OUT (atomically); the exit status is 1 if any image failed.

    spark-submit score_images.py --model model.gad --images paths.txt --out scores.jsonl [--maps DIR]

MODEL, the image files and the tool must be readable at the same paths on every executor
(shared storage, or the same image on every node); the driver's GAUSSIAN_AD_* variables, HOME
and PATH are passed to the score processes. See docs/SCALE.md.
"""
import argparse
import json
import os
import shlex
import sys

from pyspark import SparkConf, SparkContext


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the fitted model (.gad)")
    ap.add_argument("--images", required=True, help="text file of image paths, one a line (any URI Spark reads)")
    ap.add_argument("--out", required=True, help="output file: one JSON line per image")
    ap.add_argument("--tool", default="gaussian-ad", help="path of the gaussian-ad executable on the executors")
    ap.add_argument("--partitions", type=int, default=0, help="partitions of the list (default: Spark's parallelism)")
    ap.add_argument("--threads", type=int, default=1, help="threads of each score process (default 1: one process a core)")
    ap.add_argument("--batch", type=int, default=16, help="images per network call")
    ap.add_argument("--master", default=None, help="Spark master, e.g. local[2] (default: spark-submit's)")
    ap.add_argument("--maps", default=None,
                    help="folder (shared by the executors) for each image's anomaly map (.npy) and overlay (.png); "
                         "the lines then give map, overlay, peak and regions")
    a = ap.parse_args(argv)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = SparkConf().setAppName("gaussian-ad score")
    if a.master:
        conf.setMaster(a.master)
    sc = SparkContext.getOrCreate(conf)
    try:
        paths = sc.textFile(a.images, minPartitions=a.partitions or sc.defaultParallelism)
        command = shlex.join([os.path.abspath(a.tool) if os.path.exists(a.tool) else a.tool, "score",
                              os.path.abspath(a.model), "-", "--json", "--threads", str(a.threads),
                              "--batch", str(a.batch)] + (["--maps", os.path.abspath(a.maps)] if a.maps else []))
        # RDD.pipe starts the command with only the variables it is given: pass the driver's
        # gaussian-ad settings (GAUSSIAN_AD_HOME, GAUSSIAN_AD_KERNELS, limits...), HOME and PATH.
        env = {k: v for k, v in os.environ.items() if k.startswith("GAUSSIAN_AD_") or k in ("HOME", "PATH")}
        # The tool exits 1 when an image could not be read; its error line says which, so the
        # exit code is not checked here (checkCode=False) but counted below.
        lines = paths.filter(lambda p: p.strip() != "").pipe(command, env=env, checkCode=False)
        tmp = a.out + ".tmp-%d" % os.getpid()
        scored = failed = 0
        with open(tmp, "w") as f:
            for line in lines.toLocalIterator():
                row = json.loads(line)
                if "error" in row:
                    failed += 1
                else:
                    scored += 1
                f.write(line + "\n")
        os.replace(tmp, a.out)
    finally:
        sc.stop()
    print("scored %d images, %d could not be read; wrote %s" % (scored, failed, a.out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
