"""Fits a gaussian-ad model on Spark, sharded, equal to the one-machine `gaussian-ad fit`.

Each pass of the fit is a map over N shards (mapPartitions: one `gaussian-ad fit --shard I/N`,
`project` or `calibrate` process a shard, whose part file comes back to the driver as bytes)
and a reduce on the driver (`gaussian-ad merge`). The driver asks `gaussian-ad info --json`
which pass comes next (moments, then projection with --pca/--npca, then calibration) until
the model is finished, and ships each intermediate state to the executors with addFile.

    spark-submit fit_model.py --data /shared/mvtec/bottle --out bottle.gad --shards 8 -- --npca 0.99

Options after `--` go to `gaussian-ad fit` (--category, --backbone, --levels, --pca/--npca,
--folds, --seed, --weights); --fpr goes to the last merge. DATA and the tool must be readable
at the same paths on every executor; see docs/SCALE.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from pyspark import SparkConf, SparkContext, SparkFiles


def run(argv):
    """Runs a gaussian-ad command; raises with its error message if it fails."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(argv[:3]), r.returncode, r.stderr.strip()))
    return r.stdout


def valued(options, names):
    """The (name, value) pairs of `options` whose name is one of `names`, flattened."""
    out = []
    for i, o in enumerate(options[:-1]):
        if o in names:
            out += [o, options[i + 1]]
    return out


def shard_pass(sc, n, make_argv, state_name=None):
    """Runs make_argv(i, state, out) for i in 0..n-1 as n tasks; returns the parts' bytes."""
    def task(indices):
        for i in indices:
            state = SparkFiles.get(state_name) if state_name else None
            d = tempfile.mkdtemp(prefix="gad-part-")
            try:
                out = os.path.join(d, "part-%d.gadpart" % i)
                run(make_argv(i, state, out))
                with open(out, "rb") as f:
                    yield i, f.read()
            finally:
                shutil.rmtree(d, ignore_errors=True)
    return sc.parallelize(range(n), n).mapPartitions(task).collect()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    fit_options = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the category folder (MVTec category, good/ + defects, ELPV)")
    ap.add_argument("--out", required=True, help="the model file to write")
    ap.add_argument("--shards", type=int, default=0, help="shards N (default: Spark's parallelism)")
    ap.add_argument("--fpr", default="0.01", help="target false-positive rate of the threshold")
    ap.add_argument("--tool", default="gaussian-ad", help="path of the gaussian-ad executable on the executors")
    ap.add_argument("--threads", type=int, default=1, help="threads of each shard's process")
    ap.add_argument("--master", default=None, help="Spark master, e.g. local[2] (default: spark-submit's)")
    a = ap.parse_args(own)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    tool = os.path.abspath(a.tool) if os.path.exists(a.tool) else a.tool
    data = os.path.abspath(a.data)
    threads = ["--threads", str(a.threads)]
    conf = SparkConf().setAppName("gaussian-ad fit")
    if a.master:
        conf.setMaster(a.master)
    sc = SparkContext.getOrCreate(conf)
    work = tempfile.mkdtemp(prefix="gad-fit-")
    try:
        n = a.shards or sc.defaultParallelism
        state = os.path.join(work, "state-0.gad")
        parts = shard_pass(sc, n, lambda i, _, out: [tool, "fit", data, "--shard", "%d/%d" % (i, n), "-o", out]
                           + fit_options + threads)
        step = 0
        while True:
            names = []
            for i, blob in parts:
                names.append(os.path.join(work, "pass%d-part%d.gadpart" % (step, i)))
                with open(names[-1], "wb") as f:
                    f.write(blob)
            inputs = ([state] if step > 0 else []) + names
            step += 1
            nxt = os.path.join(work, "state-%d.gad" % step)
            print(run([tool, "merge"] + inputs + ["-o", nxt, "--fpr", a.fpr]).strip().splitlines()[0])
            info = json.loads(run([tool, "info", nxt, "--json"]))
            if "nextPass" not in info:
                break
            state = nxt
            sc.addFile(state)
            command = "project" if info["nextPass"] == "projection" else "calibrate"
            parts = shard_pass(sc, n, lambda i, st, out: [tool, command, st, data, "--shard", "%d/%d" % (i, n), "-o", out]
                               + valued(fit_options, ("--category", "--weights", "--batch")) + threads,
                               state_name=os.path.basename(state))
        tmp = a.out + ".tmp-%d" % os.getpid()
        shutil.copyfile(nxt, tmp)
        os.replace(tmp, a.out)
    finally:
        sc.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("wrote %s (%d shards)" % (a.out, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
