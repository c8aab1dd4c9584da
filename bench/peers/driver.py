#!/usr/bin/env python3
"""bench/peers/driver.py — runs every workload with every system (bench/peers/PROTOCOL.md) and
prints one Markdown table of medians and their ratio to raw.

    driver.py [--bin DIR] [--quick] [--workloads a,b] [--systems x,y] [--rounds N] [--json FILE]

Rounds: each round runs every workload once per system, the systems in an order rotated by
one each round, so that noise from the rest of the machine falls on all systems alike.
stream, forward, roundtrip and kill_eof run pinned to CPU 0 (taskset -c 0), so that the
parent and its child take turns on one CPU instead of depending on the scheduler's placement.

Stdlib only. Exits 1 if any peer failed (the table is printed all the same), 2 for bad usage.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

SYSTEMS = ["raw", "floor", "tether", "boost1", "boost2", "libuv", "glib", "python", "dotnet"]
WORKLOADS = ["spawn", "spawn_2g", "spawn_fds", "stream", "forward", "roundtrip", "kill_eof",
             "threads", "messages", "children"]
PINNED = {"stream", "forward", "roundtrip", "kill_eof"}
# Workloads whose tail is the point, with a p99 row under the median: kill_eof (PROTOCOL), and
# threads, where a leaked pipe end shows as A iterations of a whole lingerer's second.
P99_ROWS = ["kill_eof", "threads"]

# Measured iterations per peer run, full and quick, and the most rounds a workload takes part in
# (None: all). Chosen so that all seven systems finish in < 10 minutes (full, 3 rounds) and
# < 2 minutes (quick, 1 round) on 2 cores, also on a VM whose system calls are slow (an AMD EPYC
# guest measured 6.3 µs for raw's 1-byte round trip, three times the Xeon's); each peer run (a
# slice, below) adds up to 3 unmeasured warm-up iterations. threads runs in one round only: where a system leaks a pipe end
# into thread B's children, each leak costs A up to a lingerer's life, 0.6 s (raw, Boost.Process
# v1 and v2 leak some 40-140 times in 1,000 iterations; with 1 s lingerers that alone took over
# 4 minutes). That is also why quick mode runs 200 A iterations instead of PROTOCOL's 1,000,
# its one departure from PROTOCOL (printed with the table). spawn_2g is fork()-bound for some
# systems (75-95 ms a spawn), hence fewer iterations than spawn; children runs one round of 3
# samples (each sample is 1,000 children).
PLAN = {
    #             full   quick  max rounds
    "spawn":     (300,   60,    None),
    "spawn_2g":  (40,    30,    None),
    "spawn_fds": (300,   60,    None),
    "stream":    (3,     2,     None),   # 1 GiB each
    "forward":   (3,     2,     None),   # 1 GiB each
    "roundtrip": (20000, 3000,  None),
    "kill_eof":  (600,   120,   None),
    "threads":   (1000,  200,   1),
    "messages":  (12,    5,     None),   # 100,000 messages each
    "children":  (3,     1,     1),      # 1,000 children each
}
# Slices (full, quick): a round's iterations of these workloads are split into this many peer
# runs, the systems taking turns slice by slice (in the round's order, rotated by one each
# slice). A shared host's slow spells last seconds; with one run per system and round, a spell
# falls on one system's 0.3 s of spawn or kill_eof and moves its median or p99 by 10-30% (seen
# on the AMD EPYC guest: kill_eof's median ratio 0.88-1.21 and p99 ratio 0.94-1.30 over five
# runs of the same build). Spread over the slices, a spell hits every system alike. Each slice
# is a peer run of its own, with its own 3 warm-up iterations.
# spawn_2g takes 2 slices in full mode, though each slice touches its 2 GiB again (about 1 s):
# with one run per system and round, raw's and tether's medians moved 590-810 µs run to run.
# stream and forward take one sample per slice (and so one warm-up each instead of 3 per
# round): one system's 4 samples in a row took 2 s, and the host's speed drifts over seconds
# (tether's stream samples in one round 293-337 ms, in the next 238-247 ms, raw's alike).
# threads runs in one round only, so its 1,000 A iterations come in 2 slices (each slice ends
# waiting up to a lingerer's 0.6 s): in one slice, tether's median was 1.35x raw's in one full
# run and 0.95x in the next.
SLICES = {"spawn": (6, 2), "spawn_2g": (2, 1), "spawn_fds": (6, 2), "stream": (3, 1), "forward": (3, 1),
          "roundtrip": (5, 1), "kill_eof": (10, 3), "threads": (2, 1), "messages": (2, 1)}
PROTOCOL_MIN = {"threads": 1000}  # quick mode's departures are reported against these
UNITS = {
    "stream": "per 1 GiB",
    "forward": "per 1 GiB",
    "roundtrip": "per 1-byte round trip",
    "kill_eof": "SIGKILL to end-of-file",
    "threads": "per A iteration",
    "messages": "per 100,000 messages",
    "children": "per 1,000 children",
}
# info keys that count events: summed over rounds. Any other key is a fact: shown once if every
# round agrees, else as the range.
COUNTED = {"hangs", "delayed", "lingerers"}
PEER_TIMEOUT_S = 600


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def default_bin():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "build", "peers", "bench", "peers", "bin"))


def parse_args():
    ap = argparse.ArgumentParser(description="tether against its peers (bench/peers/PROTOCOL.md)")
    ap.add_argument("--bin", default=default_bin(), help="the peers' folder (<build>/bench/peers/bin)")
    ap.add_argument("--quick", action="store_true", help="fewer iterations and one round (< 2 minutes)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, default all")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, default all")
    ap.add_argument("--rounds", type=int, default=None, help="default 3, quick 1")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write everything to FILE")
    a = ap.parse_args()
    a.workloads = split_list(ap, a.workloads, WORKLOADS, "workload")
    a.systems = split_list(ap, a.systems, SYSTEMS, "system")
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    return a


def split_list(ap, text, known, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    for x in items:
        if x not in known:
            ap.error(f"unknown {what} '{x}' (known: {', '.join(known)})")
    if not items:
        ap.error(f"no {what} given")
    return [x for x in known if x in items]  # the canonical order


def find_peers(bin_dir, systems):
    """{system: command} for the built peers; {system: reason} for the others."""
    found, skipped = {}, {}
    for s in systems:
        exe = os.path.join(bin_dir, f"peer_{s}")
        skip_file = os.path.join(bin_dir, f"peer_{s}.skip")
        if s == "python":
            script = os.path.join(bin_dir, "peer_python.py")
            if os.path.isfile(script):
                found[s] = [sys.executable, script]
                continue
        elif os.path.isfile(exe) and os.access(exe, os.X_OK):
            found[s] = [exe]
            continue
        if os.path.isfile(skip_file):
            with open(skip_file, encoding="utf-8", errors="replace") as f:
                skipped[s] = f.read().strip() or "skipped (no reason given)"
        else:
            skipped[s] = f"not built (no peer_{s} in {bin_dir})"
    return found, skipped


def run_peer(cmd, workload, iterations, child, pin):
    """One peer run: {'samples': [...], 'info': {...}, 'skip': str|None, 'error': str|None}."""
    argv = (["taskset", "-c", "0"] if pin else []) + cmd + [workload, str(iterations), child]
    out = {"samples": [], "info": {}, "skip": None, "error": None, "stderr": ""}
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=PEER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out["error"] = f"no result within {PEER_TIMEOUT_S} s (killed)"
        return out
    out["stderr"] = r.stderr.decode(errors="replace").strip()
    for line in r.stdout.decode(errors="replace").splitlines():
        kind, _, rest = line.partition(" ")
        try:
            if kind == "sample":
                out["samples"].append(float(rest))
            elif kind == "info":
                key, _, value = rest.partition("=")
                out["info"][key] = int(value)
            elif kind == "skip":
                out["skip"] = rest.strip() or "skipped"
            else:
                raise ValueError("unknown line")
        except ValueError:
            out["error"] = f"unparsable output line {line!r}"
            return out
    if r.returncode != 0:
        tail = out["stderr"].splitlines()[-3:]
        out["error"] = f"exit status {r.returncode}: " + (" | ".join(tail) if tail else "(no message)")
    elif out["skip"] is None and len(out["samples"]) != iterations:
        out["error"] = f"{len(out['samples'])} samples, expected {iterations}"
    return out


def percentile(values, p):
    v = sorted(values)
    i = int(round(p * (len(v) - 1)))
    return v[min(i, len(v) - 1)]


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.3g} ms" if us < 1e5 else f"{us / 1e3:.0f} ms"
    return f"{us:.3g} µs"


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": model, "kernel": platform.release(), "cores": os.cpu_count(), "usable_cores": usable,
            "python": platform.python_version(), "dotnet": dotnet_runtime()}


def dotnet_runtime():
    """The newest .NET runtime (Microsoft.NETCore.App) that `dotnet` has, or None."""
    if shutil.which("dotnet") is None:
        return None
    try:
        out = subprocess.run(["dotnet", "--list-runtimes"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    versions = [line.split()[1] for line in out.splitlines() if line.startswith("Microsoft.NETCore.App ")]
    return versions[-1] if versions else None


def run_all(a, found, child, have_taskset):
    """results[workload][system] = {'samples', 'info': {key: [per run]}, 'skip', 'errors'}."""
    results = {w: {s: {"samples": [], "info": {}, "skip": None, "errors": [], "runs": 0} for s in found}
               for w in a.workloads}
    systems = list(found)
    for r in range(a.rounds):
        order = rotated(systems, r)
        for w in a.workloads:
            full_n, quick_n, max_rounds = PLAN[w]
            if max_rounds is not None and r >= max_rounds:
                continue
            n = quick_n if a.quick else full_n
            slices = SLICES.get(w, (1, 1))[1 if a.quick else 0]
            took = {s: 0.0 for s in systems}
            got = {s: 0 for s in systems}
            for k in range(slices):
                per = n // slices + (1 if k < n % slices else 0)
                for s in rotated(order, k):
                    t0 = time.monotonic()
                    out = run_slice(results[w][s], found[s], w, per, child, have_taskset and w in PINNED, s)
                    took[s] += time.monotonic() - t0
                    got[s] += len(out["samples"]) if out else 0
            for s in order:
                log_round(r, a.rounds, w, s, results[w][s], got[s], took[s], slices)
    return results


def rotated(items, k):
    k = k % len(items) if items else 0
    return items[k:] + items[:k]


def run_slice(cell, cmd, w, n, child, pin, s):
    """One peer run into `cell`; None when the system already skipped or failed this workload."""
    if cell["skip"] is not None or cell["errors"]:
        return None
    out = run_peer(cmd, w, n, child, pin)
    cell["runs"] += 1
    cell["samples"] += out["samples"]
    for k, v in out["info"].items():
        cell["info"].setdefault(k, []).append(v)
    if out["skip"] is not None:
        cell["skip"] = out["skip"]
    elif out["error"] is not None:
        cell["errors"].append(out["error"])
        if out["stderr"]:
            log("    " + out["stderr"].replace("\n", "\n    "))
    elif out["stderr"]:
        log(f"    (stderr of peer_{s}: {out['stderr'][:300]})")
    return out


def log_round(r, rounds, w, s, cell, got, took, slices):
    if cell["skip"] is not None:
        status = f"skip: {cell['skip']}"
    elif cell["errors"]:
        status = f"FAILED: {cell['errors'][-1]}"
    else:
        status = f"median so far {fmt_us(statistics.median(cell['samples']))}" if cell["samples"] else "no samples"
    runs = f" in {slices} runs" if slices > 1 else ""
    log(f"[round {r + 1}/{rounds}] {w:<9} {s:<7} {got:>6} samples{runs} {took:7.1f} s  {status}")


def summarize(results):
    """Adds median/p99/ratio per cell."""
    for w, cells in results.items():
        for s, c in cells.items():
            c["median"] = statistics.median(c["samples"]) if c["samples"] and not c["errors"] else None
            c["p99"] = percentile(c["samples"], 0.99) if c["samples"] and not c["errors"] else None
        base = cells.get("raw", {}).get("median")
        base99 = cells.get("raw", {}).get("p99")
        for c in cells.values():
            c["ratio"] = c["median"] / base if base and c["median"] is not None else None
            c["p99_ratio"] = c["p99"] / base99 if base99 and c["p99"] is not None else None


def cell_text(c, key="median", ratio_key="ratio"):
    if c["errors"]:
        return "FAILED"
    if c["skip"] is not None:
        return "skip"
    v = c.get(key)
    if v is None:
        return "–"
    r = c.get(ratio_key)
    if r is None:
        return fmt_us(v)
    return f"{fmt_us(v)} ({r:.2f}×)" if r >= 0.095 else f"{fmt_us(v)} ({r:.2g}×)"


def info_text(key, values):
    if key in COUNTED:
        return str(sum(values))
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}..{hi}"


def print_report(a, results, found, skipped, have_taskset, elapsed, mach):
    systems = list(found)
    print(f"## tether against its peers ({'quick' if a.quick else 'full'} mode, {a.rounds} round"
          f"{'s' if a.rounds != 1 else ''})\n")
    if systems:
        print("| workload | " + " | ".join(systems) + " |")
        print("|---" * (len(systems) + 1) + "|")
        for w in a.workloads:
            pin = " (CPU 0)" if w in PINNED and have_taskset else ""
            print(f"| {w}{pin} | " + " | ".join(cell_text(results[w][s]) for s in systems) + " |")
            if w in P99_ROWS:
                print(f"| {w} p99 | " + " | ".join(cell_text(results[w][s], "p99", "p99_ratio")
                                                   for s in systems) + " |")
        print()
        print("Each cell: the median of all samples (lower is better) and its ratio to raw's median. "
              "A sample is one spawn-and-wait, or: " +
              "; ".join(f"{w} {UNITS[w]}" for w in a.workloads if w in UNITS) + ".")
        if not have_taskset:
            print("taskset was not found: the pinned workloads ran unpinned.")
        for w, least in PROTOCOL_MIN.items():
            n = PLAN[w][1] if a.quick else PLAN[w][0]
            if w in a.workloads and n < least:
                print(f"Quick mode: {w} ran {n} iterations per system (PROTOCOL: at least {least}); "
                      "every other size is PROTOCOL's.")
    print("\n### Facts (info lines)\n")
    any_fact = False
    for w in a.workloads:
        parts = []
        for s in systems:
            c = results[w][s]
            if c["info"]:
                parts.append(f"{s} " + ", ".join(f"{k}={info_text(k, v)}" for k, v in sorted(c["info"].items())))
        if parts:
            any_fact = True
            print(f"- {w}: " + "; ".join(parts))
    if not any_fact:
        print("- none")
    print("\n### Skipped\n")
    lines = [f"- {s}: {reason}" for s, reason in skipped.items()]
    for w in a.workloads:
        for s in systems:
            c = results[w][s]
            if c["skip"] is not None:
                lines.append(f"- {s} / {w}: {c['skip']}")
    print("\n".join(lines) if lines else "- none")
    failures = [(w, s, e) for w in a.workloads for s in systems for e in results[w][s]["errors"]]
    if failures:
        print("\n### FAILED\n")
        for w, s, e in failures:
            print(f"- {s} / {w}: {e}")
    print("\n### Machine\n")
    print(f"- CPU: {mach['cpu']}")
    print(f"- kernel: {mach['kernel']}")
    print(f"- cores: {mach['cores']} (usable by this process: {mach['usable_cores']})")
    print(f"- python: {mach['python']}")
    if mach["dotnet"]:
        print(f"- .NET runtime: {mach['dotnet']}")
    print(f"\nTotal time: {elapsed:.1f} s")
    return failures


def main():
    a = parse_args()
    t0 = time.monotonic()
    bin_dir = os.path.abspath(a.bin)
    child = os.path.join(bin_dir, "peer_child")
    if not (os.path.isfile(child) and os.access(child, os.X_OK)):
        log(f"driver: no peer_child in {bin_dir}: build with -DTETHER_BUILD_PEER_BENCH=ON "
            "(scripts/bench-peers.sh does)")
        return 2
    have_taskset = shutil.which("taskset") is not None
    if not have_taskset:
        log("driver: taskset (util-linux) not found: pinned workloads run unpinned")
    found, skipped = find_peers(bin_dir, a.systems)
    if "raw" not in found:
        log("driver: raw is not there: no ratios")
    log(f"driver: systems {', '.join(found) or 'none'}; workloads {', '.join(a.workloads)}; "
        f"{a.rounds} round(s){' (quick)' if a.quick else ''}")
    results = run_all(a, found, child, have_taskset)
    summarize(results)
    elapsed = time.monotonic() - t0
    mach = machine()
    failures = print_report(a, results, found, skipped, have_taskset, elapsed, mach)
    if a.json:
        doc = {"mode": "quick" if a.quick else "full", "rounds": a.rounds, "elapsed_s": elapsed,
               "machine": mach, "pinned": sorted(PINNED) if have_taskset else [],
               "plan": {w: {"iterations": PLAN[w][1] if a.quick else PLAN[w][0], "max_rounds": PLAN[w][2],
                            "slices": SLICES.get(w, (1, 1))[1 if a.quick else 0]}
                        for w in a.workloads},
               "skipped": skipped, "results": results}
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        log(f"driver: wrote {a.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
